#!/usr/bin/env bash
# Web benchmark: wrk against /api/v1/search on the whole linux-mips corpus (66k messages),
# 50 connections for 20 s on loopback, rotating through bench/queries.tsv. wrk runs on the same
# machine, so it takes CPU from the server: the figures are a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$ROOT/bench/work
A=$WORK/w-trove
DURATION=${DURATION:-20s}
CONNS=${CONNS:-50}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -q
TROVE=$ROOT/target/release/trove
if [ ! -f "$A/trove.toml" ]; then
  "$TROVE" init "$A" > /dev/null
  "$TROVE" --archive "$A" ingest --quiet ../shared/data/email/linux-mips/*.tar.gz > /dev/null
fi
# An archive kept from an earlier build may have an index of another schema: rebuild it from raw.
if ! "$TROVE" --archive "$A" search --count mips > /dev/null 2>&1; then
  "$TROVE" --archive "$A" reindex > /dev/null
fi
ITEMS=$("$TROVE" --archive "$A" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])')
"$TROVE" --archive "$A" serve --public --bind 127.0.0.1:0 --json > "$WORK/w-serve.out" 2> "$WORK/w-serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$WORK/w-serve.out" ] && break; sleep 0.1; done
URL=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$WORK/w-serve.out")
# Warm the page cache and the server, then measure.
wrk -t2 -c"$CONNS" -d3s -s bench/wrk-search.lua "$URL" > /dev/null
OUT=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/wrk-search.lua "$URL")
echo "$OUT"
RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
P50=$(echo "$OUT" | awk '$1=="50%" {print $2}')
P99=$(echo "$OUT" | awk '$1=="99%" {print $2}')
ERRS=$(echo "$OUT" | awk '/Non-2xx/ {print $5}')
RSS=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
echo
echo "web search: $ITEMS items, $CONNS connections, $DURATION: $RPS req/s, p50 $P50, p99 $P99, non-2xx ${ERRS:-0}, server peak RSS $((RSS / 1024)) MB"
mkdir -p bench/work/summary
python3 - "$ITEMS" "$CONNS" "$DURATION" "$RPS" "$P50" "$P99" "${ERRS:-0}" "$RSS" > bench/work/summary/web.json <<'PY'
import json, sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit):
            return float(v[: -len(unit)]) * f
    return float(v)
items, conns, dur, rps, p50, p99, errs, rss = sys.argv[1:9]
print(json.dumps({"items": int(items), "connections": int(conns), "duration": dur, "rps": float(rps),
                  "p50_ms": ms(p50), "p99_ms": ms(p99), "non_2xx": int(errs), "peak_rss_kb": int(rss)}))
PY
