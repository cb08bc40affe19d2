#!/usr/bin/env bash
# Builds the fault proxy of the tests: toxiproxy v2.5.0's server (github.com/Shopify/toxiproxy/v2/cmd/server) from the
# Go module proxy, pinned by scripts/toxiproxy/go.mod and go.sum, into .cache/toxiproxy/bin/toxiproxy-server (or
# $TOXIPROXY_CACHE_DIR). Prints the binary's path. Idempotent: rebuilds only when scripts/toxiproxy/ changed.
# The tests start it with -host 127.0.0.1 and put its proxies on 127.0.0.1 only (test/fixtures/toxiproxy.ts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/toxiproxy"
CACHE="${TOXIPROXY_CACHE_DIR:-$ROOT/.cache/toxiproxy}"
BIN="$CACHE/bin/toxiproxy-server"
STAMP="$CACHE/bin/.source-hash"
HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/tools.go" | sha256sum | cut -d' ' -f1)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
  echo "build-toxiproxy: Go is needed to build the fault proxy (toxiproxy v2.5.0); install Go >= 1.24" >&2
  exit 1
fi
mkdir -p "$CACHE/bin"
echo "build-toxiproxy: building toxiproxy v2.5.0 from the Go module proxy…" >&2
cd "$SRC"
# GOTOOLCHAIN=local: the machine's Go (go.mod asks for 1.24, any newer one will do); -mod=readonly: go.sum as committed.
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
go build -trimpath -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=2.5.0" -o "$BIN.tmp" github.com/Shopify/toxiproxy/v2/cmd/server >&2
mv "$BIN.tmp" "$BIN"
echo "$HASH" > "$STAMP"
echo "$BIN"
