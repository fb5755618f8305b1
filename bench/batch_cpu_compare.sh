#!/usr/bin/env bash
# CPU time of labapp-batch in several trees, interleaved (the throughput target of issue 16 is
# a ratio of two trees' CPU time on a shared machine, where single runs spread by 10-20%).
#
#   bash bench/batch_cpu_compare.sh ROUNDS FIELDS_DIR TREE...
#
# Each TREE is a folder holding lab_app, model and resources, e.g. made with
#   mkdir /tmp/t-now && git archive HEAD lab_app model resources | tar -x -C /tmp/t-now
#   mkdir /tmp/t-pre && git archive 8a97b92^ lab_app model resources | tar -x -C /tmp/t-pre
# FIELDS_DIR: the fields to analyse (e.g. 300 Original fields linked into one folder). Prints
# one line a run ("TREE user U sys S wall W"), then the medians per tree.
set -eu
rounds=$1 fields=$2; shift 2
py=${PY:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
log=$(mktemp)
for _ in $(seq "$rounds"); do
  for tree in "$@"; do
    out=$(mktemp -d)
    ( cd "$tree" && /usr/bin/time -f "$tree user %U sys %S wall %e" nice -n 10 "$py" -m lab_app.cli \
        "$fields" --out "$out" --device cpu --quiet ) 2>&1 | tail -1 | tee -a "$log"
    rm -rf "$out"
  done
done
"$py" - "$log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tree, _, user, _, sys_, _, wall = line.split()
    runs[tree].append((float(user), float(sys_), float(wall)))
for tree, r in runs.items():
    print(f"{tree}: {len(r)} runs, median user {statistics.median(u for u, _, _ in r):.2f} s, "
          f"user + system {statistics.median(u + s for u, s, _ in r):.2f} s, "
          f"wall {statistics.median(w for _, _, w in r):.2f} s")
PY
rm -f "$log"
