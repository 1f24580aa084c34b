#!/usr/bin/env bash
# DKIM verification: `trove verify` vs dkimpy on the same signed messages with the same keys.
#
#   bash bench/dkim.sh                      # linux-mips 2012-2013
#   BENCH_YEARS="2012" RUNS=5 bash bench/dkim.sh
#
# The keys are recovered from the corpus itself (Gmail's rotated 20120113 key; the recovery time
# is reported too), written to one key file, and given to both tools: trove through
# `keys import`, dkimpy through its `dnsfunc`. Every DKIM-signed message is exported as .eml and
# re-ingested into a fresh archive, so both tools see the same bytes. trove runs pinned to one
# core (taskset), then on all cores (dkimpy has one thread and runs on one core). dkimpy is timed
# twice in each round: its verification loop only (files already in memory), set against trove's
# in-process loop (crates/verify/examples/verify_loop.rs), and its whole process, set against
# `trove verify` as a whole process.
# Results are appended to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=$ROOT/../shared/data/email/linux-mips
YEARS=${BENCH_YEARS:-"2012 2013"}
RUNS=${RUNS:-3}
WORK=$ROOT/bench/work/dkim
rm -rf "$WORK"
mkdir -p "$WORK"

python3 -c 'import dkim' 2>/dev/null || pip install -q dkimpy
cargo build --release --locked -q
cargo build --release --locked -q -p trove-verify --example verify_loop
TROVE=$ROOT/target/release/trove
LOOP=$ROOT/target/release/examples/verify_loop

SRC=$WORK/source
$TROVE --archive "$SRC" init >/dev/null
inputs=()
for y in $YEARS; do inputs+=("$DATA/linux-mips-$y.tar.gz"); done
$TROVE --archive "$SRC" ingest --quiet "${inputs[@]}" >/dev/null
start=$(date +%s.%N)
$TROVE --archive "$SRC" keys recover --domain gmail.com --selector 20120113 --json >"$WORK/recover.json"
recover_s=$(echo "$(date +%s.%N) - $start" | bc)
$TROVE --archive "$SRC" keys list --json |
  python3 -c 'import sys,json
for l in sys.stdin:
    k=json.loads(l); print(k["name"], k["record"])' >"$WORK/keys.zone"
$TROVE --archive "$SRC" export 'NOT dkim:unsigned' --format eml -o "$WORK/eml" --json >/dev/null

A=$WORK/archive
$TROVE --archive "$A" init >/dev/null
$TROVE --archive "$A" keys import "$WORK/keys.zone" >/dev/null
$TROVE --archive "$A" ingest --quiet "$WORK/eml" >/dev/null
n_msgs=$(find "$WORK/eml" -name '*.eml' | wc -l)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Rounds: trove on one core (`verify` as a whole process, then the in-process loop) and dkimpy
# back to back, so that each round's ratios compare runs made at one machine speed (this VM
# drifts by a third within minutes: three runs of this script on the same code gave 17-28×).
# One line per round: trove's whole process and loop seconds, dkimpy_verify.py's own
# `messages signatures pass loop-seconds`, dkimpy's whole process (interpreter start, imports,
# reading the files, the loop) in seconds, then trove's whole process on all cores.
# trove's whole process takes tens of milliseconds, where one scheduling hiccup of this VM moved
# a round's ratio by a fifth (2-core rounds of one run went 18-30× within minutes), so each
# round times it TROVE_RUNS times and takes the median; dkimpy's whole process runs for seconds
# and is timed once per round.
TROVE_RUNS=${TROVE_RUNS:-11}
trove_median() {
  for _ in $(seq "$TROVE_RUNS"); do
    s=$(date +%s.%N)
    "$@" --archive "$A" verify --json >"$WORK/trove.jsonl"
    echo "$(date +%s.%N) - $s" | bc
  done | median
}
rounds=$(for _ in $(seq "$RUNS"); do
  t=$(trove_median taskset -c 0 "$TROVE")
  l=$(taskset -c 0 "$LOOP" "$WORK/keys.zone" "$WORK/eml" | awk '{print $4}')
  s=$(date +%s.%N)
  out=$(taskset -c 0 python3 bench/dkimpy_verify.py "$WORK/keys.zone" "$WORK/eml")
  w=$(echo "$(date +%s.%N) - $s" | bc)
  n=$(trove_median "$TROVE")
  printf "%.3f %s %s %.3f %.3f\n" "$t" "$l" "$out" "$w" "$n"
done)
col() { echo "$rounds" | awk -v c="$1" '{print $c}'; }
t1=$(col 1 | median)
tl=$(col 2 | median)
tp=$(col 6 | median)
tw=$(col 7 | median)
tn=$(col 8 | median)
py_sigs=$(col 4 | head -1)
py_pass=$(col 5 | head -1)
per_round() { echo "$rounds" | awk -v a="$1" -v b="$2" '{printf "%s%.1f×", (NR > 1 ? ", " : ""), $a / $b}'; }
round_median() { echo "$rounds" | awk -v a="$1" -v b="$2" '{print $a / $b}' | median; }
trove_pass=$(python3 -c 'import sys,json
n=0
for l in open(sys.argv[1]):
    n+=sum(1 for s in json.loads(l)["signatures"] if s["verdict"] in ("pass","pass_expired"))
print(n)' "$WORK/trove.jsonl")

rate() { echo "scale=1; $n_msgs / $1" | bc; }
ratio() { echo "scale=1; $2 / $1" | bc; }
dkimpy_v=$(python3 -c 'import importlib.metadata as m; print(m.version("dkimpy"))')
{
  echo
  echo "### DKIM verification, $(date -u +%F): linux-mips $YEARS, $n_msgs signed messages ($py_sigs signatures)"
  echo
  echo "Machine: $(uname -m), $(nproc) cores. Versions: $($TROVE --version); dkimpy $dkimpy_v (Python $(python3 -c 'import platform; print(platform.python_version())'))."
  echo "Keys: recovered from the corpus by \`trove keys recover\` in ${recover_s%.*} s, then given to both tools."
  echo "Passing signatures: trove $trove_pass, dkimpy $py_pass."
  echo
  echo "| tool | seconds (median of $RUNS rounds; trove's whole process: of $TROVE_RUNS runs in each) | messages/s | trove is × faster |"
  echo "|---|---|---|---|"
  echo "| trove verify, 1 core | $t1 | $(rate "$t1") | $(ratio "$t1" "$tp") |"
  echo "| trove verify, $(nproc) cores | $tn | $(rate "$tn") | $(ratio "$tn" "$tp") |"
  echo "| trove, in-process loop like dkimpy's (examples/verify_loop), 1 core | $tl | $(rate "$tl") | $(ratio "$tl" "$tp") |"
  echo "| dkimpy (verify loop only), 1 core | $tp | $(rate "$tp") | 1.0 |"
  echo
  echo "Whole process against whole process (dkimpy: interpreter start, imports, reading the files and the loop, $tw s): \`trove verify\` on 1 core is $(ratio "$t1" "$tw")× faster."
  echo "Per round (trove and dkimpy back to back), loop against loop: $(per_round 6 2); median $(round_median 6 2 | xargs printf '%.1f')×. Whole process, trove on 1 core: $(per_round 7 1); median $(round_median 7 1 | xargs printf '%.1f')×. Whole process, trove on $(nproc) cores: $(per_round 7 8); median $(round_median 7 8 | xargs printf '%.1f')×."
} | tee -a bench/results.md
mkdir -p bench/work/summary
printf '{"messages": %s, "trove_1core_s": %s, "trove_all_s": %s, "trove_loop_s": %s, "dkimpy_s": %s, "dkimpy_process_s": %s, "loop_round_median": %s, "process_round_median": %s, "process_all_cores_round_median": %s, "trove_pass": %s, "dkimpy_pass": %s}\n' \
  "$n_msgs" "$t1" "$tn" "$tl" "$tp" "$tw" "$(round_median 6 2)" "$(round_median 7 1)" "$(round_median 7 8)" "$trove_pass" "$py_pass" > bench/work/summary/dkim.json
