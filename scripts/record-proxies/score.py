#!/usr/bin/python3
"""Score coapaudit's linking of proxy legs against a truth file.

For each client request of the truth file, find the exchanges that hold
its client frames and those that hold its server frames: "linked" when
one exchange holds both legs and nothing of another request, "split"
when the legs are in different exchanges (or the server leg in none),
"merged" when an exchange also holds frames of another request. Then
count findings of severity medium and above by rule and certainty.

usage: coapaudit analyze --format ndjson CAPTURE | score.py TRUTH
"""

import collections
import json
import sys

truth = [json.loads(l) for l in open(sys.argv[1])]
recs = [json.loads(l) for l in sys.stdin]
exchanges = [r for r in recs if r.get("type") == "exchange"]
findings = [r for r in recs if r.get("type") == "finding"]

where = collections.defaultdict(set)  # frame -> exchange ids
for x in exchanges:
    for f in x.get("frames", []):
        where[f].add(x["id"])
line_of = {}
for t in truth:
    for f in t["client_frames"] + t["server_frames"]:
        line_of[f] = t["n"]

verdict = collections.Counter()
for t in truth:
    cx = set().union(*[where[f] for f in t["client_frames"]])
    sx = set().union(*[where[f] for f in t["server_frames"]]) if t["server_frames"] else set()
    others = {line_of.get(f) for x in exchanges if x["id"] in cx | sx for f in x["frames"]} - {t["n"], None}
    if not cx:
        v = "missing"
    elif others:
        v = "merged"
    elif not t["server_frames"]:
        v = "linked" if len(cx) == 1 else "split"
    elif len(cx) == 1 and cx == sx:
        v = "linked"
    else:
        v = "split"
    verdict[v] += 1
    print("n=%-3d %-7s client in %s, server in %s%s  %s %s" % (
        t["n"], v, ",".join(sorted(cx)) or "-", ",".join(sorted(sx)) or "-",
        " (also n=%s)" % ",".join(map(str, sorted(others))) if others else "",
        t["method"], t["uri"]))
print("requests %d: %s; exchanges %d" % (len(truth), dict(verdict), len(exchanges)))
sev = collections.Counter()
for f in findings:
    if f.get("severity") in ("medium", "high", "critical"):
        sev[(f["severity"], f["rule"], f.get("certainty"))] += 1
for (s, r, c), n in sorted(sev.items()):
    print("finding %-6s %-28s %-5s %d" % (s, r, c, n))
