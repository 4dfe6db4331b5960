VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

run:
	go run ./cmd/wharf serve

test:
	scripts/test.sh

bench:
	go run ./bench

# A static binary without cgo, stamped with the version git describes.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/wharf ./cmd/wharf

.PHONY: run test bench build
