#!/usr/bin/env python3
"""Generates the echoes benchmark scenario as trove JSON Lines: POSTS public posts by 20 posters
over two years (daily bursts in waking hours) and PRIVATE DMs from 10 organisations to them, with
story links, rare terms, chance mentions and a few planted echoes. Deterministic (fixed seed)."""
import json, random, sys

posts = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
private = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
rng = random.Random(7)
T0 = 1_420_070_400  # 2015-01-01
SPAN = 730 * 86_400
orgs = [f"Org{i} Media" for i in range(10)]
posters = [f"Poster {i}" for i in range(20)]
vocab = [f"w{i}x" for i in range(50_000)]
weights = [1 / (i + 1) ** 1.1 for i in range(50_000)]


def words(n):
    return " ".join(rng.choices(vocab, weights, k=n))


out = sys.stdout
for i in range(posts):
    p = posters[i % 20]
    day = rng.randrange(730)
    t = T0 + day * 86_400 + 7 * 3600 + rng.randrange(15 * 3600)
    text = words(14)
    if rng.random() < 0.03:
        text += " " + rng.choice(orgs)
    out.write(json.dumps({"kind": "post", "native_id": f"p{i}", "sender": f"name:{p}", "timestamp": t, "text": text}) + "\n")
for c in range(private):
    o, p = rng.choice(orgs), rng.choice(posters)
    t = T0 + rng.randrange(SPAN)
    story = f"https://story{c}.example/a/{c}"
    out.write(json.dumps({"kind": "dm", "native_id": f"c{c}", "conversation": f"{o}|{p}", "sender": f"name:{o}",
                          "recipients": [f"name:{p}"], "timestamp": t, "urls": [story],
                          "text": f"{words(8)} see {story} kestrel{c} quill{c}"}) + "\n")
    if c % 50 == 0:
        out.write(json.dumps({"kind": "post", "native_id": f"e{c}", "sender": f"name:{p}", "timestamp": t + 900,
                              "text": f"{words(6)} http://www.story{c}.example/a/{c}/"}) + "\n")
