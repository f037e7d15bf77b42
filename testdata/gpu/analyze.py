#!/usr/bin/env python3
"""Analyse a real-GPU check (check.sh): perfgate's NVML samples against
nvidia-smi's at the same moments, the A/A trials' noise and durations, and
GPU memory between trials. Writes summary.json and summary.txt to --out and
prints the summary. Standard library only (the device has no Go).

Exit status: 0 when every check passed, 1 when one failed, 2 when the input
was unusable.
"""

import argparse
import bisect
import csv
import datetime as dt
import glob
import json
import math
import os
import statistics
import sys

# perfgate's GPU probe key (after "gpuN.") -> nvidia-smi column, tolerance.
# Tolerances: utilization is averaged over driver windows that neither tool
# controls; power.draw and NVML's power usage are both ~1 s averages on
# Hopper; memory and clocks are read from the same counters.
FIELDS = [
    ("util_pct", "utilization.gpu", ("abs", 15.0)),
    ("sm_clock_mhz", "clocks.sm", ("rel", 0.05)),
    ("power_w", "power.draw", ("rel", 0.10)),
    ("mem_used_bytes", "memory.used", ("abs", 256 * 2**20)),
    ("temp_c", "temperature.gpu", ("abs", 2.0)),
]
SMI_COLUMNS = ["timestamp", "utilization.gpu", "clocks.sm", "power.draw", "memory.used", "temperature.gpu"]
GATING = ["median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms", "median_itl_ms", "median_e2el_ms", "p99_e2el_ms",
          "output_throughput", "request_throughput", "total_token_throughput"]


def parse_smi(path):
    """nvidia-smi --query-gpu=timestamp,... --format=csv,noheader,nounits:
    "2026/11/30 09:30:01.123, 97, 1980, 612.40, 40123, 51" per GPU per
    sample. Returns [(unix seconds, {column: float})] of GPU 0, in time
    order; unreadable lines and "[N/A]" values are left out and counted."""
    rows, bad = [], 0
    with open(path, newline="") as f:
        for rec in csv.reader(f):
            rec = [x.strip() for x in rec]
            if len(rec) != len(SMI_COLUMNS):
                bad += 1
                continue
            try:
                t = dt.datetime.strptime(rec[0], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.timezone.utc).timestamp()
            except ValueError:
                bad += 1
                continue
            vals = {}
            for name, x in zip(SMI_COLUMNS[1:], rec[1:]):
                try:
                    vals[name] = float(x)
                except ValueError:
                    pass  # [N/A], [Not Supported]
            if "memory.used" in vals:
                vals["memory.used"] *= 2**20  # MiB
            rows.append((t, vals))
    rows.sort(key=lambda r: r[0])
    # nvidia-smi -l prints one line per GPU per sample: keep the first GPU's.
    out, last = [], None
    for t, v in rows:
        if last is not None and abs(t - last) < 1e-4:
            continue
        out.append((t, v))
        last = t
    return out, bad


def run_folders(root):
    """Every run or trial folder under root (a folder with meta.json)."""
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(root, "**", "meta.json"), recursive=True))


def parse_time(s):
    # Go's RFC 3339 with nanoseconds: trim to microseconds for Python.
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        s = head + "." + (frac + "000000")[:6] + tz
    return dt.datetime.fromisoformat(s).timestamp()


def nvml_samples(folder):
    """perfgate's GPU samples of one run folder, on the wall clock."""
    with open(os.path.join(folder, "meta.json")) as f:
        start = parse_time(json.load(f)["start_wall"])
    out = []
    path = os.path.join(folder, "telemetry.jsonl")
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            try:
                s = json.loads(line)
            except ValueError:
                continue
            if s.get("probe") != "gpu":
                continue
            v = {k.split(".", 1)[1]: x for k, x in (s.get("values") or {}).items() if k.startswith("gpu0.")}
            out.append((start + s["t"] / 1e6, v))
    return out


def compare(nvml, smi, window=0.15):
    """Pairs each perfgate sample with the nvidia-smi sample nearest in
    time (within window seconds) and returns per field: pairs, median
    absolute difference, the share within tolerance."""
    times = [t for t, _ in smi]
    res = {}
    for key, col, (kind, tol) in FIELDS:
        diffs, ok = [], 0
        for t, v in nvml:
            if key not in v:
                continue
            i = bisect.bisect_left(times, t)
            best = None
            for j in (i - 1, i):
                if 0 <= j < len(times) and abs(times[j] - t) <= window and col in smi[j][1]:
                    if best is None or abs(times[j] - t) < abs(times[best] - t):
                        best = j
            if best is None:
                continue
            a, b = v[key], smi[best][1][col]
            d = abs(a - b)
            diffs.append(d)
            limit = tol if kind == "abs" else tol * max(abs(b), 1e-9)
            ok += d <= limit
        res[key] = {"vs": col, "pairs": len(diffs), "median_abs_diff": statistics.median(diffs) if diffs else None,
                    "within_tolerance": ok / len(diffs) if diffs else None,
                    "tolerance": f"±{tol:g}" + ("" if kind == "abs" else " relative")}
    return res


def cv(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if len(xs) < 2 or statistics.mean(xs) == 0:
        return None
    return statistics.stdev(xs) / abs(statistics.mean(xs))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smi", required=True)
    p.add_argument("--idle", required=True, help="the idle run's --out folder")
    p.add_argument("--aa", required=True, help="the A/A run's --out folder")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    smi, bad = parse_smi(a.smi)
    idle = run_folders(a.idle)
    trials = [d for d in run_folders(a.aa) if os.path.basename(d).startswith("trial-")]
    summary = {"smi_samples": len(smi), "smi_unreadable_lines": bad, "checks": {}}
    lines = []

    # (a) NVML against nvidia-smi, idle and loaded.
    for phase, folders in (("idle", idle), ("loaded", trials)):
        samples = [s for d in folders for s in nvml_samples(d)]
        c = compare(samples, smi)
        summary["nvml_" + phase] = {"perfgate_samples": len(samples), "fields": c}
        lines.append(f"NVML vs nvidia-smi, GPU {phase}: {len(samples)} perfgate samples")
        for key, r in c.items():
            if r["pairs"]:
                lines.append(f"  {key:15} vs {r['vs']:16} {r['pairs']:4} pairs, median |Δ| {r['median_abs_diff']:.4g}, "
                             f"{100 * r['within_tolerance']:.0f} % within {r['tolerance']}")
            else:
                lines.append(f"  {key:15} vs {r['vs']:16} no pairs")
        pairs = sum(r["pairs"] for r in c.values())
        good = all(r["within_tolerance"] is None or r["within_tolerance"] >= 0.9 for r in c.values())
        summary["checks"]["nvml_" + phase] = bool(pairs) and good

    # (b) A/A noise and trial durations.
    per_metric, durations, windows = {}, [], []
    trials.sort()
    for d in trials:
        try:
            with open(os.path.join(d, "result.json")) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        s, e = parse_time(r["started"]), parse_time(r["finished"])
        durations.append(e - s)
        windows.append((s, e))
        for lv in r.get("levels", []):
            for m in GATING:
                per_metric.setdefault(m, []).append(lv.get(m))
    noise = {m: cv(xs) for m, xs in per_metric.items()}
    windows.sort()
    between = [s1 - e0 for (_, e0), (s1, _) in zip(windows, windows[1:])]
    summary["aa"] = {"trials": len(trials), "trial_seconds": durations, "between_trials_seconds": between, "cv": noise}
    lines.append(f"A/A: {len(trials)} trials, each {', '.join(f'{x:.0f}' for x in durations)} s; "
                 f"{', '.join(f'{x:.0f}' for x in between) or 'no'} s between them (engine stop and start)")
    for m in GATING:
        if noise.get(m) is not None:
            lines.append(f"  {m:24} CV {100 * noise[m]:5.2f} %")
    summary["checks"]["aa_trials"] = len(trials) >= 2 and all(v is not None for v in noise.values()) and bool(noise)

    # (c) GPU memory between trials back at its idle level.
    idle_mem = [v["memory.used"] for t, v in smi if "memory.used" in v and (not windows or t < windows[0][0])]
    base = min(idle_mem) if idle_mem else None
    gaps = []
    for (s0, e0), (s1, _) in zip(windows, windows[1:]):
        m = [v["memory.used"] for t, v in smi if e0 < t < s1 and "memory.used" in v]
        if m:
            gaps.append(min(m))
    summary["memory"] = {"idle_bytes": base, "between_trials_min_bytes": gaps}
    if base is not None and gaps:
        worst = max(g - base for g in gaps)
        ok = worst <= 512 * 2**20
        lines.append(f"GPU memory between trials: back to {worst / 2**20:+.0f} MiB of idle ({base / 2**30:.1f} GiB) at worst")
    else:
        ok = False
        lines.append("GPU memory between trials: no nvidia-smi samples between trials")
    summary["checks"]["memory_released"] = ok

    passed = all(summary["checks"].values())
    lines.append("checks: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in summary["checks"].items()))
    text = "\n".join(lines) + "\n"
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    if not smi:
        return 2
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
