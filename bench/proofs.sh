#!/usr/bin/env bash
# Tamper-evident log costs: proofs per second, and the share of ingest time the log takes.
#
#   bash bench/proofs.sh                 # linux-mips 2012-2015 for the ingest share
#   BENCH_YEARS="2012" RUNS=5 bash bench/proofs.sh
#
# Proofs: crates/proof/examples/proof_rate.rs builds a tree of 1M leaves and proves then verifies
# 100k of them in process. Ingest: each run ingests the corpus into a fresh archive and reports
# the time spent appending leaves and signing the checkpoint (`log_seconds` of the summary)
# against the whole run. Results are appended to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=$ROOT/../shared/data/email/linux-mips
YEARS=${BENCH_YEARS:-"2012 2013 2014 2015"}
RUNS=${RUNS:-3}
WORK=$ROOT/bench/work/proofs
rm -rf "$WORK"
mkdir -p "$WORK"
cargo build --release --locked -q
cargo build --release --locked -q -p trove-proof --example proof_rate
TROVE=$ROOT/target/release/trove

read -r leaves build count prove_rate verify_rate < <("$ROOT/target/release/examples/proof_rate" 1000000)

inputs=()
for y in $YEARS; do inputs+=("$DATA/linux-mips-$y.tar.gz"); done
for r in $(seq "$RUNS"); do
  A=$WORK/archive-$r
  $TROVE --archive "$A" init >/dev/null
  $TROVE --archive "$A" ingest --json "${inputs[@]}" >"$WORK/ingest-$r.json"
done
read -r items secs log_secs share < <(python3 - "$WORK" "$RUNS" <<'PY'
import json, sys
runs = [json.load(open(f"{sys.argv[1]}/ingest-{r}.json")) for r in range(1, int(sys.argv[2]) + 1)]
runs.sort(key=lambda s: s["seconds"])
m = runs[len(runs) // 2]
print(m["items_new"], f'{m["seconds"]:.2f}', f'{m["log_seconds"]:.3f}', f'{100 * m["log_seconds"] / m["seconds"]:.1f}')
PY
)
A=$WORK/archive-1
size=$($TROVE --archive "$A" checkpoint --json | python3 -c 'import sys,json; print(json.load(sys.stdin)["size"])')
s=$(date +%s.%N)
$TROVE --archive "$A" fsck >/dev/null
fsck_s=$(printf "%.2f" "$(echo "$(date +%s.%N) - $s" | bc)")
{
  echo
  echo "### Tamper-evident log, $(date -u +%F)"
  echo
  echo "Machine: $(uname -m), $(nproc) cores. Versions: $($TROVE --version)."
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| tree of $leaves leaves built from leaf hashes | $build s |"
  echo "| inclusion proofs per second (in process, $count proofs) | $prove_rate |"
  echo "| inclusion proofs verified per second | $verify_rate |"
  echo "| ingest of linux-mips $YEARS ($items items, median of $RUNS) | $secs s |"
  echo "| of which appending $size leaves and signing the checkpoint | $log_secs s ($share%) |"
  echo "| fsck of that archive (rehash every blob, check every leaf and checkpoint) | $fsck_s s |"
} | tee -a bench/results.md
