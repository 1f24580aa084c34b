"""dkimpy's side of bench/dkim.sh: verify every DKIM-Signature of every message in a directory,
with keys from a key file answered through dkimpy's `dnsfunc` (no network), and print
`messages signatures pass seconds` for the timed loop."""
import os
import sys
import time

import dkim


def load_keys(path):
    keys = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, value = line.split(None, 1)
        keys[(name.rstrip(".") + ".").lower().encode()] = value.encode()
    return keys


def main():
    keys = load_keys(sys.argv[1])
    msgs = []
    for root, _, files in os.walk(sys.argv[2]):
        for f in sorted(files):
            if f.endswith(".eml"):
                with open(os.path.join(root, f), "rb") as fh:
                    # dkimpy verifies CRLF messages; trove converts LF itself, so both get CRLF.
                    msgs.append(fh.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    def dnsfunc(name, timeout=5):
        return keys.get(name.lower(), b"")

    sigs = passes = 0
    start = time.perf_counter()
    for m in msgs:
        d = dkim.DKIM(m)
        n = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
        for i in range(n):
            sigs += 1
            try:
                if d.verify(idx=i, dnsfunc=dnsfunc):
                    passes += 1
            except dkim.DKIMException:
                pass
    print(len(msgs), sigs, passes, f"{time.perf_counter() - start:.3f}")


main()
