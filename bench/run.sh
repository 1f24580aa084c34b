#!/usr/bin/env bash
# The whole benchmark suite in one go, against the peers and the physical floor, on this machine:
#
#   bash bench/run.sh              # everything (about 40 minutes, most of it the 1M growth run)
#   GROWTH_SIZES="10000 100000" bash bench/run.sh
#
# Runs, each with its own details appended to bench/results.md:
#   ingest.sh  trove ingest vs notmuch new vs mu index (median of 3 rounds of the three back to back, same maildir, fresh databases)
#   floor      `cat` of the corpus (in ingest.sh) and mail-parser parse-only (examples/parse_floor)
#   search.sh  21 queries, whole processes, vs notmuch count and mu find; in-process p50/p99
#   dkim.sh    trove verify vs dkimpy with the same keys
#   web.sh     wrk on /api/v1/search
#   growth.sh  10k / 100k / 1M messages: per-message cost, peak RSS, search latency
# then prints one table (trove vs peer, ratio, target, whether it holds) and appends it, with the
# machine, the versions and the date, to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUNS=${RUNS:-3}
S=bench/work/summary
rm -rf "$S"
mkdir -p "$S"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

bash bench/ingest.sh
cargo build --release --locked -q -p trove-ingest --example parse_floor
target/release/examples/parse_floor bench/work/maildir > "$S/floor.json"
RUNS=5 bash bench/search.sh
bash bench/dkim.sh
bash bench/web.sh
bash bench/growth.sh
cp bench/work/growth.jsonl "$S/growth.jsonl"

python3 bench/summary.py "$S"
