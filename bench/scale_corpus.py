#!/usr/bin/env python3
"""Writes a scaled corpus for the growth benchmark: N messages as one gzip'd mbox (mboxrd), made
by replaying every linux-mips message in turn (in one fixed shuffled order, so every size has the
same mix). Replay k rewrites each Message-ID, In-Reply-To and
References id to <id.rK> (threads stay within their replay) and moves the Date header k*400 days
later, so every message is new bytes with a plausible date. Generated at bench time, never
committed.

    python3 bench/scale_corpus.py 100000 bench/work/scale-100000.mbox.gz
"""
import email.utils, gzip, random, re, sys, tarfile, datetime, glob, os

n, out = int(sys.argv[1]), sys.argv[2]
data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                    "email", "linux-mips")
messages = []
for path in sorted(glob.glob(os.path.join(data, "linux-mips-*.tar.gz"))):
    with tarfile.open(path) as t:
        for m in t:
            if m.isfile() and m.name.endswith(".eml"):
                messages.append(t.extractfile(m).read())
# A fixed shuffle, so every size holds the same mix of years and message sizes.
random.Random(42).shuffle(messages)
ids = re.compile(rb"<([^<>\s]+)>")
from_line = re.compile(rb"^(>*From )", re.M)

def rewrite(msg, k):
    end = msg.find(b"\n\n")
    head, body = (msg, b"") if end < 0 else (msg[:end + 1], msg[end + 1:])
    lines = re.split(rb"(?m)^(?=\S)", head)
    out = []
    for line in lines:
        name = line.split(b":", 1)[0].lower()
        if name in (b"message-id", b"in-reply-to", b"references"):
            line = ids.sub(lambda m: b"<%s.r%d>" % (m.group(1), k), line)
        elif name == b"date" and k:
            try:
                d = email.utils.parsedate_to_datetime(line.split(b":", 1)[1].decode().strip())
                line = b"Date: " + email.utils.format_datetime(
                    d + datetime.timedelta(days=400 * k)).encode() + b"\n"
            except Exception:
                pass
        out.append(line)
    return b"".join(out) + from_line.sub(rb">\1", body)

with gzip.open(out, "wb", compresslevel=1) as f:
    for i in range(n):
        k, m = divmod(i, len(messages))
        msg = rewrite(messages[m], k)
        f.write(b"From bench@example.org Thu Jan  1 00:00:00 2015\n")
        f.write(msg if msg.endswith(b"\n") else msg + b"\n")
        f.write(b"\n")
print(f"{n} messages from {len(messages)} originals")
