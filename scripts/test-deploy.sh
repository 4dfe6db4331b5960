#!/usr/bin/env bash
# Tests what Wharf ships besides its binary: the Helm chart (helm lint and template with every values file,
# each object decoded strictly into its Kubernetes type, assertions on what they say and on what the chart
# refuses), the systemd units (systemd-analyze), and the container image (built by scripts/image.sh with
# podman, then checked: its configuration, its files, and the binary run from its file system as its user).
# scripts/test.sh runs it; it installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
KUBE_VERSION=v0.37.0 # client-go, for kubecheck: the version helm $HELM_VERSION uses
TOOLS="$PWD/.tools/bin"
mkdir -p "$TOOLS"
export PATH="$TOOLS:$PATH"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

step() { printf '\n==> %s\n' "$*"; }
tmp=$(mktemp -d /tmp/wharf-deploy.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -x "$TOOLS/helm" ] || [ ! -f "$TOOLS/.helm-$HELM_VERSION" ]; then
  step "installing helm $HELM_VERSION"
  GOBIN="$TOOLS" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  touch "$TOOLS/.helm-$HELM_VERSION"
fi
if [ ! -x "$TOOLS/kubecheck" ] || [ ! -f "$TOOLS/.kubecheck-$KUBE_VERSION" ] ||
  [ deploy/helm/kubecheck/main.go -nt "$TOOLS/kubecheck" ]; then
  step "building kubecheck with client-go $KUBE_VERSION"
  mkdir "$tmp/kubecheck"
  grep -v '^//go:build ignore$' deploy/helm/kubecheck/main.go >"$tmp/kubecheck/main.go"
  (cd "$tmp/kubecheck" && go mod init kubecheck >/dev/null 2>&1 &&
    go get "k8s.io/client-go@$KUBE_VERSION" "k8s.io/apimachinery@$KUBE_VERSION" >/dev/null 2>&1 &&
    go mod tidy >/dev/null 2>&1 && go build -o "$TOOLS/kubecheck" .)
  touch "$TOOLS/.kubecheck-$KUBE_VERSION"
fi
python3 -c 'import yaml' 2>/dev/null || {
  step "installing Debian package: python3-yaml"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-yaml >/dev/null
}

step "the Helm chart"
python3 deploy/helm/test_chart.py helm
for values in "" deploy/helm/wharf/ci/*.yaml; do
  helm template r deploy/helm/wharf ${values:+-f "$values"} | kubecheck >/dev/null
done
echo "every object of every rendering decodes strictly into its Kubernetes type"

step "the systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
  root="$tmp/sdroot"
  mkdir -p "$root/usr/local/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
  cp -a "$(dirname "$(readlink -f /lib/systemd/system/multi-user.target)")" "$root/usr/lib/systemd/system"
  install -m 0755 /bin/true "$root/usr/local/bin/wharf" # verify checks that ExecStart is executable
  cp deploy/systemd/*.service deploy/systemd/*.timer "$root/etc/systemd/system/"
  units=$(cd deploy/systemd && ls *.service *.timer)
  # shellcheck disable=SC2086 # one argument per unit
  out=$(systemd-analyze verify --root="$root" $units 2>&1) || { echo "$out"; exit 1; }
  if [ -n "$out" ]; then echo "systemd-analyze verify warns:"; echo "$out"; exit 1; fi
  systemd-analyze security --offline=yes --root="$root" --threshold=25 wharf.service | tail -1 # 2.5 of 10: "OK" or better
  mkdir -p "$root/etc/sysusers.d"
  cp deploy/systemd/wharf.sysusers "$root/etc/sysusers.d/wharf.conf"
  systemd-sysusers --root="$root" >/dev/null
  grep -q '^wharf:x:[0-9]*:[0-9]*:.*:/var/lib/wharf:/usr/sbin/nologin$' "$root/etc/passwd"
  echo "the units verify; wharf.sysusers makes the user wharf"
else
  echo "systemd-analyze is not installed: the systemd units are not checked"
fi

step "the container image"
if ! command -v podman >/dev/null 2>&1; then
  step "installing Debian package: podman"
  $SUDO apt-get update -qq || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null || true
fi
if ! command -v podman >/dev/null 2>&1; then
  echo "podman is not available and could not be installed: the container image is not tested"
  exit 0
fi
image=localhost/wharf:test-$$
scripts/image.sh "$image"
trap 'podman rmi -f "$image" >/dev/null 2>&1 || true; cleanup' EXIT
podman image inspect "$image" >"$tmp/inspect.json"
python3 - "$tmp/inspect.json" <<'PY'
import json, sys
img = json.load(open(sys.argv[1]))[0]
c = img["Config"]
assert c["User"] == "65532:65532", c["User"]
assert "5000/tcp" in c["ExposedPorts"], c.get("ExposedPorts")
assert "/var/lib/wharf" in c["Volumes"], c.get("Volumes")
assert c["Entrypoint"] == ["/usr/local/bin/wharf"] and c["Cmd"] == ["serve"], (c["Entrypoint"], c["Cmd"])
env = dict(e.split("=", 1) for e in c["Env"])
assert env["WHARF_DATA_DIR"] == "/var/lib/wharf" and env["WHARF_ADDR"] == ":5000", env
assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt", env
hc = img.get("Healthcheck") or c.get("Healthcheck")
assert hc and hc["Test"] == ["CMD", "/usr/local/bin/wharf", "healthcheck"], hc
print("image config: user 65532, port 5000, volume /var/lib/wharf, healthcheck `wharf healthcheck`")
PY
rootfs="$tmp/rootfs"
mkdir -m 0755 "$rootfs"
container=$(podman create "$image" 2>/dev/null)
podman export "$container" | tar -x -C "$rootfs"
podman rm "$container" >/dev/null 2>&1
ls -A "$rootfs" | sort | tr '\n' ' ' | grep -qx 'etc tmp usr var ' || { echo "image root: $(ls -A "$rootfs")"; exit 1; }
[ "$(stat -c '%u:%g %a' "$rootfs/var/lib/wharf")" = "65532:65532 700" ]
[ "$(stat -c '%u %a' "$rootfs/usr/local/bin/wharf")" = "0 755" ]
[ "$(stat -c '%a' "$rootfs/tmp")" = "1777" ]
[ "$(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt")" -gt 50 ]
grep -q '^wharf:x:65532:65532:' "$rootfs/etc/passwd"
echo "image files: the binary, CA certificates, /var/lib/wharf owned by 65532 (0700), /tmp"
if [ "$(id -u)" = 0 ]; then
  # The image's file system holds no C library or loader: the binary runs there only if it is static.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # wharf from the image's files, as its user, with its environment (on a loopback port)
  in_image=(env -i WHARF_DATA_DIR=/var/lib/wharf WHARF_ADDR="127.0.0.1:$port" SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    "$(command -v chroot)" --userspec=65532:65532 "$rootfs" /usr/local/bin/wharf)
  in_image() { "${in_image[@]}" "$@"; }
  in_image help | grep '^usage: wharf' >/dev/null # grep reads it all: -q would leave wharf writing into a closed pipe
  "${in_image[@]}" serve >"$tmp/serve.log" 2>&1 & # env, chroot and wharf exec one another: one process
  server_pid=$!
  for _ in $(seq 100); do
    if in_image healthcheck 2>/dev/null; then break; fi
    sleep 0.1
  done
  in_image healthcheck || { cat "$tmp/serve.log"; exit 1; }
  [ "$(stat -c '%u' "$rootfs/var/lib/wharf/wharf.db")" = 65532 ]
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  if in_image healthcheck 2>/dev/null; then
    echo "wharf healthcheck succeeds with no server"; exit 1
  fi
  echo "the image's binary is static and runs as 65532 from the image's files: serve answers, healthcheck tells"
else
  echo "not root: the image's binary is not run from its file system (chroot needs root)"
fi
if podman run --rm "$image" help >"$tmp/run.log" 2>&1; then
  grep -q '^usage: wharf' "$tmp/run.log"
  echo "podman run works: wharf help answered"
else
  echo "podman cannot run containers here ($(grep -m1 '^Error:' "$tmp/run.log" || tail -1 "$tmp/run.log")); the image was checked without running one"
fi
