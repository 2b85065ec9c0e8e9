#!/usr/bin/python3
"""Derive a truth file (one JSON line per client request) from a capture
and the steps file its scenario wrote.

A step's client leg is every CoAP message (empty ACK/RST left out) between
the client's address and port and the proxy; its port is that of the first
request from the client's address to the proxy inside the step's window.
A response the proxy sent to 127.0.0.1 on the client's port (node-coap
does that with its own errors) counts too. The server leg is every
non-empty message between the origin and any other endpoint whose
(endpoint, token) was first used by a request inside the step's window;
later frames with the same key belong to the latest such step.

Transformations are then read off the two legs; PROXIES.md lists them.
notes.json beside this script adds a hand-written note to some requests
(checked against the capture with tshark; keyed capture:n).

usage: truth.py CAPTURE STEPS > TRUTH
       (STEPS may be the capture's truth file: it keeps each window)
"""

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

FIELDS = [
    "frame.number", "frame.time_epoch", "ip.src", "udp.srcport", "ip.dst",
    "udp.dstport", "coap.type", "coap.mid", "coap.token", "coap.code",
    "coap.opt.uri_path", "coap.opt.uri_query", "coap.opt.proxy_uri",
    "coap.opt.proxy_scheme", "coap.opt.uri_host", "coap.opt.block_number",
    "coap.opt.block_size", "coap.opt.block_mflag",
    "coap.opt.observe", "coap.opt.max_age", "coap.opt.hop_limit",
    "coap.payload_length", "coap.block_length",
]

CODES = {1: "GET", 2: "POST", 3: "PUT", 4: "DELETE", 5: "FETCH", 6: "PATCH", 7: "iPATCH"}


def code_str(c):
    return CODES.get(c) or "%d.%02d" % (c >> 5, c & 31)


def values(v, field):
    return [x for x in v[field].replace(",", "|").split("|") if x]


def blocks(v, field):
    return values(v, field)[: len(values(v, "coap.opt.block_number"))]


def frames(pcap):
    cmd = ["tshark", "-n", "-r", pcap, "-Y", "coap", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        code = int(v["coap.code"] or 0)
        yield {
            "no": int(v["frame.number"]),
            "t": float(v["frame.time_epoch"]),
            "src": "%s:%s" % (v["ip.src"], v["udp.srcport"]),
            "dst": "%s:%s" % (v["ip.dst"], v["udp.dstport"]),
            "type": int(v["coap.type"]),
            "mid": int(v["coap.mid"]),
            "token": v["coap.token"],
            "code": code,
            "path": v["coap.opt.uri_path"].split("|") if v["coap.opt.uri_path"] else [],
            "query": v["coap.opt.uri_query"].split("|") if v["coap.opt.uri_query"] else [],
            "proxy_uri": v["coap.opt.proxy_uri"],
            "proxy_scheme": v["coap.opt.proxy_scheme"],
            "uri_host": v["coap.opt.uri_host"],
            # tshark 4.0 also shows Size1/Size2 as a block size: only the
            # first as many values as there are block numbers are blocks.
            "szx": set(blocks(v, "coap.opt.block_size")),
            "more": blocks(v, "coap.opt.block_mflag"),
            "observe": v["coap.opt.observe"],
            "max_age": v["coap.opt.max_age"],
            "hop_limit": v["coap.opt.hop_limit"],
            # a last block shows the reassembled length as payload_length
            "body": int(v["coap.block_length"] or v["coap.payload_length"] or 0),
        }


def is_req(f):
    return 1 <= f["code"] < 32


def uniq(vals):
    """Values in order, retransmissions (repeats) left out."""
    seen = []
    for v in vals:
        if v not in seen:
            seen.append(v)
    return seen


def uniq_mid(fs):
    """Frames with a Message ID not seen before from the same sender."""
    seen, out = set(), []
    for f in fs:
        if (f["src"], f["mid"]) not in seen:
            seen.add((f["src"], f["mid"]))
            out.append(f)
    return out


def transformations(step, cl, sv):
    t = []
    creq = [f for f in cl if is_req(f)]
    cresp = [f for f in cl if f["code"] >= 64]
    sreq = [f for f in sv if is_req(f)]
    sresp = [f for f in sv if f["code"] >= 64]
    if not cresp:
        t.append("no-response")
    if creq and sreq:
        c, s = creq[0], sreq[0]
        if c["mid"] != s["mid"]:
            t.append("mid-rewrite")
        if c["token"] != s["token"]:
            t.append("token-rewrite")
        if c["type"] != s["type"]:
            t.append("type-changed")
        u = urlsplit(step["uri"])
        want_path = [p for p in u.path.split("/") if p]
        want_query = [q for q in u.query.split("&") if q]
        if c["proxy_uri"] and not s["proxy_uri"]:
            if s["path"] == want_path and s["query"] == want_query:
                t.append("proxy-uri-decomposed")
            else:
                t.append("proxy-uri-removed")
        if c["proxy_scheme"] and not s["proxy_scheme"]:
            t.append("proxy-scheme-removed")
        if c["uri_host"] and not s["uri_host"]:
            t.append("uri-host-removed")
        if s["uri_host"] and not c["uri_host"]:
            t.append("uri-host-added")
        if want_path and not s["path"]:
            t.append("path-dropped")
        elif c["path"] and s["path"] and c["path"] != s["path"]:
            t.append("path-rewritten")
        if u.query and not s["query"]:
            t.append("query-dropped")
        if c["hop_limit"] and s["hop_limit"] and c["hop_limit"] != s["hop_limit"]:
            t.append("hop-limit-decremented")
        elif c["hop_limit"] and not s["hop_limit"]:
            t.append("hop-limit-removed")
    cszx = set().union(*[f["szx"] for f in cl]) if cl else set()
    sszx = set().union(*[f["szx"] for f in sv]) if sv else set()
    if (cszx or sszx) and cszx != sszx:
        t.append("reblock")
    if step["method"] in ("GET", "FETCH") and creq and cresp:
        asked = [int(x) for f in creq for x in f["szx"]]
        got = [int(x) for f in cresp for x in f["szx"]]
        if asked and got and max(got) > min(asked):
            t.append("block2-size-ignored")
        if cresp[-1]["more"] == ["1"]:
            t.append("body-incomplete")
    if step["method"] in ("PUT", "POST") and creq and sreq:
        cbody = sum(f["body"] for f in uniq_mid(creq))
        sbody = sum(f["body"] for f in uniq_mid(sreq))
        if cbody != sbody:
            t.append("request-body-%d-of-%d-bytes" % (sbody, cbody))
        last = uniq_mid(creq)[-1]
        slast = uniq_mid(sreq)[-1]
        if (last["more"][:1] == ["1"] and slast["more"][:1] != ["1"]
                and cresp and cresp[-1]["code"] != 95):
            t.append("block1-cut-short")
    if len(creq) != len(sreq) and sreq:
        t.append("request-count-differs")
    cobs = uniq([f["observe"] for f in cresp if f["observe"]])
    sobs = uniq([f["observe"] for f in sresp if f["observe"]])
    if cobs and sobs and cobs[: len(sobs)] != sobs[: len(cobs)]:
        t.append("observe-renumbered")
    if len(sobs) > len(cobs) and cobs:
        t.append("notifications-not-relayed")
    cma = [int(f["max_age"]) for f in cresp if f["max_age"]]
    sma = [int(f["max_age"]) for f in sresp if f["max_age"]]
    if sma and cma and min(cma) < min(sma):
        t.append("max-age-reduced")
    elif sma and not cma and cresp:
        t.append("max-age-removed")
    if cresp and not sresp:
        t.append("own-" + code_str(cresp[-1]["code"]))
    elif cresp and sresp and cresp[-1]["code"] != sresp[-1]["code"]:
        t.append("own-" + code_str(cresp[-1]["code"]))
    if cresp and cresp[0]["type"] == 0 and sresp and sresp[0]["type"] == 2:
        t.append("piggyback-to-separate")
    if any(f["dst"].startswith("127.0.0.1:") and f["src"] == step["proxy"] for f in cl):
        t.append("response-misaddressed")
    return t


def main(pcap, steps_path):
    here = os.path.dirname(os.path.abspath(__file__))
    notes = json.load(open(os.path.join(here, "notes.json")))
    name = os.path.basename(pcap).rsplit(".", 1)[0]
    steps = [json.loads(l) for l in open(steps_path)]
    for st in steps:  # a truth file can stand in for its steps file
        if "window" in st:
            st["start"], st["end"] = st["window"]
            st["client"] = st["client"].rsplit(":", 1)[0]
    fs = list(frames(pcap))
    # client endpoint of each step
    for st in steps:
        st["ep"] = None
        for f in fs:
            if (st["start"] <= f["t"] < st["end"] and f["src"].rsplit(":", 1)[0] == st["client"]
                    and f["dst"] == st["proxy"] and is_req(f)):
                st["ep"] = f["src"]
                break
    # server-leg keys: (proxy-side endpoint, token) -> steps, in order
    owner = {}
    for st in steps:
        for f in fs:
            if (st["start"] <= f["t"] < st["end"] and f["dst"] == st["server"] and is_req(f)
                    and f["src"] != st["ep"]):
                owner.setdefault((f["src"], f["token"]), []).append((f["t"], st["n"]))
    by_n = {st["n"]: st for st in steps}
    servers = {st["server"] for st in steps}
    client, server = {st["n"]: [] for st in steps}, {st["n"]: [] for st in steps}
    for f in fs:
        if f["code"] == 0:
            continue
        for st in steps:
            port = st["ep"] and st["ep"].rsplit(":", 1)[1]
            ends = {f["src"], f["dst"]}
            if st["ep"] in ends and st["proxy"] in ends or (
                    f["src"] == st["proxy"] and f["dst"] == "127.0.0.1:%s" % port):
                client[st["n"]].append(f)
                break
        else:
            other = f["dst"] if f["src"] in servers else f["src"]
            cands = [n for (t, n) in owner.get((other, f["token"]), []) if t <= f["t"]]
            if cands and by_n[cands[-1]]["server"] in (f["src"], f["dst"]):
                server[cands[-1]].append(f)
    for st in steps:
        n = st["n"]
        cl, sv = client[n], server[n]
        sp = next((f["src"] for f in sv if is_req(f)), None)
        out = {
            "n": n,
            "client": st["ep"],
            "proxy": st["proxy"],
            "proxy_out": sp,
            "server": st["server"],
            "method": st["method"],
            "uri": st["uri"],
            "client_frames": [f["no"] for f in cl],
            "server_frames": [f["no"] for f in sv],
            "client_code": code_str(next((f["code"] for f in reversed(cl) if f["code"] >= 64), 0)) if any(f["code"] >= 64 for f in cl) else None,
            "server_code": code_str(next((f["code"] for f in reversed(sv) if f["code"] >= 64), 0)) if any(f["code"] >= 64 for f in sv) else None,
            "transformations": transformations(st, cl, sv),
            "window": [st["start"], st["end"]],
        }
        if "%s:%d" % (name, n) in notes:
            out["note"] = notes["%s:%d" % (name, n)]
        print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:3])
