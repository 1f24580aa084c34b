#!/usr/bin/env bash
# Outlook and attachments (issue 11):
#   1. PST ingest, trove vs readpst (pst-utils) converting the same stores to mbox: the six real
#      stores of ../shared/data/outlook/pst, each copied COPIES times under new names so both
#      tools read every copy (trove stores each mail once; it still reads and rebuilds them all).
#      Wall time is the median of RUNS; peak RSS from /usr/bin/time.
#   2. Attachment extraction throughput per format (crates/extract/examples/throughput.rs), in
#      process and through the `trove __extract` helper process.
# Appends its tables to bench/results.md.
#
#   bash bench/outlook.sh            # COPIES=40 RUNS=3
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${COPIES:-40}
RUNS=${RUNS:-3}
W=bench/work/outlook
DATA=../shared/data/outlook/pst
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; }
command -v readpst >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pst-utils; }
cargo build --release --locked -q -p trove-cli
cargo build --release --locked -q -p trove-extract --example throughput
TROVE=$PWD/target/release/trove

rm -rf "$W" && mkdir -p "$W/stores"
for i in $(seq 1 "$COPIES"); do
  for f in "$DATA"/*.pst; do cp "$f" "$W/stores/$(basename "$f" .pst)-$i.pst"; done
done
BYTES=$(du -sb "$W/stores" | cut -f1)
MAILS=0
for f in "$DATA"/*.pst; do
  rm -rf "$W/count" && mkdir -p "$W/count"
  # -j 0: readpst's parallel folder jobs can exit with mails unwritten (crates/cli/tests/outlook.rs).
  readpst -D -q -j 0 -e -o "$W/count" "$f" >/dev/null 2>&1
  n=$(find "$W/count" -name '*.eml' | wc -l)
  MAILS=$((MAILS + n))
done
MAILS=$((MAILS * COPIES))

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_run() { # command...: prints "seconds peak_kb"
  /usr/bin/time -f '%e %M' -o "$W/time.txt" "$@" >/dev/null 2>&1
  tail -1 "$W/time.txt"
}

trove_t=(); trove_m=(); readpst_t=(); readpst_m=()
for r in $(seq 1 "$RUNS"); do
  rm -rf "$W/archive"
  "$TROVE" init "$W/archive" >/dev/null
  read -r t m < <(time_run "$TROVE" --archive "$W/archive" ingest --quiet "$W/stores")
  trove_t+=("$t"); trove_m+=("$m")
  rm -rf "$W/mbox" && mkdir -p "$W/mbox"
  read -r t m < <(time_run bash -c "for f in '$W'/stores/*.pst; do d='$W'/mbox/\$(basename \"\$f\"); mkdir -p \"\$d\"; readpst -D -q -o \"\$d\" \"\$f\" || exit 1; done")
  readpst_t+=("$t"); readpst_m+=("$m")
done
TT=$(printf '%s\n' "${trove_t[@]}" | median)
RT=$(printf '%s\n' "${readpst_t[@]}" | median)
TM=$(printf '%s\n' "${trove_m[@]}" | sort -n | tail -1)
RM=$(printf '%s\n' "${readpst_m[@]}" | sort -n | tail -1)
ITEMS=$("$TROVE" --archive "$W/archive" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')

{
  echo
  echo "## Outlook stores and attachment text, $(date -u +%Y-%m-%d)"
  echo
  echo "Machine: $(nproc) cores, $(uname -r). readpst $(readpst -V 2>&1 | head -1 | tr -d '\n')."
  echo "Corpus: the 6 stores of shared/data/outlook/pst, $COPIES copies each: $((BYTES / 1000000)) MB,"
  echo "$MAILS mails by readpst's count; trove ingests them (rebuild, hash, parse, DKIM, index,"
  echo "log; embedded messages as items) into $ITEMS distinct items. Median of $RUNS runs."
  echo
  echo "| tool | wall time | mails/s | MB/s | peak RSS |"
  echo "|---|---|---|---|---|"
  awk -v t="$TT" -v m="$MAILS" -v b="$BYTES" -v r="$TM" 'BEGIN {printf "| trove ingest | %.2f s | %.0f | %.1f | %.0f MB |\n", t, m/t, b/t/1e6, r/1024}'
  awk -v t="$RT" -v m="$MAILS" -v b="$BYTES" -v r="$RM" 'BEGIN {printf "| readpst -D (to mbox) | %.2f s | %.0f | %.1f | %.0f MB |\n", t, m/t, b/t/1e6, r/1024}'
  awk -v a="$TT" -v b="$RT" 'BEGIN {printf "\ntrove / readpst speed: %.2fx (above 1 is faster)\n", b/a}'
  echo
  echo "Attachment extraction, one document of about 1 MB of text per format, median of 5:"
  echo
  target/release/examples/throughput "$TROVE"
} | tee -a bench/results.md
