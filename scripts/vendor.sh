#!/usr/bin/env bash
# Vendored crates are kept as patches against their published versions.
#
#   scripts/vendor.sh diff   writes vendor/patches/<crate>.patch from vendor/<crate>
#   scripts/vendor.sh check  checks that each published crate plus its patch is vendor/<crate>
#                            (exit 1 if one is not, 3 if a published crate cannot be had)
#   scripts/vendor.sh apply  rebuilds each vendor/<crate> from the published crate and its patch
#
# Notes on each patch (the bug, upstream's issue, the test): vendor/patches/README.md.
#
# The published source is taken from cargo's registry when it is there, else downloaded from
# crates.io (cargo does not download a crate the workspace patches).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
registry=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ 2>/dev/null | head -n1 || true)
status=0
for dir in vendor/*/; do
    crate=$(basename "$dir")
    [ "$crate" = patches ] && continue
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -n1)
    patch="vendor/patches/$crate.patch"
    tmp=$(mktemp -d)
    published="$registry$crate-$version"
    if [ -n "$registry" ] && [ -d "$published" ]; then
        cp -r "$published" "$tmp/a"
    else
        curl -sSfL "https://static.crates.io/crates/$crate/$crate-$version.crate" -o "$tmp/crate" ||
            { echo "cannot download $crate $version from crates.io" >&2; exit 3; }
        tar -xzf "$tmp/crate" -C "$tmp"
        mv "$tmp/$crate-$version" "$tmp/a"
    fi
    rm -f "$tmp/a/.cargo-ok" "$tmp/a/.cargo_vcs_info.json"
    case "$mode" in
        diff)
            cp -r "$dir" "$tmp/b"
            rm -f "$tmp/b/.cargo-ok" "$tmp/b/.cargo_vcs_info.json"
            (cd "$tmp" && diff -ruN a b) | sed -E "s/^(\+\+\+|---) ([^\t]+)\t.*/\1 \2/" > "$patch" || true
            echo "$patch: $(grep -c '^+++ ' "$patch") files"
            ;;
        apply)
            (cd "$tmp/a" && patch -s -p1 < "$OLDPWD/$patch")
            rm -rf "$dir"
            cp -r "$tmp/a" "$dir"
            echo "vendor/$crate: rebuilt from $crate $version and $patch"
            ;;
        check)
            (cd "$tmp/a" && patch -s -p1 < "$OLDPWD/$patch")
            if diff -r -x .cargo-ok -x .cargo_vcs_info.json "$tmp/a" "$dir" > /dev/null; then
                echo "$crate $version: the vendored copy is the published crate plus $patch"
            else
                echo "$crate $version: vendor/$crate differs from the published crate plus $patch" >&2
                status=1
            fi
            ;;
        *) echo "usage: $0 diff|check|apply" >&2; exit 2 ;;
    esac
    rm -rf "$tmp"
done
exit $status
