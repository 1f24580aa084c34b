#!/usr/bin/env bash
# Ingest benchmark: trove vs notmuch vs mu on the same maildir, in one run.
#
#   bash bench/ingest.sh            # linux-mips 2012-2015 (17,685 messages)
#   BENCH_YEARS="2016" RUNS=5 bash bench/ingest.sh
#
# Unpacks real list mail from ../shared/data into bench/work/maildir, warms the page cache, then
# times each tool RUNS times (fresh database each time) and prints the median messages/s, MB/s,
# peak RSS and on-disk size, with ratios. Results are appended to bench/results.md.
#
# The runs go in rounds, each round running the three tools back to back: this VM's speed
# drifts by a third within minutes (trove took 6.3 and 7.8 s, mu 32.6 and 27.4 s, in two runs
# of this script half an hour apart when each tool's runs came in one block), so a block per
# tool compared tools across different machine speeds. Each round also gives its own ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=$ROOT/../shared/data/email/linux-mips
YEARS=${BENCH_YEARS:-"2012 2013 2014 2015"}
RUNS=${RUNS:-3}
WORK=$ROOT/bench/work
mkdir -p "$WORK"

need=()
command -v notmuch >/dev/null || need+=(notmuch)
command -v mu >/dev/null || need+=(maildir-utils)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

cargo build --release --locked -q
TROVE=$ROOT/target/release/trove

MD=$WORK/maildir
stamp="$WORK/maildir.years"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$YEARS" ]; then
  rm -rf "$MD" "$WORK/extract"
  mkdir -p "$MD/cur" "$MD/new" "$MD/tmp" "$WORK/extract"
  for y in $YEARS; do tar -xzf "$DATA/linux-mips-$y.tar.gz" -C "$WORK/extract"; done
  n=0
  while IFS= read -r f; do
    n=$((n + 1))
    mv "$f" "$MD/cur/$n.bench:2,S"
  done < <(find "$WORK/extract" -type f -name '*.eml' | sort)
  rm -rf "$WORK/extract"
  echo "$YEARS" > "$stamp"
fi
MSGS=$(find "$MD/cur" -type f | wc -l)
BYTES=$(du -sb "$MD" | cut -f1)
echo "corpus: $MSGS messages, $((BYTES / 1000000)) MB (linux-mips $YEARS)"

# Warm cache, and the floor: reading every byte.
find "$MD" -type f -print0 | xargs -0 cat > /dev/null
t0=$(date +%s.%N)
find "$MD" -type f -print0 | xargs -0 cat > /dev/null
t1=$(date +%s.%N)
READ_S=$(echo "$t1 - $t0" | bc -l)

# run_timed NAME SIZE_DIR -- command...: prints "seconds rss_kb disk_bytes"
run_timed() {
  local size_dir=$1; shift
  if ! /usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" > /dev/null 2> "$WORK/cmd.err"; then
    echo "command failed: $* (see $WORK/cmd.err)" >&2
    exit 1
  fi
  echo "$(tail -1 "$WORK/time.out") $(du -sb "$size_dir" | cut -f1)"
}

# run_tool NAME: one timed run on a fresh database; prints "seconds rss_kb disk_bytes".
run_tool() {
  case $1 in
    trove)
      rm -rf "$WORK/trove-archive"
      "$TROVE" init "$WORK/trove-archive" > /dev/null
      run_timed "$WORK/trove-archive" "$TROVE" --archive "$WORK/trove-archive" ingest --quiet "$MD"
      ;;
    notmuch)
      rm -rf "$WORK/notmuch-db" "$WORK/notmuch-config"
      mkdir -p "$WORK/notmuch-db"
      printf '[database]\npath=%s\nmail_root=%s\n[user]\nname=bench\nprimary_email=bench@example.org\n[new]\ntags=\n' \
        "$WORK/notmuch-db" "$MD" > "$WORK/notmuch-config"
      NOTMUCH_CONFIG=$WORK/notmuch-config run_timed "$WORK/notmuch-db" notmuch new --quiet
      ;;
    mu)
      rm -rf "$WORK/mu-home"
      mu init --quiet --muhome="$WORK/mu-home" --maildir="$MD" > /dev/null
      run_timed "$WORK/mu-home" mu index --quiet --muhome="$WORK/mu-home"
      ;;
  esac
}

# One line per run: "round tool seconds rss_kb disk_bytes".
runs=()
for round in $(seq "$RUNS"); do
  echo "round $round of $RUNS: trove, notmuch, mu…"
  for tool in trove notmuch mu; do
    runs+=("$round $tool $(run_tool "$tool")")
  done
done

python3 - "$MSGS" "$BYTES" "$READ_S" "$YEARS" "${runs[@]}" <<'PY'
import sys, datetime, platform, subprocess, statistics
msgs, size, read_s, years = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
per_tool, per_round = {}, {}
for r in sys.argv[5:]:
    rnd, name, secs, rss, disk = r.split()
    per_tool.setdefault(name, []).append((float(secs), int(rss), int(disk)))
    per_round.setdefault(rnd, {})[name] = float(secs)
# Median time, with the peak RSS and size of that run.
rows = {name: sorted(v)[(len(v) - 1) // 2] for name, v in per_tool.items()}
round_ratios = {peer: [r[peer] / r["trove"] for r in per_round.values()] for peer in ["notmuch", "mu"]}
def ver(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"
lines = []
lines.append(f"### Ingest, {datetime.date.today()}: linux-mips {years}, {msgs} messages, {size/1e6:.0f} MB maildir")
lines.append("")
lines.append(f"Machine: {platform.machine()}, {subprocess.run(['nproc'],capture_output=True,text=True).stdout.strip()} cores. "
             f"Versions: {ver(['target/release/trove','--version'])}; {ver(['notmuch','--version'])}; {ver(['mu','--version'])}.")
lines.append(f"Floor: reading every byte (warm cache) takes {read_s:.2f} s = {size/1e6/read_s:.0f} MB/s.")
lines.append("")
lines.append("| tool | seconds (median) | messages/s | MB/s | peak RSS | on disk | trove is × faster |")
lines.append("|---|---|---|---|---|---|---|")
t = rows["trove"][0]
for name in ["trove", "notmuch", "mu"]:
    s, rss, disk = rows[name]
    lines.append(f"| {name} | {s:.2f} | {msgs/s:.0f} | {size/1e6/s:.1f} | {rss/1024:.0f} MB | {disk/1e6:.0f} MB ({disk/size*100:.0f}%) | {s/t:.1f} |")
lines.append("")
for peer, ratios in round_ratios.items():
    lines.append(f"Per round (the three tools back to back), trove vs {peer}: "
                 + ", ".join(f"{x:.1f}×" for x in ratios) + f"; median {statistics.median(ratios):.1f}×.")
lines.append("")
text = "\n".join(lines)
print(text)
with open("bench/results.md", "a") as f:
    f.write(text + "\n\n")
import json, os
os.makedirs("bench/work/summary", exist_ok=True)
json.dump({"messages": msgs, "bytes": size, "read_s": read_s, "years": years,
           "round_ratios": round_ratios,
           "tools": {k: {"seconds": v[0], "peak_rss_kb": v[1], "disk_bytes": v[2]} for k, v in rows.items()}},
          open("bench/work/summary/ingest.json", "w"))
PY
