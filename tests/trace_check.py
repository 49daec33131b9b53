#!/usr/bin/env python3
"""trace_check.py TRACE.json - checks a GORT_TRACE file: it parses as
Chrome Trace Event JSON, every flow arrow has both ends, slices have
sane durations, goroutine slices on one P track never overlap, begin/end
pairs balance per track, and the program's goroutines, foreign calls and
callbacks all appear."""
import collections
import json
import sys

d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
errors = []
flows = collections.defaultdict(set)
slices = collections.defaultdict(list)
depth = collections.Counter()
names = collections.Counter()
for e in ev:
    ph = e["ph"]
    names[e.get("name", "")] += 1
    if ph in ("s", "f"):
        flows[e["id"]].add(ph)
    elif ph == "X":
        if e["dur"] < 0:
            errors.append("negative duration: %r" % e)
        if e.get("cat") == "goroutine":
            slices[e["tid"]].append((e["ts"], e["ts"] + e["dur"], e["name"]))
    elif ph == "B":
        depth[e["tid"]] += 1
    elif ph == "E":
        depth[e["tid"]] -= 1
        if depth[e["tid"]] < 0:
            errors.append("E without B on track %d" % e["tid"])
# A goroutine readied just before the program ends may never run again
# (main returned): a few arrows without an end are expected; one that ends
# without a start never is.
dangling = [fid for fid, ends in flows.items() if ends == {"s"}]
if len(dangling) > 3:
    errors.append("%d flows never end: %s" % (len(dangling), dangling[:10]))
for fid, ends in flows.items():
    if "s" not in ends:
        errors.append("flow %d ends without a start" % fid)
for tid, ss in slices.items():
    ss.sort()
    for a, b in zip(ss, ss[1:]):
        if a[1] > b[0] + 0.001:
            errors.append("overlapping slices on P%d: %r and %r" % (tid, a, b))
for tid, n in depth.items():
    if n:
        errors.append("unbalanced B/E on track %d" % tid)
need = {"G1": "main goroutine", "G2": "echo goroutine", "C call": "foreign calls"}
for name, what in need.items():
    if not names[name]:
        errors.append("no %s (%s) in the trace" % (what, name))
if not any(n.startswith("callback G") for n in names):
    errors.append("no callback slices")
if len(flows) < 50:
    errors.append("only %d flow arrows for 100 channel hand-offs" % len(flows))
for e in errors[:20]:
    print("FAIL:", e)
print("trace: %d events, %d flows, %d goroutine slices, %d errors"
      % (len(ev), len(flows), sum(len(s) for s in slices.values()), len(errors)))
sys.exit(1 if errors else 0)
