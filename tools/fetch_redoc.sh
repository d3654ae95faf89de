#!/usr/bin/env bash
# Fetches ReDoc's standalone bundle, which /api/redoc serves, from the npm package at the pinned version,
# and checks it against the recorded hash: `make redoc` (needs npm; `make run` does not, the file is committed).
# To move to another version: change both values below, run `REDOC_SHA256= make redoc`, record the hash it prints.
set -euo pipefail

REDOC_VERSION="${REDOC_VERSION:-2.5.4}"
REDOC_SHA256="${REDOC_SHA256-dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b}"

cd "$(dirname "$0")/.."
target=static/docs/redoc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null && tar xzf "redoc-$REDOC_VERSION.tgz")
actual=$(sha256sum "$work/package/bundles/redoc.standalone.js" | cut -d' ' -f1)
echo "redoc@$REDOC_VERSION bundles/redoc.standalone.js sha256 $actual"
if [ -z "$REDOC_SHA256" ]; then
  echo "no hash recorded: not copied" >&2
  exit 1
fi
if [ "$actual" != "$REDOC_SHA256" ]; then
  echo "hash mismatch: expected $REDOC_SHA256" >&2
  exit 1
fi
mkdir -p "$target"
cp "$work/package/bundles/redoc.standalone.js" "$work/package/bundles/redoc.standalone.js.LICENSE.txt" "$target/"
cp "$work/package/LICENSE" "$target/LICENSE"
echo "$REDOC_VERSION" > "$target/VERSION"
echo "copied into $target/"
