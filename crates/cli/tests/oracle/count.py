#!/usr/bin/env python3
"""Independent oracle for search counts: reads the raw messages straight from the corpus tarballs
with Python's own `email` package (no trove code) and counts the messages matching simple
predicates. Prints a JSON object {name: count}.

usage: count.py SPEC.json TARBALL...
SPEC is a list of {"name", "op", ...}; ops: from (address), subject_word, body_phrase (words),
date_range (from, to: unix seconds, half-open), and/or/not over other named specs.
"""
import email, email.utils, json, re, sys, tarfile, unicodedata
from email import policy
from email.header import decode_header, make_header

WORD = re.compile(r"[^\W_]+")

def fold(s):
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c)).lower()

def tokens(s):
    return [t for t in (fold(w) for w in WORD.findall(s or "")) if len(t.encode()) <= 48]

def decoded(v):
    if v is None:
        return ""
    try:
        return str(make_header(decode_header(str(v))))
    except Exception:
        return str(v)

def body_text(msg):
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_type() != "text/plain":
            continue
        if (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
            continue
        if part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            parts.append(payload.decode(charset, errors="replace"))
        except LookupError:
            parts.append(payload.decode("latin-1"))
    return "\n".join(parts)

def has_phrase(toks, phrase):
    n = len(phrase)
    return any(toks[i:i + n] == phrase for i in range(len(toks) - n + 1))

def main():
    specs = json.load(open(sys.argv[1]))
    msgs = []
    for path in sys.argv[2:]:
        with tarfile.open(path) as t:
            for m in t:
                if m.isfile():
                    msgs.append(email.message_from_bytes(t.extractfile(m).read(), policy=policy.compat32))
    sets = {}
    for spec in specs:
        op, hits = spec["op"], set()
        if op in ("and", "or"):
            parts = [sets[n] for n in spec["of"]]
            hits = set.intersection(*parts) if op == "and" else set.union(*parts)
        elif op == "not":
            hits = set(range(len(msgs))) - sets[spec["of"]]
        else:
            for i, msg in enumerate(msgs):
                if op == "from":
                    addrs = [a.lower() for _, a in email.utils.getaddresses([decoded(v) for v in msg.get_all("From", [])])]
                    ok = spec["address"] in addrs
                elif op == "subject_word":
                    ok = spec["word"] in tokens(decoded(msg.get("Subject")))
                elif op == "body_phrase":
                    ok = has_phrase(tokens(body_text(msg)), spec["words"])
                elif op == "date_range":
                    try:
                        ts = email.utils.parsedate_to_datetime(msg.get("Date")).timestamp()
                        ok = spec["from"] <= ts < spec["to"]
                    except Exception:
                        ok = False
                if ok:
                    hits.add(i)
        sets[spec["name"]] = hits
    print(json.dumps({k: len(v) for k, v in sets.items()}))

main()
