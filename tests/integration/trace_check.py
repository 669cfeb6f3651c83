#!/usr/bin/env python3
"""Strict checker of Chrome Trace Event JSON (the /debug/pprof/trace output).

Checks a file against the Trace Event Format specification
(https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU):
the JSON object form ({"traceEvents": [...], "displayTimeUnit", "otherData"}),
the phase letters the specification defines, the fields each phase requires
(ts, pid, tid; dur for X; a scope for instant events; ids for async and flow
events; numeric args for counters; the five metadata names and their args),
B/E pairs balanced on each thread with matching names, complete (X) events of a
thread nested within each other (what trace viewers draw as a stack), and
metadata that names each process and thread once.

Usage: trace_check.py FILE [--min-events N] [--require-cat CAT ...]
Prints a one-line summary and exits 0, or prints every problem and exits 1.
"""
import json
import math
import sys
from collections import Counter, defaultdict

PHASES = set("BEXiICbnestfPNODMVvRc()")
DEPRECATED = set("SpTF")  # old async phases, still read by viewers
META_NAMES = {
    "process_name": ("name", str),
    "process_labels": ("labels", str),
    "process_sort_index": ("sort_index", int),
    "thread_name": ("name", str),
    "thread_sort_index": ("sort_index", int),
}
TOP_KEYS = {"traceEvents", "displayTimeUnit", "otherData", "systemTraceEvents", "stackFrames", "samples",
            "metadata", "controllerTraceDataKey", "powerTraceAsString"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def check(doc, min_events=1, require_cats=()):
    errs = []

    def err(i, msg):
        if len(errs) < 50:
            errs.append("event %d: %s" % (i, msg) if i is not None else msg)

    if not isinstance(doc, dict):
        return ["the top level is not a JSON object"], None
    for k in doc:
        if k not in TOP_KEYS:
            err(None, "unknown top-level key %r" % k)
    evs = doc.get("traceEvents")
    if not isinstance(evs, list):
        return ["traceEvents is missing or not an array"], None
    if "displayTimeUnit" in doc and doc["displayTimeUnit"] not in ("ms", "ns"):
        err(None, "displayTimeUnit must be \"ms\" or \"ns\", got %r" % doc["displayTimeUnit"])
    if "otherData" in doc and not isinstance(doc["otherData"], dict):
        err(None, "otherData must be an object")

    per_thread = defaultdict(list)  # (pid, tid) -> [(ts, order, ph, name, dur)]
    meta = Counter()
    cats = Counter()
    phases = Counter()
    for i, e in enumerate(evs):
        if not isinstance(e, dict):
            err(i, "not an object")
            continue
        ph = e.get("ph")
        if not isinstance(ph, str) or len(ph) != 1 or (ph not in PHASES and ph not in DEPRECATED):
            err(i, "ph %r is not a phase of the specification" % (ph,))
            continue
        phases[ph] += 1
        name = e.get("name")
        if "name" in e and not isinstance(name, str):
            err(i, "name is not a string")
        if ph not in "E" and not isinstance(name, str):
            err(i, "ph %s needs a name" % ph)
        if "cat" in e:
            if not isinstance(e["cat"], str):
                err(i, "cat is not a string")
            else:
                cats[e["cat"]] += 1
        if "args" in e and not isinstance(e["args"], dict):
            err(i, "args is not an object")
        if not is_int(e.get("pid")):
            err(i, "pid is missing or not an integer")
        for opt in ("tts", "tdur"):
            if opt in e and not is_num(e[opt]):
                err(i, "%s is not a number" % opt)

        if ph == "M":
            if name not in META_NAMES:
                err(i, "metadata name %r is not one of %s" % (name, ", ".join(sorted(META_NAMES))))
                continue
            key, typ = META_NAMES[name]
            args = e.get("args")
            if not isinstance(args, dict) or not isinstance(args.get(key), typ) or \
                    (typ is int and isinstance(args.get(key), bool)):
                err(i, "metadata %s needs args.%s (%s)" % (name, key, typ.__name__))
            if name.startswith("thread_") and not is_int(e.get("tid")):
                err(i, "metadata %s needs an integer tid" % name)
            if name.startswith("thread_") and name == "thread_name" and isinstance(args, dict) and \
                    isinstance(args.get("name"), str) and not args["name"]:
                err(i, "thread_name with an empty name")
            meta[(name, e.get("pid"), e.get("tid") if name.startswith("thread_") else None)] += 1
            continue

        # Every other phase has a timestamp (microseconds).
        ts = e.get("ts")
        if not is_num(ts):
            err(i, "ts is missing or not a number")
            continue
        if ts < 0:
            err(i, "ts is negative")
        needs_tid = ph in "BEXsftPRc()" or (ph in "iI" and e.get("s", "t") == "t")
        if needs_tid and not is_int(e.get("tid")):
            err(i, "ph %s needs an integer tid" % ph)
            continue
        if "tid" in e and not is_int(e["tid"]):
            err(i, "tid is not an integer")
        if ph == "X":
            if not is_num(e.get("dur")) or e["dur"] < 0:
                err(i, "a complete event needs dur >= 0")
                continue
        elif "dur" in e:
            err(i, "dur on a ph %s event" % ph)
        if ph in "iI":
            if e.get("s", "t") not in ("g", "p", "t"):
                err(i, "instant scope s must be g, p or t, got %r" % e.get("s"))
        elif "s" in e:
            err(i, "s (scope) on a ph %s event" % ph)
        if ph == "C":
            args = e.get("args")
            if not isinstance(args, dict) or not args or not all(is_num(v) for v in args.values()):
                err(i, "a counter needs args of numbers")
        if ph in "bneSTpFstfNOD":
            if "id" not in e and "id2" not in e:
                err(i, "ph %s needs an id" % ph)
        if ph in "bne" and not isinstance(e.get("cat"), str):
            err(i, "async ph %s needs a cat" % ph)
        if ph in "BEX":
            per_thread[(e["pid"], e["tid"])].append(
                (ts, i, ph, name, e.get("dur", 0)))

    # B/E: balanced per thread with matching names; X: nested per thread.
    for (pid, tid), lst in per_thread.items():
        stack = []
        for ts, i, ph, name, _ in sorted((x for x in lst if x[2] in "BE"), key=lambda x: (x[0], x[1])):
            if ph == "B":
                stack.append((name, i))
            elif not stack:
                err(i, "E %r on thread %d without a B" % (name, tid))
            else:
                bname, bi = stack.pop()
                if name is not None and name != bname:
                    err(i, "E %r on thread %d closes B %r (event %d)" % (name, tid, bname, bi))
        for name, bi in stack:
            err(bi, "B %r on thread %d is never ended" % (name, tid))
        open_x = []  # end times of the enclosing X events
        eps = 0.001  # the output has ns precision in microseconds
        for ts, i, ph, name, dur in sorted((x for x in lst if x[2] == "X"), key=lambda x: (x[0], -x[4], x[1])):
            while open_x and open_x[-1][0] <= ts + eps:
                open_x.pop()
            if open_x and ts + dur > open_x[-1][0] + eps:
                err(i, "X %r on thread %d [%.3f, %.3f] overlaps X %r (event %d) ending at %.3f without nesting"
                    % (name, tid, ts, ts + dur, open_x[-1][1], open_x[-1][2], open_x[-1][0]))
            open_x.append((ts + dur, name, i))

    for (name, pid, tid), c in meta.items():
        if c > 1:
            err(None, "metadata %s given %d times for pid %s tid %s" % (name, c, pid, tid))
    if not any(k[0] == "process_name" for k in meta):
        err(None, "no process_name metadata")
    n = sum(v for k, v in phases.items() if k != "M")
    if n < min_events:
        err(None, "%d events (besides metadata), want at least %d" % (n, min_events))
    for c in require_cats:
        if cats[c] == 0:
            err(None, "no event of category %r (categories: %s)" % (c, dict(cats)))
    return errs, (n, dict(phases), dict(cats), len(per_thread))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, min_events, cats = argv[1], 1, []
    rest = argv[2:]
    while rest:
        if rest[0] == "--min-events":
            min_events = int(rest[1])
            rest = rest[2:]
        elif rest[0] == "--require-cat":
            cats.append(rest[1])
            rest = rest[2:]
        else:
            print("unknown argument %s" % rest[0], file=sys.stderr)
            return 2

    def no_constant(c):
        raise ValueError("%s is not JSON" % c)

    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"), parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        print("%s: not strict JSON: %s" % (path, e))
        return 1
    errs, summary = check(doc, min_events, cats)
    if errs:
        for e in errs:
            print("%s: %s" % (path, e))
        return 1
    n, phases, cats_seen, threads = summary
    print("%s: valid Trace Event JSON: %d events on %d threads, phases %s, categories %s"
          % (path, n, threads, phases, cats_seen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
