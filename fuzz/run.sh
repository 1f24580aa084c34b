#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, seeding empty corpora from ../shared/data and the
# test fixtures, and appends the runs, executions and crashes to fuzz/RESULTS.md.
#
#   bash fuzz/run.sh            # 60 s per target (or `cargo xtask fuzz`)
#   SECONDS_PER_TARGET=1800 bash fuzz/run.sh dkim excerpt
#   FUZZ_CI=1 SECONDS_PER_TARGET=30 bash fuzz/run.sh   # CI: unoptimised build, no RESULTS.md,
#                                                      # exit 1 on a crash
#   FUZZ_JOBS=1 bash fuzz/run.sh                       # one target at a time (default: one per core)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its
# input in fuzz/artifacts/<target>/; turn it into a regression test before fixing it.
set -euo pipefail
trap 'echo "fuzz/run.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")"
DATA=$(cd .. && pwd)/../shared/data
FIXTURES=$(cd .. && pwd)/crates/cli/tests/fixtures
PER=${SECONDS_PER_TARGET:-60}
CI_MODE=${FUZZ_CI:-0}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(grep -A1 '^\[\[bin\]\]' Cargo.toml | sed -n 's/^name = "\(.*\)"/\1/p')
fi

# copy_seeds DIR MAX: copies up to MAX files named on stdin into DIR under content-hash names.
# (It reads all of stdin: a `head` in the pipeline would SIGPIPE `find`, which pipefail turns
# into a silent exit.)
copy_seeds() {
  local dir=$1 max=$2 n=0 f
  while IFS= read -r f; do
    n=$((n + 1))
    [ "$n" -le "$max" ] && cp "$f" "$dir/$(sha256sum "$f" | cut -c1-16)"
  done
  return 0
}

seed() {
  local t=$1 dir=corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return 0
  case $t in
    email|detect|mbox)
      find "$DATA/email/messy" -type f \( -name '*.eml' -o -name '*.mbox' \) | sort | copy_seeds "$dir" 200 ;;
    dkim)
      for f in "$DATA"/dkim/mail-auth-*/*.txt; do
        python3 -c 'import sys;t=open(sys.argv[1],"rb").read();sys.stdout.buffer.write(t[t.index(b"\n\n")+2:])' "$f" >"$dir/$(basename "$(dirname "$f")")-$(basename "$f")"
      done
      cp "$DATA"/dkim/dkimpy/*.msg "$dir/" ;;
    key_store)
      cp "$DATA"/dkim/dkimpy/*.txt "$DATA"/dkim/dkimpy/*.dns "$dir/" ;;
    archive)
      cp "$DATA/email/linux-mips/linux-mips-1996.tar.gz" "$dir/"
      find "$DATA/email/messy" -type f | sort | copy_seeds "$dir" 40
      find "$FIXTURES/social" -type f -size -200k ! -name '*.py' | sort | copy_seeds "$dir" 1000 ;;
    social_records|json_stream)
      find "$FIXTURES/social" -type f -size -200k \( -name '*.js' -o -name '*.json' -o -name '*.jsonl' -o -name '*.txt' \) |
        sort | copy_seeds "$dir" 1000 ;;
    pst)
      cp "$DATA"/outlook/pst/*.pst "$dir/" ;;
    msg)
      cp "$DATA"/outlook/msg/*.msg "$dir/" ;;
    extract)
      python3 - "$dir" <<'PY'
import io, sys, zipfile
d = sys.argv[1]
def z(name, files):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as f:
        for n, c in files: f.writestr(n, c)
    open(f"{d}/{name}", "wb").write(b.getvalue())
z("docx", [("word/document.xml", '<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Pay &amp; fee</w:t><w:tab/></w:r></w:p></w:body></w:document>')])
z("odt", [("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", '<office:document-content xmlns:text="t"><text:p>Hello<text:s/>there</text:p></office:document-content>')])
z("nested", [("a/b.zip", b"PK\x05\x06" + bytes(18)), ("c.txt", "plain")])
open(f"{d}/html", "w").write("<html><body><p>Wire <b>$10</b></p></body></html>")
PY
      ;;
    emlx)
      cp "$DATA"/outlook/emlx/Messages/*.emlx "$dir/" ;;
    rtf)
      printf '%s' '{\rtf1\ansi\ansicpg1251\fromhtml1 {\*\htmltag19 <p>}\htmlrtf {\b\htmlrtf0 \'"'"'c4\u1046?\par}}' >"$dir/html.rtf"
      python3 -c 'import sys;sys.stdout.buffer.write(bytes.fromhex("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c647d0a800fa0"))' >"$dir/lzfu" ;;
    pack)
      # A real pack and its index, as the input wants them: 2 bytes giving the index's length,
      # then the pack, then the index. Written by trove itself from five small messages.
      local a trove
      a=$(mktemp -d)
      # $TROVE when given: CI passes the binary its `cargo test` has just built. A `cargo build`
      # there builds the dependencies again (dev-dependencies change their features): minutes of CI.
      trove=${TROVE:-}
      if [ -z "$trove" ]; then
        (cd .. && cargo build --locked -q --bin trove)
        trove=$(cd .. && pwd)/target/debug/trove
      fi
      mkdir -p "$a/in"
      local small
      mapfile -t small < <(find "$DATA/email/messy" -type f -name '*.eml' -size -4k | sort)
      cp "${small[@]:0:5}" "$a/in/"
      "$trove" init "$a/x" >/dev/null
      "$trove" --archive "$a/x" ingest --quiet "$a/in" >/dev/null
      python3 - "$a/x/blobs/packs" "$dir/five-messages" <<'PY'
import glob, struct, sys
p = sorted(glob.glob(sys.argv[1] + "/*.pack"))[0]
pack, idx = open(p, "rb").read(), open(p[:-4] + "idx", "rb").read()
open(sys.argv[2], "wb").write(struct.pack("<H", len(idx)) + pack + idx)
PY
      rm -rf "$a" ;;
    modexp)
      # A 2048-bit modulus with DKIM's exponent, and a 1024-bit one with e = 3.
      python3 - "$dir" <<'PY'
import random, struct, sys
r = random.Random(1)
for bits, e in ((2048, 65537), (1024, 3)):
    n = r.getrandbits(bits) | 1 << (bits - 1) | 1
    s = r.getrandbits(bits - 1)
    k = bits // 8
    open(f"{sys.argv[1]}/n{bits}", "wb").write(struct.pack("<HQ", k, e) + n.to_bytes(k, "big") + s.to_bytes(k, "big"))
PY
      ;;
    analysis)
      printf 'The returns, running \xc3\xa9lections' >"$dir/en"
      printf '\002fr\002les \xc3\xa9lections \002en\002' >"$dir/tagged" ;;
    query)
      printf '%s\n' 'from:a subject:"b c" after:2016-01 -d' 'tag:x OR (dkim:pass has:attachment)' >"$dir/q" ;;
    *) ;;  # the target's own seeds, or libFuzzer's empty start
  esac
}

# CI builds without optimisation: its 20-second runs need every target built and exercised more
# than they need speed. From cold on two cores the build took 5.5 min instead of 15.5; targets
# ran 1.4× (dkim) to 10× (detect) fewer inputs per second, and `archive` ran 670-1,350 inputs in
# 20 s, so it may not finish its ~1,000 seeds. The fuzzing proper is `cargo xtask fuzz`,
# optimised. Debug assertions and overflow checks are on either way (cargo-fuzz's default).
MODE=()
if [ "$CI_MODE" = 1 ]; then
  MODE=(--dev)
fi

# Build every target once, up front (a build failure is a failure, not a crash).
buildlog=$(mktemp)
if ! cargo +nightly fuzz build "${MODE[@]}" >"$buildlog" 2>&1; then
  tail -60 "$buildlog" >&2
  echo "error: the fuzz targets do not build" >&2
  exit 1
fi
# One libFuzzer process is one thread: the targets run JOBS at a time (default: one per core),
# each writing its outcome to $results/<target> for the report below, in the targets' order.
JOBS=${FUZZ_JOBS:-$(nproc)}
results=$(mktemp -d)
fuzz_one() {
  local t=$1 log before status=0 runs crashes
  log=$results/$t.log
  mkdir -p "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  cargo +nightly fuzz run "${MODE[@]}" "$t" "corpus/$t" -- -max_total_time="$PER" -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log" | tail -1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$status $before $crashes ${runs:-}" >"$results/$t"
}
# Seeding is quick and some seeds share work (the pack target runs trove): it goes first, in order.
for t in "${targets[@]}"; do
  seed "$t"
done
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
    wait -n || true
  done
  fuzz_one "$t" &
done
wait
total=0
report=""
failed=()
for t in "${targets[@]}"; do
  status=1 before=0 crashes=0 runs=""
  if [ -f "$results/$t" ]; then
    read -r status before crashes r1 r2 <"$results/$t" || true
    runs=${r1:+$r1 $r2}
  fi
  echo "$t: ${runs:-no summary} runs/seconds; $crashes crash inputs"
  if [ "$status" -ne 0 ] || [ "$crashes" -gt "$before" ] || [ -z "$runs" ]; then
    failed+=("$t")
    # libFuzzer prints a crash input as bytes on one line, megabytes long: cut it short.
    tail -40 "$results/$t.log" 2>/dev/null | cut -c1-2000 >&2
  fi
  report+="| $t | ${runs% *} | ${runs#* } | $crashes |"$'\n'
  if [ -n "$runs" ]; then
    total=$((total + ${runs#* }))
  fi
done
rm -rf "$results"
if [ "$CI_MODE" = 1 ]; then
  echo "fuzzed ${#targets[@]} targets, $total CPU-seconds"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "error: fuzz targets failed or found a crash: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
  fi
  exit 0
fi
{
  echo
  echo "### $(date -u +%F): ${#targets[@]} targets, $PER s each ($total CPU-seconds)"
  echo
  echo "| target | executions | seconds | crash inputs in artifacts/ |"
  echo "|---|---|---|---|"
  printf '%s' "$report"
} >>RESULTS.md
