#!/usr/bin/env bash
# Builds the test server: FerretDB v1.24.2 embedded in our own small main (scripts/ferretdb/main.go says why),
# from the Go module proxy, with our patches scripts/ferretdb/id-index.patch, update-atomic.patch, id-pushdown.patch and
# field-pushdown.patch (applied in that order; their headers say why), into .cache/ferretdb/bin/ferretdb-test. Prints the binary's path.
# Idempotent: rebuilds only when scripts/ferretdb/ changed (go.sum pins every module).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/scripts/ferretdb"
PATCHES=("$SRC/id-index.patch" "$SRC/update-atomic.patch" "$SRC/id-pushdown.patch" "$SRC/field-pushdown.patch")
CACHE="${FERRETDB_CACHE_DIR:-$ROOT/.cache/ferretdb}"
BIN="$CACHE/bin/ferretdb-test"
STAMP="$CACHE/bin/.source-hash"
HASH="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" "${PATCHES[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "build-ferretdb: Go is needed to build the test server (FerretDB v1.24.2); install Go >= 1.24 or set MONGODB_URI" >&2
  exit 1
fi
if ! command -v patch >/dev/null; then
  echo "build-ferretdb: the 'patch' program is needed to build the test server (apt-get install patch)" >&2
  exit 1
fi
mkdir -p "$CACHE/bin"
echo "build-ferretdb: building FerretDB v1.24.2 from the Go module proxy, patched (the first build takes a few minutes)…" >&2
cd "$SRC"
# GOTOOLCHAIN=local: build with the machine's Go (go.mod asks for 1.24, any newer Go will do).
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

# The module as go.sum pins it (downloaded and verified), copied and patched in the cache.
MOD_DIR="$(go mod download -json github.com/FerretDB/FerretDB | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$MOD_DIR" || ! -f "$MOD_DIR/go.mod" ]]; then
  echo "build-ferretdb: could not download github.com/FerretDB/FerretDB (see go.mod)" >&2
  exit 1
fi
WORK="$CACHE/src"
# the module cache's files are read-only and cp keeps that: make a half-made earlier copy removable first
[[ -d "$WORK" ]] && chmod -R u+w "$WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
cp -R "$MOD_DIR" "$WORK/FerretDB"
chmod -R u+w "$WORK/FerretDB"
for p in "${PATCHES[@]}"; do
  patch --quiet --forward --batch -p1 -d "$WORK/FerretDB" < "$p" >&2
done

# A build-time go.mod that adds only the replace; scripts/ferretdb/go.mod and go.sum stay as committed.
cp "$SRC/go.mod" "$WORK/go.mod"
cp "$SRC/go.sum" "$WORK/go.sum"
go mod edit -modfile="$WORK/go.mod" -replace "github.com/FerretDB/FerretDB=$WORK/FerretDB"
go build -modfile="$WORK/go.mod" -trimpath -o "$BIN.tmp" . >&2
mv "$BIN.tmp" "$BIN"
echo "$HASH" > "$STAMP"
echo "$BIN"
