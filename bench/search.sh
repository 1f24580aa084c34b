#!/usr/bin/env bash
# Search benchmark: whole-process `trove search --count` vs `notmuch count` vs `mu find`, on the
# same maildir and the same 21 queries (bench/queries.tsv, one translation per tool), plus trove's
# in-process p50/p99 latency and the on-disk sizes. Run bench/ingest.sh first (it builds the
# maildir), or let this script build it with the same BENCH_YEARS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$ROOT/bench/work
RUNS=${RUNS:-5}
MD=$WORK/maildir
[ -d "$MD/cur" ] || { echo "no maildir: run bench/ingest.sh first" >&2; exit 1; }
cargo build --release --locked -q
cargo build --release --locked -q -p trove-index --example latency
TROVE=$ROOT/target/release/trove

# Fresh databases for all three.
rm -rf "$WORK/s-trove" "$WORK/s-notmuch" "$WORK/s-mu"
"$TROVE" init "$WORK/s-trove" > /dev/null
"$TROVE" --archive "$WORK/s-trove" ingest --quiet "$MD" > /dev/null
mkdir -p "$WORK/s-notmuch"
export NOTMUCH_CONFIG=$WORK/s-notmuch.config
printf '[database]\npath=%s\nmail_root=%s\n[user]\nname=b\nprimary_email=b@example.org\n[new]\ntags=\n' \
  "$WORK/s-notmuch" "$MD" > "$NOTMUCH_CONFIG"
notmuch new --quiet
mu init --quiet --muhome="$WORK/s-mu" --maildir="$MD" > /dev/null
mu index --quiet --muhome="$WORK/s-mu"

# median_ms CMD...: median wall time of RUNS runs, in ms
median_ms() {
  local ts=()
  for _ in $(seq "$RUNS"); do
    local a b
    a=$(date +%s%N); "$@" > /dev/null 2>&1 || true; b=$(date +%s%N)
    ts+=($(( (b - a) / 1000 )))
  done
  printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | awk '{printf "%.2f", $1/1000}'
}

rows=()
trove_queries=$WORK/trove-queries.txt
: > "$trove_queries"
while IFS=$'\t' read -r tq nq mq; do
  [[ "$tq" == \#* || -z "$tq" ]] && continue
  echo "$tq" >> "$trove_queries"
  tc=$("$TROVE" --archive "$WORK/s-trove" search --count "$tq")
  nc=$(notmuch count "$nq")
  mc=$(mu find --muhome="$WORK/s-mu" --format=plain --fields=i "$mq" 2>/dev/null | wc -l)
  tt=$(median_ms "$TROVE" --archive "$WORK/s-trove" search --count "$tq")
  nt=$(median_ms notmuch count "$nq")
  mt=$(median_ms mu find --muhome="$WORK/s-mu" --format=plain --fields=i "$mq")
  rows+=("$tq	$tc	$nc	$mc	$tt	$nt	$mt")
done < bench/queries.tsv

LAT=$("$ROOT/target/release/examples/latency" "$WORK/s-trove/index" "$trove_queries" 5)
CORPUS=$(du -sb "$MD" | cut -f1)
T_IDX=$(du -sb "$WORK/s-trove/index" | cut -f1)
T_CAT=$(du -cb "$WORK/s-trove"/catalog.sqlite* | tail -1 | cut -f1)
T_ALL=$(du -sb "$WORK/s-trove" | cut -f1)
N_ALL=$(du -sb "$WORK/s-notmuch" | cut -f1)
M_ALL=$(du -sb "$WORK/s-mu" | cut -f1)

python3 - "$LAT" "$CORPUS" "$T_IDX" "$T_CAT" "$T_ALL" "$N_ALL" "$M_ALL" "${rows[@]}" <<'PY'
import sys, json, datetime, statistics
lat = json.loads(sys.argv[1]); corpus, t_idx, t_cat, t_all, n_all, m_all = map(int, sys.argv[2:8])
rows = [r.split("\t") for r in sys.argv[8:]]
out = [f"### Search, {datetime.date.today()}: {len(rows)} queries, {lat['docs']} messages, median of whole-process runs",
       "", "| query | trove hits | notmuch hits | mu hits | trove ms | notmuch ms | mu ms |", "|---|---|---|---|---|---|---|"]
for q, tc, nc, mc, tt, nt, mt in rows:
    out.append(f"| `{q}` | {tc} | {nc} | {mc} | {tt} | {nt} | {mt} |")
tot = lambda i: sum(float(r[i]) for r in rows)
out += ["", f"Total whole-process time over the {len(rows)} queries: trove {tot(4):.0f} ms, notmuch {tot(5):.0f} ms "
        f"({tot(5)/tot(4):.2f}× trove), mu {tot(6):.0f} ms ({tot(6)/tot(4):.2f}× trove).",
        f"In-process trove latency (parse + count + top 20, {lat['runs']} runs): p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms.",
        f"On disk, corpus {corpus/1e6:.0f} MB: trove index {t_idx/1e6:.0f} MB + catalog {t_cat/1e6:.0f} MB = "
        f"{(t_idx+t_cat)/corpus*100:.0f}% of the corpus (whole archive with compressed raw blobs: {t_all/1e6:.0f} MB, {t_all/corpus*100:.0f}%); "
        f"notmuch {n_all/1e6:.0f} MB ({n_all/corpus*100:.0f}%); mu {m_all/1e6:.0f} MB ({m_all/corpus*100:.0f}%).",
        "Hit counts differ where the tools tokenise, stem or read dates differently; the counts are printed so the comparison stays honest.", ""]
text = "\n".join(out)
print(text)
open("bench/results.md", "a").write(text + "\n")
import os
os.makedirs("bench/work/summary", exist_ok=True)
json.dump({"queries": len(rows), "docs": lat["docs"], "trove_ms": tot(4), "notmuch_ms": tot(5), "mu_ms": tot(6),
           "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"]}, open("bench/work/summary/search.json", "w"))
PY
