#!/usr/bin/env bash
# Builds Wharf's container image (the Dockerfile) without a network: it stages in bin/image a static
# binary built with CGO_ENABLED=0, this machine's CA bundle, /etc/passwd and /etc/group naming the user
# wharf (65532), and the empty data and temporary directories, then builds from there.
#
#   scripts/image.sh [TAG]      TAG defaults to wharf:dev; IMAGE_BUILDER=docker builds with docker
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-wharf:dev}
builder=${IMAGE_BUILDER:-podman}
stage=bin/image
rm -rf "$stage"
mkdir -p "$stage/rootfs/usr/local/bin" "$stage/rootfs/etc/ssl/certs" "$stage/rootfs/tmp" "$stage/rootfs/var/lib" "$stage/varlib/wharf"
chmod 1777 "$stage/rootfs/tmp"
chmod 0700 "$stage/varlib/wharf"
bin="$stage/rootfs/usr/local/bin/wharf"
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$bin" ./cmd/wharf
cp /etc/ssl/certs/ca-certificates.crt "$stage/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nwharf:x:65532:65532:wharf:/var/lib/wharf:/sbin/nologin\n' >"$stage/rootfs/etc/passwd"
printf 'root:x:0:\nwharf:x:65532:\n' >"$stage/rootfs/etc/group"
cp Dockerfile "$stage/Dockerfile"
case "$builder" in
  podman | buildah) "$builder" build --format docker -t "$tag" "$stage" ;; # docker format keeps HEALTHCHECK
  *) "$builder" build -t "$tag" "$stage" ;;
esac
