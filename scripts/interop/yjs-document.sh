#!/usr/bin/env bash
# Interop: Yjs (JavaScript) edits a DXOS document's text and the editor's model shows the
# change; the editor's own edit (with a character outside the BMP, two UTF-16 units) reads back
# in Yjs at the same place. Needs Node.js and npm. Exit 0 only if both directions agree.
# Usage: scripts/interop/yjs-document.sh [path/to/dxos]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dxos="${1:-$here/../../target/debug/dxos}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
p="$work/p"
"$dxos" --profile "$p" identity create --name interop >/dev/null
"$dxos" --profile "$p" space create --name Notes >/dev/null
id="$("$dxos" --profile "$p" --json doc new Notes Plan --text "Hello from DXOS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
"$dxos" --profile "$p" space export Notes --out "$work/space.bin"
echo "== Yjs edits the text"
node "$here/yjs-document.mjs" edit "$work/space.bin" "$id" "$work/js.bin"
"$dxos" --profile "$p" space import Notes --in "$work/js.bin" >/dev/null
echo "== the editor's model shows it, and edits after the emoji it inserts"
# Through the editor's model (as the app's editor edits): insert an emoji after "[js] Hi".
shown="$("$dxos" --profile "$p" --json doc edit Notes "$id" --at 7 --insert " 🙂" | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])')"
echo "$shown"
expected="[js] Hi 🙂 from DXOS and Yjs"
[ "$shown" = "$expected" ] || { echo "the editor shows \"$shown\", expected \"$expected\""; exit 1; }
"$dxos" --profile "$p" --json doc edit Notes "$id" --at 9 --insert "!" >/dev/null
echo "== Yjs reads the editor's text"
"$dxos" --profile "$p" space export Notes --out "$work/space2.bin"
read_back="$(node "$here/yjs-document.mjs" read "$work/space2.bin" "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"])')"
echo "$read_back"
[ "$read_back" = "[js] Hi 🙂! from DXOS and Yjs" ] || { echo "Yjs reads \"$read_back\""; exit 1; }
echo "ok: Yjs and the editor agree"
