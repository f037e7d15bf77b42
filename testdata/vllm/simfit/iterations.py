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

LINE = re.compile(r"Iteration\(\d+\): (\d+) context requests, (\d+) context tokens, "
                  r"(\d+) generation requests, (\d+) generation tokens, iteration elapsed time: ([\d.]+) ms")
EPOCH = re.compile(r"^(\d{9,}\.\d+) ")                    # iterations/logging.json's stamp
CLOCK = re.compile(r"(\d\d-\d\d \d\d:\d\d:\d\d)")    # vLLM's own, whole seconds
IDLE_MS = 50  # a longer gap between two steps' records is the engine idle, not time between steps


def steps(log, year):
    """(epoch seconds, precise stamp?, prefill tokens, decoding sequences, model ms) per step."""
    out = []
    for line in open(log, errors="replace"):
        m = LINE.search(line)
        if not m:
            continue
        e = EPOCH.match(line)
        if e:
            t, precise = float(e.group(1)), True
        else:
            c = CLOCK.search(line)
            t = datetime.datetime.strptime("%d-%s" % (year, c.group(1)), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            precise = False
        out.append((t, precise, int(m.group(2)), int(m.group(3)), float(m.group(5))))
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
        precise = all(s[1] for s in all_steps)
        sel = [s for s in all_steps if (lo <= s[0] <= hi if precise else int(lo) <= s[0] <= int(hi))]
        busy = sum(s[4] for s in sel) / 1000
        wall = hi - lo
        line = "**%s**: %d steps in %.1f s; model time %.1f s (%.0f %%)" % (name, len(sel), wall, busy, 100 * busy / wall)
        if precise:
            # from one step's record to the next, less the next step's own
            # model time: the time between them, unless the engine was idle
            between = [1000 * (b[0] - a[0]) - b[4] for a, b in zip(sel, sel[1:]) if 1000 * (b[0] - a[0]) < IDLE_MS]
            if between:
                line += "; between steps (records under %d ms apart): median %.2f ms, mean %.2f ms" % (
                    IDLE_MS, statistics.median(between), statistics.mean(between))
        print(line)
        decode, mixed, alone = defaultdict(list), [], []
        for _, _, ctx, gen, ms in sel:
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
