#!/usr/bin/env python3
# A queue adapter held in memory, for the adapter client's tests: publish,
# consume, read-from and last as docs/byo.md says. A publish of "garble"
# answers a position that is not one.
import json
import sys

log, pending = [], []
for line in sys.stdin:
    req = json.loads(line)
    f, v = req.get("f"), req.get("value")
    out = {"id": req["id"], "type": "ok"}
    if f == "publish":
        if v == "garble":
            out["value"] = "seven"
        else:
            log.append(v)
            pending.append(len(log))
            out["value"] = len(log)
    elif f == "consume":
        take, pending[:] = pending[: v["max"]], pending[v["max"]:]
        out["value"] = [{"seq": n, "value": log[n - 1]} for n in take]
    elif f == "read-from":
        start = v["from"] - 1
        out["value"] = [{"seq": start + 1 + i, "value": x} for i, x in enumerate(log[start:start + v["max"]])]
    elif f == "last":
        out["value"] = len(log)
    elif f != "ping":
        out = {"id": req["id"], "type": "fail", "error": "not served"}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
