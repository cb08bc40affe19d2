#!/usr/bin/env bash
# Builds the test server: FerretDB v1.24.2 embedded in our own small main (scripts/ferretdb/main.go says why),
# from the Go module proxy, into .cache/ferretdb/bin/ferretdb-test. Prints the binary's path.
# Idempotent: rebuilds only when scripts/ferretdb/ changed (go.sum pins every module).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/ferretdb"
CACHE="${FERRETDB_CACHE_DIR:-$ROOT/.cache/ferretdb}"
BIN="$CACHE/bin/ferretdb-test"
STAMP="$CACHE/bin/.source-hash"
HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -d' ' -f1)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "build-ferretdb: Go is needed to build the test server (FerretDB v1.24.2); install Go >= 1.24 or set MONGODB_URI" >&2
  exit 1
fi
mkdir -p "$CACHE/bin"
echo "build-ferretdb: building FerretDB v1.24.2 from the Go module proxy (the first build takes a few minutes)…" >&2
cd "$SRC"
# GOTOOLCHAIN=local: build with the machine's Go (go.mod asks for 1.24, any newer Go will do).
GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" . >&2
mv "$BIN.tmp" "$BIN"
echo "$HASH" > "$STAMP"
echo "$BIN"
