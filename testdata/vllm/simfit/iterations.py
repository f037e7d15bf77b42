#!/usr/bin/env python3
"""Summarises vLLM's per-step log (--enable-logging-iteration-details).

    iterations.py SERVER_LOG MARKS      (standard library only)

MARKS has a line "NAME EPOCH_SECONDS" where each phase starts and "end
EPOCH_SECONDS" after the last. For each phase: how much of the wall time
the engine spent in its steps' model time (the rest is between steps:
scheduling, output processing, waiting for the CPU), the median step by
number of decoding sequences when the step decodes only, and what a
prefill token costs in a step that also decodes (the step's time less the
median decode-only step of the same batch, per prefill token) and alone.
vLLM's log has whole seconds; a phase takes the steps logged within it.
"""
import datetime
import re
import statistics
import sys
from collections import defaultdict

LINE = re.compile(r"INFO (\d\d-\d\d \d\d:\d\d:\d\d).*Iteration\(\d+\): (\d+) context requests, (\d+) context tokens, "
                  r"(\d+) generation requests, (\d+) generation tokens, iteration elapsed time: ([\d.]+) ms")


def steps(log, year):
    out = []
    for line in open(log, errors="replace"):
        m = LINE.search(line)
        if m:
            t = datetime.datetime.strptime("%d-%s" % (year, m.group(1)), "%Y-%m-%d %H:%M:%S")
            out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), int(m.group(3)), int(m.group(4)),
                        float(m.group(6))))
    return out


def main():
    marks = [l.split() for l in open(sys.argv[2]) if l.strip()]
    year = datetime.datetime.fromtimestamp(float(marks[0][1]), datetime.timezone.utc).year
    all_steps = steps(sys.argv[1], year)
    if not all_steps:
        sys.exit("no 'Iteration(' lines in %s: was vllm serve started with --enable-logging-iteration-details?" % sys.argv[1])
    mixed_all = []
    for (name, lo), (_, hi) in zip(marks, marks[1:]):
        lo, hi = float(lo), float(hi)
        sel = [s for s in all_steps if int(lo) <= s[0] <= int(hi)]
        busy = sum(s[3] for s in sel) / 1000
        wall = hi - lo
        print("**%s**: %d steps in %.1f s; model time %.1f s (%.0f %%), %.2f ms a step between steps" % (
            name, len(sel), wall, busy, 100 * busy / wall, 1000 * (wall - busy) / max(1, len(sel))))
        decode, mixed, alone = defaultdict(list), [], []
        for _, ctx, gen, ms in sel:
            if ctx == 0:
                decode[gen].append(ms)
            elif gen == 0:
                alone.append(ms / ctx)
            else:
                mixed.append((gen, ctx, ms))
        print("\n| decoding sequences | decode-only steps | median ms |\n| ---: | ---: | ---: |")
        for b in sorted(decode):
            if len(decode[b]) >= 5:
                print("| %d | %d | %.2f |" % (b, len(decode[b]), statistics.median(decode[b])))
        per_token = [(ms - statistics.median(decode[b])) / ctx for b, ctx, ms in mixed if len(decode[b]) >= 5]
        mixed_all += per_token
        print()
        if per_token:
            print("a prefill token beside decodes: %.4f ms (median of %d steps)" % (statistics.median(per_token), len(per_token)))
        if alone:
            print("a prefill token alone (a step's whole time over its tokens): %.4f ms (median of %d steps)" % (
                statistics.median(alone), len(alone)))
        print()
    if mixed_all:
        print("every phase: a prefill token beside decodes %.4f ms (median of %d steps)" % (
            statistics.median(mixed_all), len(mixed_all)))


main()
