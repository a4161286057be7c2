#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 120) and prints each one's runs; the corpus of
# the targets that keep one grows in fuzz/corpus/ (minimize it with `cargo fuzz cmin`).
# Needs cargo-fuzz (`cargo install cargo-fuzz`). A crash stops with libFuzzer's report and the
# input in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-120}"
export RUSTC_BOOTSTRAP=1
for t in replication_frame invite_frame owner_line credential invitation_uri key_file; do
  corpus=()
  [ -d "corpus/$t" ] && corpus=("corpus/$t")
  out="$(cargo fuzz run -O "$t" "${corpus[@]}" -- -max_total_time="$secs" 2>&1)" || { echo "$out" | tail -40; exit 1; }
  runs="$(echo "$out" | grep -Eo 'Done [0-9]+ runs' | tail -1)"
  echo "$t: ${runs:-?} in ${secs} s, no crash"
done
