#!/usr/bin/env python3
"""Prints each criterion benchmark beside its baseline from the same run, with the ratio.

Reads target/criterion/<group>/<bench>/new/estimates.json (median). Run after `cargo bench`.
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
if not root.is_dir():
    sys.exit(f"no criterion results under {root}; run cargo bench first")

def fmt(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"

for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
    results = {}
    for bench in sorted(p for p in group.iterdir() if p.is_dir() and p.name != "report"):
        est = bench / "new" / "estimates.json"
        if est.exists():
            results[bench.name] = json.loads(est.read_text())["median"]["point_estimate"]
    if not results:
        continue
    base = next((v for k, v in results.items() if k.startswith("baseline")), None)
    print(group.name)
    for name, ns in results.items():
        ratio = f"  {ns / base:.2f}x baseline" if base and not name.startswith("baseline") else ""
        print(f"  {name:40} {fmt(ns):>10}{ratio}")
