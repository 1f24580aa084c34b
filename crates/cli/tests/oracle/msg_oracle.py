"""Independent .msg reader for the Outlook tests: Python extract-msg (PyPI), one JSON object
keyed by path with class, subject, sender, to, cc, body and attachment names."""
import sys, json, extract_msg
out = {}
for path in sys.argv[1:]:
    try:
        m = extract_msg.openMsg(path, strict=False)
    except Exception as e:
        out[path] = {"error": str(e)}
        continue
    cls = getattr(m, "classType", None) or ""
    atts = []
    for a in getattr(m, "attachments", []) or []:
        n = getattr(a, "longFilename", None) or getattr(a, "shortFilename", None) or getattr(a, "displayName", None)
        atts.append(n)
    body = None
    try:
        body = m.body
    except Exception:
        pass
    out[path] = {"class": cls, "subject": getattr(m, "subject", None), "sender": getattr(m, "sender", None),
                 "to": getattr(m, "to", None), "cc": getattr(m, "cc", None), "body": body, "attachments": atts}
print(json.dumps(out, default=str))
