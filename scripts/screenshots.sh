#!/usr/bin/env bash
# Runs the desktop app and the demo under a virtual display and writes assets/screenshots/*.png:
# welcome (first run), tasks, todomvc, add-device (the QR dialog), demo, and composer-dark and
# composer-light (a document open in the tree, a collaborator's cursor with their name).
# Needs: apt-get install -y xvfb xauth imagemagick xdotool libgl1-mesa-dri libegl1 fonts-dejavu-core
#        fonts-noto-cjk fonts-symbola
# BUILD=debug uses the debug binary (faster to build); the default is release.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s '-screen 0 2000x800x24' "$0" "$@"
fi
build=${BUILD:-release}
if [ "$build" = release ]; then cargo build --release -p dxos; else cargo build -p dxos; fi
bin=${CARGO_TARGET_DIR:-target}/$build/dxos
out=assets/screenshots
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shot() { # name width height
  import -window root -crop "${2}x${3}+0+0" +repage "$out/$1.png"
  echo "wrote $out/$1.png"
}
click() { xdotool mousemove "$1" "$2" click 1; sleep "${3:-1}"; }

# First run: the welcome screen.
$bin --profile "$work/fresh" &
app=$!
sleep 4
shot welcome 980 640
kill -TERM $app; wait $app || true

# A profile with an identity and a space of tasks, one done.
p="$work/ada"
$bin --profile "$p" identity create --name "Ada Lovelace" >/dev/null
$bin --profile "$p" space create --name Weekend >/dev/null
# Tasks in other scripts too: the system's fonts fill in what the app's lack (CJK, Arabic in
# its reading order, emoji: apt-get install fonts-dejavu-core fonts-noto-cjk fonts-symbola).
for t in "Buy milk" "Call the plumber" "Water the plants" "Book train tickets" "牛乳を買う" "اشتري الحليب" "🍞 Brot kaufen"; do
  $bin --profile "$p" task add Weekend "$t" >/dev/null
done
second=$($bin --profile "$p" --json task list Weekend | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["id"])')
$bin --profile "$p" task done Weekend "$second" >/dev/null
$bin --profile "$p" &
app=$!
sleep 4
# An edit from another process reaches the open window through the app's socket.
$bin --profile "$p" task add Weekend "Added from the CLI while the app is open" >/dev/null
sleep 1
shot tasks 980 640
click 339 18          # the TodoMVC tab
shot todomvc 980 640
click 65 421 3        # "Add device" in the sidebar
shot add-device 980 640
kill -TERM $app; wait $app || true

# The demo: two devices paired by invitation, an edit on the left shown on the right.
$bin demo &
demo=$!
sleep 6
xdotool search --name "DXOS demo" windowfocus 2>/dev/null || true
click 200 175 0.5     # device A's new-task field
xdotool type --delay 40 "Tea from device A"
xdotool key Return
sleep 1.5
shot demo 1100 620
kill -TERM $demo; wait $demo || true

# Composer: Ada and Bob (two profiles, two windows side by side) write one document; Bob's
# cursor shows in Ada's window with his name, and the tree shows who views what.
a="$work/comp-ada"
b="$work/comp-bob"
$bin --profile "$a" identity create --name "Ada Lovelace" >/dev/null
$bin --profile "$a" space create --name Team >/dev/null
$bin --profile "$a" doc new Team "Launch plan" --text "# Launch plan

We ship **Composer** on *Friday*. Before then:

- finish the \`editor\` and its cursors
- write [the guide](https://dxos.org/guide)
- ask Bob to review the tree

> Local-first: your data stays on your devices." >/dev/null
for d in "Meeting notes" "Reading list 2" "Reading list 10"; do $bin --profile "$a" doc new Team "$d" >/dev/null; done
$bin --profile "$b" identity create --name Bob >/dev/null
# Bob joins the space by invitation (over loopback), as he would from a QR code.
$bin --profile "$a" --json invite space Team --role editor >"$work/invite.log" 2>/dev/null &
inviter=$!
for _ in $(seq 1 100); do [ -s "$work/invite.log" ] && break; sleep 0.1; done
uri=$(head -1 "$work/invite.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uri"])')
$bin --profile "$b" join "$uri" >/dev/null
wait $inviter || true
$bin --profile "$a" &
app=$!
sleep 1
$bin --profile "$b" &
bob=$!
sleep 8
xdotool windowmove "$(xdotool search --pid $bob | tail -1)" 1000 0
sleep 2
click 1090 205 3      # Bob: "Launch plan" in his tree
click 1330 171 1      # Bob: into the quote, after "Local-fi"
click 90 205 3        # Ada: "Launch plan"
xdotool mousemove 700 500
sleep 1
if [ -n "${DEBUG_SHOTS:-}" ]; then import -window root "$work/../composer-both.png"; fi
shot composer-dark 980 640
xdotool mousemove 100 400
for _ in $(seq 1 15); do xdotool click 5; sleep 0.05; done   # Ada's sidebar down to Appearance
sleep 0.5
click 114 602 1       # "Light"
xdotool mousemove 600 400
for _ in $(seq 1 15); do xdotool click 4; sleep 0.05; done   # and back up
xdotool mousemove 100 300
for _ in $(seq 1 15); do xdotool click 4; sleep 0.05; done
xdotool mousemove 700 500
sleep 1
shot composer-light 980 640
kill -TERM $app $bob; wait $app $bob || true
