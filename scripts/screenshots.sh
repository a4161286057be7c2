#!/usr/bin/env bash
# Runs the desktop app and the demo under a virtual display and writes assets/screenshots/*.png:
# welcome (first run), tasks, todomvc, add-device (the QR dialog) and demo.
# Needs: apt-get install -y xvfb xauth imagemagick xdotool libgl1-mesa-dri libegl1 fonts-dejavu-core
#        fonts-noto-cjk fonts-symbola
# BUILD=debug uses the debug binary (faster to build); the default is release.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$0" "$@"
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
click 65 342 3        # "Add device" in the sidebar
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
