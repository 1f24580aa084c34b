"""Independent verifier for trove's proofs: RFC 9162 hashing with hashlib, C2SP signed notes
with the `cryptography` package's Ed25519. Shares no code with trove.

  tlog.py inclusion PROVE.jsonl        # lines of `trove prove --json`
  tlog.py consistency OLD_ROOT_HEX CONSISTENCY.json
  tlog.py excerpt FILE VERIFIER_KEY    # a .trove-excerpt bundle

Prints "ok ..." and exits 0, or prints the failure and exits 1.
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_inclusion(leaf, index, size, proof, root):
    # RFC 9162 section 2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old, new, proof):
    # RFC 9162 section 2.1.4.2
    if m == n:
        return not proof and old == new
    path = list(proof)
    if m & (m - 1) == 0:
        path.insert(0, old)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old and sr == new


def note_text(note, vkey):
    """Checks a signed note against a verifier key; returns its text."""
    name, key_id, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1, "not an Ed25519 verifier key"
    pub = raw[1:]
    want_id = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    assert want_id.hex() == key_id, "verifier key id mismatch"
    split = note.rindex("\n\n")
    text, sigs = note[: split + 1], note[split + 2 :]
    for line in sigs.splitlines():
        assert line.startswith("\u2014 "), "bad signature line"
        who, b64 = line[2:].split(" ", 1)
        sig = base64.b64decode(b64)
        if who == name and sig[:4] == want_id:
            Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], text.encode())
            return text
    raise AssertionError("no signature by " + name)


def checkpoint(text):
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def inclusion(path):
    n = 0
    for line in open(path):
        p = json.loads(line)
        origin, size, root = checkpoint(note_text(p["checkpoint"], p["verifier_key"]))
        assert size == p["tree_size"] and root.hex() == p["root"], "checkpoint body"
        leaf = p["leaf"].encode()
        assert leaf_hash(leaf).hex() == p["leaf_hash"], "leaf hash"
        assert leaf.decode().split("\n")[1] == "raw " + p["raw_sha256"], "leaf names the item"
        proof = [base64.b64decode(h) for h in p["proof"]]
        assert verify_inclusion(leaf_hash(leaf), p["leaf_index"], size, proof, root), "inclusion"
        n += 1
    print("ok", n, "inclusion proofs")


def consistency(old_root_hex, path):
    c = json.load(open(path))
    proof = [base64.b64decode(h) for h in c["proof"]]
    assert c["old_root"] == old_root_hex, "old root is not the old checkpoint's"
    ok = verify_consistency(
        c["old_size"], c["new_size"], bytes.fromhex(c["old_root"]), bytes.fromhex(c["new_root"]), proof
    )
    assert ok, "consistency proof does not verify"
    print("ok consistency", c["old_size"], "->", c["new_size"])


def excerpt(path, vkey):
    data = open(path, "rb").read()
    b = json.loads(data)
    # The bundle signature signs the bundle with an empty signature field.
    sig_json = json.dumps(b["signature"], ensure_ascii=False).encode()
    unsigned = data.replace(b'"signature":' + sig_json, b'"signature":""', 1)
    text = note_text(b["signature"], vkey)
    assert text == "trove-excerpt/v1\n" + hashlib.sha256(unsigned).hexdigest() + "\n", "bundle signature"
    _, size, root = checkpoint(note_text(b["checkpoint"], vkey))
    leaves = [(i, True) for i in b["items"]] + [(l, False) for c in b["conversations"] for l in c["leaves"]]
    for item, is_item in leaves:
        leaf = item["leaf"].encode()
        proof = [base64.b64decode(h) for h in item["proof"]]
        assert verify_inclusion(leaf_hash(leaf), item["leaf_index"], size, proof, root), "inclusion"
        if is_item and item["raw"] is not None:
            raw_sha = hashlib.sha256(base64.b64decode(item["raw"])).hexdigest()
            assert leaf.decode().split("\n")[1] == "raw " + raw_sha, "raw bytes"
    print("ok excerpt", len(leaves), "leaves")


if __name__ == "__main__":
    cmd = sys.argv[1]
    try:
        if cmd == "inclusion":
            inclusion(sys.argv[2])
        elif cmd == "consistency":
            consistency(sys.argv[2], sys.argv[3])
        elif cmd == "excerpt":
            excerpt(sys.argv[2], sys.argv[3])
        else:
            raise SystemExit("unknown command " + cmd)
    except Exception as e:  # noqa: BLE001 - any failure is a verification failure
        print("FAIL", type(e).__name__, e)
        sys.exit(1)
