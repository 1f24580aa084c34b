#!/usr/bin/env python3
"""The one table of bench/run.sh: trove vs peer, ratio, target, whether it holds, from the JSON
the benchmarks left in SUMMARY_DIR (bench/work/summary). Prints it and appends it, with the
machine, the versions and the date, to bench/results.md.

    python3 bench/summary.py bench/work/summary
"""
import json, sys, os, datetime, platform, subprocess
S = sys.argv[1]
j = lambda n: json.load(open(os.path.join(S, n)))
ing, flo, sea, dk, web = j("ingest.json"), j("floor.json"), j("search.json"), j("dkim.json"), j("web.json")
gro = [json.loads(l) for l in open(os.path.join(S, "growth.jsonl"))]
def ver(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"
n, size = ing["messages"], ing["bytes"]
t = ing["tools"]
rate = lambda k: n / t[k]["seconds"]
rows = []
def row(what, trove, peer, ratio, target, holds):
    rows.append(f"| {what} | {trove} | {peer} | {ratio} | {target} | {'yes' if holds else '**no**'} |")
r_mu, r_nm = rate("trove") / rate("mu"), rate("trove") / rate("notmuch")
row(f"ingest + index + DKIM, {n:,} msgs (median of {os.environ.get('RUNS','3')})",
    f"{rate('trove'):.0f} msg/s", f"mu {rate('mu'):.0f}, notmuch {rate('notmuch'):.0f} msg/s",
    f"{r_mu:.1f}× mu, {r_nm:.1f}× notmuch", "≥ 5× mu", r_mu >= 5)
row("ingest peak RSS", f"{t['trove']['peak_rss_kb']/1024:.0f} MB",
    f"mu {t['mu']['peak_rss_kb']/1024:.0f}, notmuch {t['notmuch']['peak_rss_kb']/1024:.0f} MB",
    f"{t['trove']['peak_rss_kb']/t['mu']['peak_rss_kb']:.2f}× mu", "< 300 MB", t['trove']['peak_rss_kb'] < 300*1024)
arch = t["trove"]["disk_bytes"] / size
row("archive on disk (raw + catalog + index) / corpus", f"{arch*100:.0f}%",
    f"mu {t['mu']['disk_bytes']/size*100:.0f}%, notmuch {t['notmuch']['disk_bytes']/size*100:.0f}% (index only)",
    "", "≤ 100%", arch <= 1.0)
row(f"search, {sea['queries']} queries as whole processes", f"{sea['trove_ms']:.0f} ms",
    f"notmuch {sea['notmuch_ms']:.0f}, mu {sea['mu_ms']:.0f} ms", f"{sea['notmuch_ms']/sea['trove_ms']:.2f}× faster than notmuch",
    "no slower than notmuch", sea["trove_ms"] <= sea["notmuch_ms"])
big = gro[-1]
row(f"search in process at {big['messages']:,} msgs", f"p50 {big['p50_ms']:.2f} ms, p99 {big['p99_ms']:.2f} ms", "", "",
    "p50 < 5 ms, p99 < 50 ms at 1M", big["messages"] >= 1_000_000 and big["p50_ms"] < 5 and big["p99_ms"] < 50)
# Whole process against whole process where dkim.sh timed dkimpy's (older summaries: its loop).
py_whole = dk.get("dkimpy_process_s")
dk_ratio = (py_whole or dk["dkimpy_s"]) / dk["trove_1core_s"]
row(f"DKIM verify, {dk['messages']:,} signed msgs, 1 core, whole process", f"{dk['messages']/dk['trove_1core_s']:.0f} msg/s",
    f"dkimpy {dk['messages']/(py_whole or dk['dkimpy_s']):.0f} msg/s ({'whole process' if py_whole else 'loop only'})",
    f"{dk_ratio:.1f}×", "≥ 30×", dk_ratio >= 30)
if "process_all_cores_round_median" in dk:
    # Median of the rounds' ratios: each round times both tools back to back.
    all_ratio = dk["process_all_cores_round_median"]
    row(f"DKIM verify, {dk['messages']:,} signed msgs, all cores, whole process (per-round median)",
        f"{dk['messages']/dk['trove_all_s']:.0f} msg/s", f"dkimpy {dk['messages']/py_whole:.0f} msg/s (whole process)",
        f"{all_ratio:.1f}×", "≥ 30×", all_ratio >= 30)
dk_loop = dk["dkimpy_s"] / dk["trove_loop_s"]
row("DKIM verify loop vs loop, 1 core", f"{dk['messages']/dk['trove_loop_s']:.0f} msg/s",
    f"dkimpy {dk['messages']/dk['dkimpy_s']:.0f} msg/s", f"{dk_loop:.1f}×", "≥ 30×", dk_loop >= 30)
row(f"web /api/v1/search, {web['items']:,} items, {web['connections']} conns", f"{web['rps']:.0f} req/s, p99 {web['p99_ms']:.0f} ms",
    "", "", "≥ 2000 req/s, p99 < 50 ms", web["rps"] >= 2000 and web["p99_ms"] < 50)
base = gro[0]["seconds"] / gro[0]["messages"]
growth = (big["seconds"] / big["messages"]) / base
row(f"per-message ingest cost, {gro[0]['messages']:,} → {big['messages']:,}", f"{growth:.2f}×", "", "", "≤ 1.3×",
    growth <= 1.3 and big["messages"] >= 1_000_000)
peak = max(g["peak_rss_kb"] for g in gro)
row("peak RSS over the growth runs", f"{peak/1024:.0f} MB", "", "", "< 300 MB", peak < 300 * 1024)
floor_mb = size / 1e6 / ing["read_s"]
dkimpy_version = ver(["python3", "-c", "import importlib.metadata as m; print(m.version('dkimpy'))"])
out = [f"## Summary, {datetime.date.today()} (bench/run.sh)", "",
       f"Machine: {platform.machine()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB. "
       f"Versions: {ver(['target/release/trove', '--version'])}; {ver(['notmuch', '--version'])}; {ver(['mu', '--version'])}; "
       f"dkimpy {dkimpy_version}; {ver(['wrk', '-v'])}.",
       f"Corpus: linux-mips {ing['years']}, {n:,} messages, {size/1e6:.0f} MB maildir.", "",
       "| measure | trove | peer | ratio | target | holds |", "|---|---|---|---|---|---|", *rows, "",
       f"The floor: reading the corpus (`cat`, warm cache) takes {ing['read_s']:.2f} s ({floor_mb:.0f} MB/s, {n/ing['read_s']:.0f} msg/s); "
       f"mail-parser alone parses it at {flo['one_core_msgs_per_s']:.0f} msg/s on one core and {flo['all_cores_msgs_per_s']:.0f} msg/s on {flo['threads']}. "
       f"trove's ingest runs at {rate('trove')/flo['all_cores_msgs_per_s']*100:.1f}% of the parse-only rate and "
       f"{rate('trove')/(n/ing['read_s'])*100:.1f}% of the read rate.", ""]
text = "\n".join(out)
print(text)
open("bench/results.md", "a").write("\n" + text + "\n")