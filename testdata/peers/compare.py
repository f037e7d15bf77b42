#!/usr/bin/env python3
"""Prints the side-by-side table of testdata/peers/side-by-side.sh: each
tool's TTFT, TPOT, ITL, E2EL, throughput and peak concurrency as the tool
itself reports it, the server's own figures from its /metrics over that
tool's run, and each tool's own cost (wall and CPU seconds).

Only the standard library: it runs under any python3."""
import argparse
import json
import math
import re
from pathlib import Path

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LE = re.compile(r'le="([^"]+)"')


def scrape(path):
    """Sums every series of a Prometheus text page by name (and, for
    buckets, by upper bound)."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            x = float(value)
        except ValueError:
            continue
        key = name
        if name.endswith("_bucket"):
            le = LE.search(labels)
            if not le:
                continue
            key = (name, float(le.group(1)))
        out[key] = out.get(key, 0.0) + x
    return out


def hist_quantile(before, after, name, q):
    """Prometheus's histogram_quantile over the increase between two pages:
    linear within the bucket that holds the rank."""
    total = after.get(name + "_count", 0) - before.get(name + "_count", 0)
    if total <= 0:
        return None
    bs = sorted((k[1], after[k] - before.get(k, 0)) for k in after if isinstance(k, tuple) and k[0] == name + "_bucket")
    rank, lo, below = q * total, 0.0, 0.0
    for le, n in bs:
        if math.isinf(le):
            return lo
        if n >= rank:
            return lo + (le - lo) * (rank - below) / (n - below) if n > below else le
        lo, below = le, n
    return lo


def server(out, tool):
    b, a = scrape(out / f"{tool}.metrics-before"), scrape(out / f"{tool}.metrics-after")
    d = lambda k: a.get(k, 0) - b.get(k, 0)
    n = d("vllm:e2e_request_latency_seconds_count")
    itl = "vllm:inter_token_latency_seconds" if "vllm:inter_token_latency_seconds_count" in a else "vllm:time_per_output_token_seconds"
    mean = lambda h: 1000 * d(h + "_sum") / d(h + "_count") if d(h + "_count") > 0 else None
    ms = lambda h, q: (lambda x: None if x is None else 1000 * x)(hist_quantile(b, a, h, q))
    return {
        "requests": n,
        "prompt tokens / req": d("vllm:prompt_tokens_total") / n if n else None,
        "output tokens / req": d("vllm:generation_tokens_total") / n if n else None,
        "mean TTFT": mean("vllm:time_to_first_token_seconds"),
        "p50 TTFT": ms("vllm:time_to_first_token_seconds", 0.5),
        "p99 TTFT": ms("vllm:time_to_first_token_seconds", 0.99),
        "mean ITL": mean(itl),
        "p50 ITL": ms(itl, 0.5),
        "mean E2EL": mean("vllm:e2e_request_latency_seconds"),
        "p50 E2EL": ms("vllm:e2e_request_latency_seconds", 0.5),
        "p99 E2EL": ms("vllm:e2e_request_latency_seconds", 0.99),
    }


def peak(spans):
    """The most requests in flight at once (an end before a start at one instant)."""
    ev = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, x in ev:
        cur += x
        best = max(best, cur)
    return best


def vllm_like(d):
    """perfgate's result.json level and vLLM's result share vLLM's keys."""
    return {
        "requests": d["completed"],
        "mean TTFT": d["mean_ttft_ms"], "p50 TTFT": d["median_ttft_ms"], "p99 TTFT": d["p99_ttft_ms"],
        "mean TPOT": d["mean_tpot_ms"], "mean ITL": d["mean_itl_ms"], "p50 ITL": d["median_itl_ms"],
        "mean E2EL": d["mean_e2el_ms"], "p50 E2EL": d["median_e2el_ms"], "p99 E2EL": d["p99_e2el_ms"],
        "req/s": d["request_throughput"], "out tok/s": d["output_throughput"], "duration": d["duration"],
        "peak in flight": d["max_concurrent_requests"],
        "prompt tokens / req": d["total_input_tokens"] / d["completed"], "output tokens / req": d["total_output_tokens"] / d["completed"],
    }


def aiperf(out):
    a = json.loads((out / "aiperf" / "profile_export_aiperf.json").read_text())
    st = lambda k, s: (a.get(k) or {}).get(s)
    spans = []
    for line in (out / "aiperf" / "profile_export.jsonl").read_text().splitlines():
        m = json.loads(line)["metadata"]
        spans.append((m["request_start_ns"], m["request_end_ns"]))
    n = st("request_count", "avg")
    return {
        "requests": n,
        "mean TTFT": st("time_to_first_token", "avg"), "p50 TTFT": st("time_to_first_token", "p50"), "p99 TTFT": st("time_to_first_token", "p99"),
        # AIPerf's inter_token_latency is per request (latency − TTFT) / (tokens − 1): vLLM's TPOT
        "mean TPOT": st("inter_token_latency", "avg"),
        "mean ITL": st("inter_chunk_latency", "avg"), "p50 ITL": st("inter_chunk_latency", "p50"),
        "mean E2EL": st("request_latency", "avg"), "p50 E2EL": st("request_latency", "p50"), "p99 E2EL": st("request_latency", "p99"),
        "req/s": st("request_throughput", "avg"), "out tok/s": st("output_token_throughput", "avg"),
        "duration": st("benchmark_duration", "avg"), "peak in flight": peak(spans),
        "prompt tokens / req": (st("total_isl", "avg") or 0) / n if n else None,
        "output tokens / req": (st("total_osl", "avg") or 0) / n if n else None,
    }


def guidellm(out):
    g = json.loads((out / "guidellm.json").read_text())["benchmarks"][0]
    m = g["metrics"]
    st = lambda k, s, scale=1: (lambda v: None if v is None else v * scale)((m.get(k) or {}).get("successful", {}).get(s))
    pct = lambda k, p, scale=1: (lambda v: None if v is None else v * scale)((m.get(k) or {}).get("successful", {}).get("percentiles", {}).get(p))
    ok = g["requests"]["successful"]
    spans = [(r["info"]["timings"]["request_start"], r["info"]["timings"]["request_end"]) for r in ok]
    dur = max(e for _, e in spans) - min(s for s, _ in spans)
    return {
        "requests": len(ok),
        "mean TTFT": st("time_to_first_token_ms", "mean"), "p50 TTFT": st("time_to_first_token_ms", "median"), "p99 TTFT": pct("time_to_first_token_ms", "p99"),
        # GuideLLM's inter_token_latency_ms is per request (latency − TTFT) / (tokens − 1): vLLM's TPOT;
        # its time_per_output_token_ms divides the whole latency, TTFT included, by the tokens
        "mean TPOT": st("inter_token_latency_ms", "mean"), "mean ITL": None, "p50 ITL": None,
        "mean E2EL": st("request_latency", "mean", 1000), "p50 E2EL": st("request_latency", "median", 1000), "p99 E2EL": pct("request_latency", "p99", 1000),
        "req/s": len(ok) / dur if dur > 0 else None,
        "out tok/s": (st("output_token_count", "mean") or 0) * len(ok) / dur if dur > 0 else None,
        "duration": dur, "peak in flight": peak(spans),
        "prompt tokens / req": st("prompt_token_count", "mean"), "output tokens / req": st("output_token_count", "mean"),
        "GuideLLM TPOT (TTFT included)": st("time_per_output_token_ms", "mean"),
        "GuideLLM req/s": st("requests_per_second", "mean"),
    }


def cost(out, tool):
    wall, user, sys_ = (float(x) for x in (out / f"{tool}.time").read_text().split()[-3:])
    return {"wall s": wall, "CPU s": user + sys_}


def fmt(x):
    if x is None:
        return "—"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return f"{x:g}" if isinstance(x, float) else str(x)


def main():
    p = argparse.ArgumentParser()
    for a in ("--out", "--kind", "--rate", "--n", "--in", "--output-tokens", "--vllm-version", "--aiperf-version", "--guidellm-version"):
        p.add_argument(a, required=True)
    p.add_argument("--json", help="also write every figure here, for tests")
    o = p.parse_args()
    out = Path(o.out)
    level = json.loads(next((out / "perfgate-run").glob("*/result.json")).read_text())["levels"][0] if list((out / "perfgate-run").glob("*/result.json")) else json.loads((out / "perfgate-run" / "result.json").read_text())["levels"][0]
    tools = {
        "perfgate": vllm_like(level),
        f"vllm bench serve {o.vllm_version}": vllm_like(json.loads((out / "vllm" / "result.json").read_text())),
        f"AIPerf {o.aiperf_version}": aiperf(out),
        f"GuideLLM {o.guidellm_version}": guidellm(out),
    }
    keys = ["requests", "prompt tokens / req", "output tokens / req", "mean TTFT", "p50 TTFT", "p99 TTFT", "mean TPOT", "mean ITL", "p50 ITL",
            "mean E2EL", "p50 E2EL", "p99 E2EL", "req/s", "out tok/s", "duration", "peak in flight"]
    server_name = {"sim": "perfgate's simulator", "vllm": f"vLLM {o.vllm_version} (CPU)"}[o.kind]
    print(f"Server: {server_name}; traffic: {o.n} requests at {o.rate} req/s, constant arrivals, {o.__dict__['in']} prompt and "
          f"{o.output_tokens} output tokens, completions API, streamed. Latencies in ms; durations in s.\n")
    cols = list(tools)
    print("| figure | " + " | ".join(f"{c} | server during {c.split()[0]}" for c in cols) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in cols) + " |")
    srv = {c: server(out, t) for c, t in zip(cols, ["perfgate", "vllm", "aiperf", "guidellm"])}
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{fmt(tools[c].get(k))} | {fmt(srv[c].get(k))}" for c in cols) + " |")
    costs = {c: cost(out, t) for c, t in zip(cols, ["perfgate", "vllm", "aiperf", "guidellm"])}
    for k in ("wall s", "CPU s"):
        print(f"| tool's own {k} | " + " | ".join(f"{fmt(costs[c][k])} | " for c in cols) + " |")
    g = tools[cols[3]].get("GuideLLM TPOT (TTFT included)")
    print(f"\nGuideLLM's own time_per_output_token_ms (the whole latency over the tokens, TTFT included): {fmt(g)} ms; "
          f"its own requests_per_second (a mean of instantaneous rates): {fmt(tools[cols[3]].get('GuideLLM req/s'))}.")
    if o.json:
        Path(o.json).write_text(json.dumps({"tools": tools, "server": srv, "cost": costs}, indent=1))


if __name__ == "__main__":
    main()
