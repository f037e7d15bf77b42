#!/usr/bin/env python3
"""Separates what the step-time fit folds together, against a running vLLM.

    probe.py URL MODEL SERVER_PID [--only mixed] > probe.json   (standard library only)

1. Prompt handling: the TTFT of the same prompt sent as text and as token
   ids (tokenized once by the server's /tokenize), one request at a time, at
   four lengths. The difference is the API server's per-prompt work on text
   (tokenizing) that the fit's per-token slope holds beside the model's.
2. A prefix-cache hit: the TTFT of a prompt whose first 416 tokens (13
   blocks of 32) are cached, against the same length with nothing cached.
   What a hit saves is the model's work on those tokens, not the server's.
3. Who uses the two cores: 16 streams at once, streamed and not, for a fixed
   number of requests; CPU seconds of the API server, of the engine core
   (the server's child processes) and of this client, and the server's own
   mean time per output token (its /metrics histogram) in each mode.
4. What arrivals cost the running decodes: four streams decoding while
   requests of one output token arrive ten a second, with 8-token prompts
   (little prefill, the server's whole per-request work), 256- and 512-token
   prompts, against none arriving, in three rounds; the server's mean
   inter-token latency (an indirect measure; iterations.sh reads vLLM's own
   per-step log instead).

Prints one JSON object; testdata/vllm/simfit/run.sh runs it against the
real vLLM and against the simulator with the fitted step times. "--only
mixed" runs part 4 alone.
"""
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.request

URL, MODEL, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
ONLY = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--only" else None
WORDS = ("time person year way day thing man world life hand part child eye woman place work week case point "
         "government company number group problem fact house river stone cloud garden window market story").split()
rng = random.Random(7)


def post(path, body):
    req = urllib.request.Request(URL + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=300)


def tokenize(text):
    with post("/tokenize", {"model": MODEL, "prompt": text, "add_special_tokens": True}) as r:
        return json.load(r)["tokens"]


def text_of(n_tokens, salt):
    """A text prompt of about n_tokens tokens whose first word is salt (a
    different first block, so nothing is cached from an earlier prompt)."""
    words = [salt]
    while True:
        words += [rng.choice(WORDS) for _ in range(32)]
        ids = tokenize(" ".join(words))
        if len(ids) >= n_tokens:
            break
    while len(ids) > n_tokens and len(words) > 1:
        words.pop()
        ids = tokenize(" ".join(words))
    return " ".join(words), ids


def ttft(prompt, max_tokens=1):
    """Seconds to the first streamed token of one completions request."""
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "stream": True, "ignore_eos": True,
            "temperature": 0}
    t0 = time.perf_counter()
    first = None
    with post("/v1/completions", body) as r:
        for line in r:
            if first is None and line.startswith(b"data: ") and b'"text"' in line:
                first = time.perf_counter() - t0
    return first


def salt():
    return "w%06d" % rng.randrange(10**6)


def prompt_handling(reps=12):
    out = []
    for n in (32, 256, 768, 1536):
        t_text, t_ids = [], []
        for _ in range(reps):
            text, ids = text_of(n, salt())
            t_text.append(ttft(text))
            text2, ids2 = text_of(n, salt())
            t_ids.append(ttft(ids2))
        out.append({"tokens": n, "text_ttft_ms": 1e3 * statistics.median(t_text),
                    "ids_ttft_ms": 1e3 * statistics.median(t_ids)})
    return out


def prefix_hit(reps=12, prefix=416, suffix=256):
    ptext, pids = text_of(prefix, salt())
    pids = pids[:prefix]
    warm, cold = [], []
    ttft(pids + text_of(suffix + 8, salt())[1][1:suffix + 1])  # caches the prefix
    for _ in range(reps):
        _, sids = text_of(suffix + 8, salt())
        warm.append(ttft(pids + sids[1:suffix + 1]))  # the cached prefix, a new tail
        _, cids = text_of(prefix + suffix + 8, salt())
        cold.append(ttft(cids[:prefix + suffix]))
    return {"prefix_tokens": prefix, "suffix_tokens": suffix, "warm_ttft_ms": 1e3 * statistics.median(warm),
            "cold_ttft_ms": 1e3 * statistics.median(cold)}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(p))
            except OSError:
                pass
    return kids + [g for k in kids for g in children(k)]


def metric_sum_count(name):
    s = c = None
    with urllib.request.urlopen(URL + "/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "_sum"):
                s = (s or 0) + float(line.split()[-1])
            elif line.startswith(name + "_count"):
                c = (c or 0) + float(line.split()[-1])
    return s, c


def load(stream, conc=16, n=96, prompt_tokens=32, out_tokens=128):
    prompts = [text_of(prompt_tokens, salt())[1] for _ in range(n)]
    todo = list(prompts)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                p = todo.pop()
            body = {"model": MODEL, "prompt": p, "max_tokens": out_tokens, "stream": stream, "ignore_eos": True,
                    "temperature": 0}
            with post("/v1/completions", body) as r:
                for _ in r:
                    pass

    names = ("vllm:request_time_per_output_token_seconds", "vllm:time_per_output_token_seconds",
             "vllm:inter_token_latency_seconds")
    before = {m: metric_sum_count(m) for m in names}
    engine = children(PID)
    cpu0 = (cpu_seconds(PID), sum(cpu_seconds(k) for k in engine), sum(os.times()[:2]))
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = (cpu_seconds(PID), sum(cpu_seconds(k) for k in engine), sum(os.times()[:2]))
    res = {"stream": stream, "concurrency": conc, "requests": n, "output_tokens": out_tokens, "wall_s": wall,
           "api_server_cpu_s": cpu1[0] - cpu0[0], "engine_cpu_s": cpu1[1] - cpu0[1], "client_cpu_s": cpu1[2] - cpu0[2]}
    for m in names:
        s0, c0 = before[m]
        s1, c1 = metric_sum_count(m)
        if c1 is not None and c0 is not None and c1 > c0:
            res[m.split(":")[1] + "_mean_ms"] = 1e3 * (s1 - s0) / (c1 - c0)
    return res


def mixed(arrival_tokens, rate=10.0, seconds=10.0, streams=4, out_tokens=400):
    """Mean inter-token latency of `streams` decoding sequences while
    one-token requests of arrival_tokens prompt tokens arrive `rate` a
    second (None: none arrive)."""
    stop = threading.Event()
    decode_prompts = [text_of(32, salt())[1] for _ in range(streams)]
    arrivals = [text_of(arrival_tokens, salt())[1] for _ in range(int(rate * seconds))] if arrival_tokens else []

    def decoder(p):
        while not stop.is_set():
            body = {"model": MODEL, "prompt": p, "max_tokens": out_tokens, "stream": True, "ignore_eos": True,
                    "temperature": 0}
            with post("/v1/completions", body) as r:
                for _ in r:
                    pass

    def arrive(p):
        with post("/v1/completions", {"model": MODEL, "prompt": p, "max_tokens": 1, "temperature": 0}) as r:
            r.read()

    threads = [threading.Thread(target=decoder, args=(p,)) for p in decode_prompts]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the streams under way
    s0, c0 = metric_sum_count("vllm:inter_token_latency_seconds")
    t0 = time.perf_counter()
    sent = []
    for i, p in enumerate(arrivals):
        time.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
        a = threading.Thread(target=arrive, args=(p,))
        a.start()
        sent.append(a)
    time.sleep(max(0.0, t0 + seconds - time.perf_counter()))
    s1, c1 = metric_sum_count("vllm:inter_token_latency_seconds")
    stop.set()
    for t in threads + sent:
        t.join()
    return {"arrival_prompt_tokens": arrival_tokens or 0, "arrivals_per_s": rate if arrival_tokens else 0,
            "decoding_streams": streams, "itl_mean_ms": 1e3 * (s1 - s0) / (c1 - c0)}


def mixed_all():
    # three rounds, each with every size once: the engine's speed drifts
    # from minute to minute on a shared machine, so the fit compares each
    # arrival with the round's own baseline
    out = []
    for rnd in range(3):
        for p in (None, 8, 256, 512):
            m = mixed(p)
            m["round"] = rnd
            out.append(m)
    return out


def main():
    ttft("warm up the server " * 8, max_tokens=4)
    if ONLY == "mixed":
        json.dump({"mixed": mixed_all()}, sys.stdout, indent=1)
        print()
        return
    res = {"prompt_handling": prompt_handling(), "prefix_hit": prefix_hit(),
           "load": [load(True), load(False), load(True), load(False)],
           "mixed": mixed_all()}
    json.dump(res, sys.stdout, indent=1)
    print()


main()
