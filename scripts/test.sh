#!/usr/bin/env bash
# Runs every test of Wharf: unit and store conformance suites, end-to-end tests with real clients (the OCI
# conformance suite, crane, oras, skopeo), and a short fuzzing pass. It installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

CRANE_VERSION=v0.22.1
ORAS_VERSION=v1.3.6
VERSITYGW_VERSION=v1.8.0
ECR_LOGIN_VERSION=v0.12.0
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
NOTATION_VERSION=v1.3.2
DISTRIBUTION_VERSION=v3.1.2
TOOLS="$PWD/.tools/bin"
mkdir -p "$TOOLS"
export PATH="$TOOLS:$PATH"

step() { printf '\n==> %s\n' "$*"; }

install_go_tool() { # name package version
  local stamp="$TOOLS/.$1-$3"
  if [ ! -x "$TOOLS/$1" ] || [ ! -f "$stamp" ]; then
    step "installing $1 $3"
    GOBIN="$TOOLS" go install "$2@$3"
    touch "$stamp"
  fi
}
install_go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
install_go_tool oras oras.land/oras/cmd/oras "$ORAS_VERSION"
install_go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION"
install_go_tool docker-credential-ecr-login github.com/awslabs/amazon-ecr-credential-helper/ecr-login/cli/docker-credential-ecr-login "$ECR_LOGIN_VERSION"

# module_dir downloads a module at a version from the proxy and prints where its source is. Tools built
# from their module's source this way keep their dependencies out of Wharf's go.mod, and need no version
# list from the proxy (which `go install` asks for, and the proxy may refuse).
module_dir() {
  tmp=$(mktemp -d)
  (cd "$tmp" && go mod init tmp >/dev/null 2>&1 &&
    go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$tmp"
}

# build_from_module NAME MODULE VERSION CMD... PACKAGE: builds $TOOLS/NAME by running CMD -o the tool
# PACKAGE in the module's source, once per version.
build_from_module() {
  name=$1 module=$2 version=$3
  shift 3
  if [ ! -x "$TOOLS/$name" ] || [ ! -f "$TOOLS/.$name-$version" ]; then
    step "building $name $version"
    dir=$(module_dir "$module" "$version")
    (cd "$dir" && GOFLAGS=-mod=mod "${@:1:$#-1}" -o "$TOOLS/$name" "${@: -1}")
    touch "$TOOLS/.$name-$version"
  fi
}

# The OCI distribution-spec conformance suite; notation, which verifies the images Wharf signs; CNCF
# Distribution's registry, the upstream of the pull through cache tests.
build_from_module oci-conformance.test github.com/opencontainers/distribution-spec/conformance "$CONFORMANCE_VERSION" go test -c .
build_from_module notation github.com/notaryproject/notation "$NOTATION_VERSION" go build ./cmd/notation
build_from_module registry github.com/distribution/distribution/v3 "$DISTRIBUTION_VERSION" go build ./cmd/registry

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
missing=""
command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"
command -v aws >/dev/null 2>&1 || missing="$missing awscli"
command -v file >/dev/null 2>&1 || missing="$missing file"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium" # the console's browser tests (e2e/console_test.go)
python3 -c 'import boto3' >/dev/null 2>&1 || missing="$missing python3-boto3"
if [ -n "$missing" ]; then
  step "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# A free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A real PostgreSQL server for the PostgreSQL store's tests and the multi-node tests: Debian's package
# (installed when missing), a throwaway cluster in a temporary directory, on 127.0.0.1 only.
start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    step "installing Debian package: postgresql"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  PGTMP=$(mktemp -d /tmp/wharf-pg.XXXXXX)
  local port as=()
  port=$(free_port)
  if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root
    chown postgres "$PGTMP"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bin/initdb" -D "$PGTMP/data" -U wharf --auth=trust -E UTF8 >/dev/null
  "${as[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w -o \
    "-p $port -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PGTMP/data" -m immediate stop)
  export WHARF_TEST_POSTGRES="postgres://wharf@127.0.0.1:$port/postgres?sslmode=disable"
}
# A real S3 server for the S3 blob store's tests and the multi-node tests: versitygw (an S3 gateway, built
# from its Go module above) over a temporary directory, on 127.0.0.1 only, with one bucket.
start_s3() {
  S3TMP=$(mktemp -d /tmp/wharf-s3.XXXXXX)
  mkdir "$S3TMP/wharf-test"
  local port
  port=$(free_port)
  export WHARF_TEST_S3_ACCESS_KEY=wharf-test WHARF_TEST_S3_SECRET_KEY=wharf-test-secret
  versitygw --access "$WHARF_TEST_S3_ACCESS_KEY" --secret "$WHARF_TEST_S3_SECRET_KEY" --port "127.0.0.1:$port" \
    posix "$S3TMP" >"$S3TMP.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
    sleep 0.1
  done
  export WHARF_TEST_S3="http://127.0.0.1:$port/wharf-test"
}
cleanup() {
  if [ -n "${PG_STOP+x}" ]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${PGTMP:-}" ]; then rm -rf "$PGTMP"; fi
  if [ -n "${S3_PID:-}" ]; then kill "$S3_PID" 2>/dev/null || true; wait "$S3_PID" 2>/dev/null || true; fi
  if [ -n "${S3TMP:-}" ]; then rm -rf "$S3TMP" "$S3TMP.log"; fi
  if [ -n "${BUILD_TMP:-}" ]; then rm -rf "$BUILD_TMP"; fi
}
trap cleanup EXIT
step "starting PostgreSQL and an S3 server"
start_postgres
start_s3
echo "PostgreSQL at $WHARF_TEST_POSTGRES, S3 at $WHARF_TEST_S3"

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted"
  exit 1
fi
go vet ./...

step "a static binary without cgo, and cross-compiled for linux/arm64 and macOS"
BUILD_TMP=$(mktemp -d)
CGO_ENABLED=0 go build -o "$BUILD_TMP/wharf" ./cmd/wharf
buildinfo=$(go version -m "$BUILD_TMP/wharf")
filetype=$(file "$BUILD_TMP/wharf")
if [[ $buildinfo != *CGO_ENABLED=0* || $filetype != *"statically linked"* ]]; then
  echo "wharf is not a static, cgo-free binary: $filetype"
  exit 1
fi
for target in linux/arm64 darwin/arm64 darwin/amd64; do
  echo "building for $target"
  CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o "$BUILD_TMP/wharf-${target/\//-}" ./cmd/wharf
done

step "tests (unit, store conformance, end to end)"
# The console's browser test saves screenshots of its pages (and of a step that failed) here.
export WHARF_SCREENSHOTS=${WHARF_SCREENSHOTS:-/tmp/wharf-screenshots}
echo "screenshots of the console's pages go to $WHARF_SCREENSHOTS"
WHARF_E2E=1 go test -count=1 -timeout 20m ./...

step "the core's tests again, with the metadata in PostgreSQL"
WHARF_CORE_ON_POSTGRES=1 go test -count=1 -timeout 10m ./internal/registry

step "the request paths again, under the race detector"
go test -race -count=1 ./internal/oci ./internal/pipeline ./internal/bodylimit ./internal/strictjson ./internal/ecrapi ./internal/iamapi ./internal/server ./internal/audit ./internal/webhooks

step "fuzzing the parsers"
# Bounded by executions, not by time: a time limit can end on a worker still busy with an input, which Go
# reports as a failure ("context deadline exceeded") on a loaded machine. FUZZSCALE multiplies the counts.
scale=${FUZZSCALE:-1}
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$((200000 * scale))x" ./internal/manifest
go test -run '^$' -fuzz '^FuzzParseRoute$' -fuzztime "$((100000 * scale))x" ./internal/oci
go test -run '^$' -fuzz '^FuzzRoundTrip$' -fuzztime "$((100000 * scale))x" ./internal/address
go test -run '^$' -fuzz '^FuzzNames$' -fuzztime "$((100000 * scale))x" ./internal/registry
go test -run '^$' -fuzz '^FuzzRequests$' -fuzztime "$((20000 * scale))x" ./internal/ecrapi
go test -run '^$' -fuzz '^FuzzOneDecode$' -fuzztime "$((50000 * scale))x" ./internal/ecrapi
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$((100000 * scale))x" ./internal/strictjson
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$((100000 * scale))x" ./internal/audit
go test -run '^$' -fuzz '^FuzzParseAuth$' -fuzztime "$((200000 * scale))x" ./internal/sigv4
go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime "$((100000 * scale))x" ./internal/sigv4
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$((200000 * scale))x" ./internal/iam
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$((100000 * scale))x" ./internal/lifecycle
go test -run '^$' -fuzz '^FuzzLayers$' -fuzztime "$((20000 * scale))x" ./internal/inventory/imagefs
go test -run '^$' -fuzz '^FuzzDatabases$' -fuzztime "$((100000 * scale))x" ./internal/inventory
go test -run '^$' -fuzz '^FuzzBuildInfo$' -fuzztime "$((20000 * scale))x" ./internal/inventory
go test -run '^$' -fuzz '^FuzzParseAdvisory$' -fuzztime "$((50000 * scale))x" ./internal/vulndb
go test -run '^$' -fuzz '^FuzzCVSS3Score$' -fuzztime "$((100000 * scale))x" ./internal/vulndb

step "deployment files: the Helm chart, the systemd units, the container image"
scripts/test-deploy.sh

step "all tests passed"
