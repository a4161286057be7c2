#!/usr/bin/env bash
# Makes the app icon's PNGs (assets/icon/dxos-N.png) from its SVG source, at the sizes the
# freedesktop icon theme uses. Needs rsvg-convert (Debian: librsvg2-bin). The PNGs are kept in
# the repository, so building the app needs no SVG renderer.
set -euo pipefail
cd "$(dirname "$0")/../assets/icon"
for n in 16 24 32 48 64 128 256 512; do
  rsvg-convert -w "$n" -h "$n" dxos.svg -o "dxos-$n.png"
done
ls -l dxos-*.png
