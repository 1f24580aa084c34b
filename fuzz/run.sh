#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, seeding empty corpora from ../shared/data, and
# appends the runs, executions and crashes to fuzz/RESULTS.md.
#
#   bash fuzz/run.sh            # 60 s per target
#   SECONDS_PER_TARGET=1800 bash fuzz/run.sh dkim excerpt
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its
# input in fuzz/artifacts/<target>/; turn it into a regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")"
DATA=$(cd .. && pwd)/../shared/data
PER=${SECONDS_PER_TARGET:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(grep -A1 '^\[\[bin\]\]' Cargo.toml | sed -n 's/^name = "\(.*\)"/\1/p')
fi

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return 0
  case $t in
    email|detect|mbox)
      find "$DATA/email/messy" -type f \( -name '*.eml' -o -name '*.mbox' \) | head -200 |
        while read -r f; do cp "$f" "$dir/$(sha256sum "$f" | cut -c1-16)"; done ;;
    dkim)
      for f in "$DATA"/dkim/mail-auth-*/*.txt; do
        python3 -c 'import sys;t=open(sys.argv[1],"rb").read();sys.stdout.buffer.write(t[t.index(b"\n\n")+2:])' "$f" >"$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
      done
      cp "$DATA"/dkim/dkimpy/*.msg "$dir/" ;;
    key_store)
      cp "$DATA"/dkim/dkimpy/*.txt "$DATA"/dkim/dkimpy/*.dns "$dir/" ;;
    query)
      printf '%s\n' 'from:a subject:"b c" after:2016-01 -d' 'tag:x OR (dkim:pass has:attachment)' >"$dir/q" ;;
    *) ;;  # the target's own seeds, or libFuzzer's empty start
  esac
}

total=0
report=""
for t in "${targets[@]}"; do
  seed "$t"
  log=$(mktemp)
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$PER" -rss_limit_mb=2048 >"$log" 2>&1 || true
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  echo "$t: ${runs:-no summary (see $log)} runs/seconds; $crashes crash inputs"
  report+="| $t | ${runs% *} | ${runs#* } | $crashes |"$'\n'
  total=$((total + ${runs#* }))
done
{
  echo
  echo "### $(date -u +%F): ${#targets[@]} targets, $PER s each ($total CPU-seconds)"
  echo
  echo "| target | executions | seconds | crash inputs in artifacts/ |"
  echo "|---|---|---|---|"
  printf '%s' "$report"
} >>RESULTS.md
