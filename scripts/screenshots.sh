#!/usr/bin/env bash
# Runs the desktop app under a virtual display and writes assets/screenshots/*.png.
# Needs: apt-get install -y xvfb xauth imagemagick libgl1-mesa-dri libegl1
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s '-screen 0 1280x800x24' "$0" "$@"
fi
cargo build --release -p dxos
bin=target/release/dxos
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
$bin --profile "$profile" space create --name Weekend >/dev/null
for t in "Buy milk" "Call the plumber" "Water the plants" "Book train tickets"; do
  $bin --profile "$profile" task add Weekend "$t" >/dev/null
done
second=$($bin --profile "$profile" --json task list Weekend | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["id"])')
$bin --profile "$profile" task done Weekend "$second" >/dev/null
$bin --profile "$profile" &
app=$!
sleep 5
# An edit from another process reaches the open window through the app's socket.
$bin --profile "$profile" task add Weekend "Added from the CLI while the app is open" >/dev/null
sleep 1
mkdir -p assets/screenshots
import -window root -crop 760x600+0+0 +repage assets/screenshots/app.png
kill -TERM $app
wait $app
echo "wrote assets/screenshots/app.png"
