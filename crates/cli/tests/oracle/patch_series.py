#!/usr/bin/env python3
"""Independent oracle for threading: lists patch series in a linux-mips tarball.

Prints JSON: [{"cover": <Message-ID>, "parts": [<Message-ID>, ...]}] where each part's subject is
`[PATCH ... k/N]` (k >= 1) and its In-Reply-To names a `[PATCH ... 0/N]` cover letter of the same
tarball. Uses only Python's email package, nothing from trove.
"""
import email, json, re, sys, tarfile

COVER = re.compile(r"\[PATCH[^\]]*\b0+/\d+\]")
PART = re.compile(r"\[PATCH[^\]]*\b0*[1-9]\d*/\d+\]")

msgs = {}
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if not m.isfile():
            continue
        e = email.message_from_bytes(t.extractfile(m).read())
        mid = (e.get("Message-ID") or "").strip().strip("<>")
        if not mid or mid in msgs:
            continue
        subject = " ".join(str(e.get("Subject") or "").split())
        irt = (e.get("In-Reply-To") or "").strip().split()
        msgs[mid] = (subject, irt[0].strip("<>") if irt else "")

covers = {k for k, (s, _) in msgs.items() if COVER.search(s)}
series = {}
for k, (s, irt) in msgs.items():
    if PART.search(s) and irt in covers:
        series.setdefault(irt, []).append(k)
json.dump([{"cover": c, "parts": sorted(p)} for c, p in sorted(series.items())], sys.stdout)
