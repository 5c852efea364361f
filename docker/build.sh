#!/usr/bin/env bash
# Builds the riffle:local image from static binaries built on this machine.
#   bash docker/build.sh [tag]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-riffle:local}
ctx=$(mktemp -d "${TMPDIR:-/tmp}/riffle-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/riffle" ./cmd/riffle
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/tcpcheck" ./docker/tcpcheck
cp config/server.properties docker/Dockerfile "$ctx/"
docker build -t "$tag" "$ctx"
