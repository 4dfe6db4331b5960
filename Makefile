run:
	go run ./cmd/wharf serve

test:
	scripts/test.sh

bench:
	go run ./bench

build:
	go build -o bin/wharf ./cmd/wharf

.PHONY: run test bench build
