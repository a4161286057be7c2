#!/usr/bin/env bash
# Interop: js-libp2p (another libp2p implementation) dials `dxos serve` over TCP and over
# WebRTC-direct and pings it. Needs Node.js and npm; prints one JSON line per ping.
# Usage: scripts/interop/run.sh [path/to/dxos]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dxos="${1:-$here/../../target/debug/dxos}"
work="$(mktemp -d)"
# `serve` closes its connections and saves its state as it stops: wait for it before removing
# its profile.
trap 'if [ -n "${serve_pid:-}" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
"$dxos" --profile "$work/p" identity create --name interop >/dev/null
"$dxos" --profile "$work/p" --json serve --no-mdns \
  --listen /ip4/127.0.0.1/tcp/0 --listen /ip4/127.0.0.1/udp/0/webrtc-direct >"$work/serve.log" 2>/dev/null &
serve_pid=$!
for _ in $(seq 1 100); do [ -s "$work/serve.log" ] && break; sleep 0.1; done
first="$(head -1 "$work/serve.log")"
tcp="$(python3 -c 'import json,sys; print([a for a in json.loads(sys.argv[1])["addrs"] if "/tcp/" in a][0])' "$first")"
webrtc="$(python3 -c 'import json,sys; print([a for a in json.loads(sys.argv[1])["addrs"] if "/webrtc-direct/" in a][0])' "$first")"
echo "== js-libp2p -> dxos serve over TCP ($tcp)"
node "$here/ping.mjs" "$tcp" 3
echo "== js-libp2p -> dxos serve over WebRTC-direct ($webrtc)"
node "$here/ping.mjs" "$webrtc" 3
