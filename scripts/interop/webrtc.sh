#!/usr/bin/env bash
# Interop over libp2p's `/webrtc` transport (WebRTC signalled through a relay circuit, as
# browsers do): a js-libp2p node (`webRTC()`, `circuitRelayTransport()`) reserves on a
# `dxos relay serve`, dials a dxos node's `/p2p-circuit/webrtc` address and pings it over the
# direct WebRTC connection; then a second dxos node dials the js node's `/webrtc` address, and
# each side pings the other over it. Loopback only. Needs Node.js and npm.
# Usage: scripts/interop/webrtc.sh [path/to/dxos]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dxos="${1:-$here/../../target/debug/dxos}"
work="$(mktemp -d)"
pids=()
# The nodes close their connections and save their state as they stop: wait for them before
# removing their profiles.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
json() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print($1)" "$2"; }
wait_line() { # FILE: waits up to 20 s for FILE's first line
  for _ in $(seq 1 200); do [ -s "$1" ] && break; sleep 0.1; done
  head -1 "$1"
}
(cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)

"$dxos" --json relay serve --open --key "$work/relay.key" --listen /ip4/127.0.0.1/tcp/0 >"$work/relay.log" 2>/dev/null &
pids+=($!)
relay="$(json 'v["addrs"][0]' "$(wait_line "$work/relay.log")")"
echo "== relay: $relay"

# A: a dxos node that reserves on the relay (so it listens on /p2p-circuit/webrtc).
"$dxos" --profile "$work/a" identity create --name interop-a >/dev/null
"$dxos" --profile "$work/a" relay add "$relay" >/dev/null
"$dxos" --profile "$work/a" --json serve --no-mdns --listen /ip4/127.0.0.1/tcp/0 >"$work/a.log" 2>/dev/null &
pids+=($!)
a_webrtc=""
for _ in $(seq 1 200); do
  a_webrtc="$("$dxos" --profile "$work/a" --json status 2>/dev/null |
    python3 -c 'import json,sys; print(next((a for a in json.load(sys.stdin)["addrs"] if a.find("/p2p-circuit/webrtc/") >= 0), ""))' || true)"
  [ -n "$a_webrtc" ] && break
  sleep 0.1
done
[ -n "$a_webrtc" ] || { echo "dxos node A never listened on /p2p-circuit/webrtc"; exit 1; }
echo "== dxos A listens on $a_webrtc"

# B: a dxos node that will dial the js node's /webrtc address.
b_peer="$(json 'v["peer_id"]' "$("$dxos" --profile "$work/b" --json identity create --name interop-b)")"

node "$here/webrtc.mjs" "$relay" "$a_webrtc" "$b_peer" >"$work/js.log" &
js=$!
pids+=($js)
js_webrtc="$(json 'v["listening"]' "$(wait_line "$work/js.log")")"
echo "== js-libp2p listens on $js_webrtc"
"$dxos" --profile "$work/b" --json serve --no-mdns --listen /ip4/127.0.0.1/tcp/0 --peer "$js_webrtc" >"$work/b.log" 2>/dev/null &
pids+=($!)

# B's own pings of the js node: `peers` shows the round trip of the connection's last ping.
js_peer="${js_webrtc##*/p2p/}"
b_pinged=""
for _ in $(seq 1 300); do
  b_pinged="$("$dxos" --profile "$work/b" --json peers 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["peer_id"] == sys.argv[1] and p["transport"] == "webrtc" and p.get("rtt_ms") is not None:
        print(json.dumps({"dxos_pinged": p["peer_id"], "rtt_ms": p["rtt_ms"], "transport": p["transport"]}))
' "$js_peer" || true)"
  [ -n "$b_pinged" ] && break
  sleep 0.1
done
status=0
wait "$js" || status=$?
cat "$work/js.log"
echo "== dxos B -> js-libp2p over /webrtc"
if [ -n "$b_pinged" ]; then echo "$b_pinged"; else echo "dxos B never pinged the js node over /webrtc"; status=1; fi
grep '"event":"webrtc"' "$work/a.log" "$work/b.log" || true
exit "$status"
