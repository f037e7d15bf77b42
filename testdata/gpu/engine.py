#!/usr/bin/env python3
"""A GPU-backed stand-in for vLLM: an OpenAI-compatible streaming server whose
decode loop does real GPU work of a realistic size.

It is not vLLM and generates no meaningful text. It is a load that makes a
GPU's clocks, power and memory behave as under LLM inference, for perfgate's
real-GPU check (testdata/gpu/check.sh, docs/performance.md):

- the model: a random-initialised stack shaped like Llama-3.1-8B (32 layers,
  hidden 4096, MLP 14336, grouped KV of 1024 per layer) in bf16: every decode
  step multiplies the batch through every layer's weights (about 15 GiB read
  per step, as a real 8B model's decode does) and reads the running
  sequences' KV cache;
- continuous batching: every step admits waiting requests up to
  --max-num-seqs and the KV capacity, prefills the new ones (their prompt
  tokens through the same weights, at most --max-num-batched-tokens a step),
  then decodes one token for every running request;
- the endpoints perfgate and vllm bench serve use: /health, /v1/models,
  /tokenize (one token per whitespace word), /metrics with vLLM's names for
  running and waiting requests and KV-cache usage, /v1/completions and
  /v1/chat/completions, streamed (with usage when asked) or not.

Usage, as vLLM is started (perfgate's engine kind vllm runs BIN serve MODEL
--host H --port P ARGS):

  engine.py serve llama-8b-shaped --host 127.0.0.1 --port 8000 [--backend torch|sleep]

--backend sleep does no tensor work (a fixed step time), so the protocol and
the batching can be tested where PyTorch is absent; --backend torch uses
CUDA when there is a GPU and tiny shapes on a CPU (--shape tiny).
Standard library only, plus PyTorch for --backend torch.
"""

import argparse
import collections
import json
import math
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHAPES = {
    # name: (layers, hidden, mlp, kv_dim)
    "llama-8b": (32, 4096, 14336, 1024),
    "tiny": (2, 128, 256, 32),
}


class Request:
    def __init__(self, prompt_tokens, max_tokens, chat, include_usage, stream):
        self.id = "cmpl-" + uuid.uuid4().hex[:16]
        self.prompt_tokens = max(1, prompt_tokens)
        self.max_tokens = max(1, max_tokens)
        self.chat, self.include_usage, self.stream = chat, include_usage, stream
        self.generated = 0
        self.prefilled = 0
        self.events = queue.Queue()  # ("token", n) … ("done", None) or ("error", msg)
        self.cancelled = False

    def context(self):
        return self.prefilled + self.generated


class SleepBackend:
    """No tensor work: a step costs a fixed time plus a little per token."""

    def __init__(self, args):
        self.step_s = args.sleep_step_ms / 1000.0
        self.per_token_s = args.sleep_token_us / 1e6

    def prefill(self, tokens):
        time.sleep(self.step_s + self.per_token_s * tokens)

    def decode(self, batch, context_tokens):
        time.sleep(self.step_s + self.per_token_s * batch)


class TorchBackend:
    """Real matrix work through a Llama-shaped stack of random weights."""

    def __init__(self, args):
        import torch

        self.torch = torch
        cuda = torch.cuda.is_available() and args.device != "cpu"
        self.device = "cuda" if cuda else "cpu"
        shape = args.shape or ("llama-8b" if cuda else "tiny")
        self.layers, self.h, self.mlp, self.kv = SHAPES[shape]
        dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}.get(args.dtype, torch.bfloat16 if cuda else torch.float32)
        g = torch.Generator(device=self.device).manual_seed(0)

        def w(rows, cols):
            return (torch.randn(rows, cols, generator=g, device=self.device, dtype=torch.float32) * 0.02).to(dtype)

        self.w = []
        for _ in range(self.layers):
            self.w.append((w(self.h, self.h + 2 * self.kv), w(self.h, self.h), w(self.h, 2 * self.mlp), w(self.mlp, self.h)))
        # The KV cache: one K and one V row of kv_dim per token per layer.
        self.capacity = args.kv_tokens
        self.k = [torch.zeros(self.capacity, self.kv, device=self.device, dtype=dtype) for _ in range(self.layers)]
        self.v = [torch.zeros(self.capacity, self.kv, device=self.device, dtype=dtype) for _ in range(self.layers)]
        self.dtype = dtype

    def _forward(self, x, context_tokens):
        torch = self.torch
        t = max(1, min(context_tokens, self.capacity))
        for (wqkv, wo, wup, wdown), k, v in zip(self.w, self.k, self.v):
            qkv = x @ wqkv
            q = qkv[:, : self.kv]
            # Attention reads every running sequence's cached K and V of the
            # layer (the bytes a real decode step reads); one summed query
            # keeps the arithmetic near a real step's.
            s = torch.softmax((q.sum(0, keepdim=True) @ k[:t].t()).float(), dim=-1).to(self.dtype)
            a = s @ v[:t]
            o = (qkv[:, : self.h] + a.repeat(1, self.h // self.kv)) @ wo
            x = x + o
            up = x @ wup
            x = x + (torch.nn.functional.silu(up[:, : self.mlp]) * up[:, self.mlp :]) @ wdown
            x = x / (x.float().norm(dim=-1, keepdim=True).to(self.dtype) + 1) * math.sqrt(self.h)
        return x

    def prefill(self, tokens):
        x = self.torch.randn(tokens, self.h, device=self.device, dtype=self.dtype)
        self._forward(x, tokens)
        self._sync()

    def decode(self, batch, context_tokens):
        x = self.torch.randn(batch, self.h, device=self.device, dtype=self.dtype)
        self._forward(x, context_tokens)
        self._sync()

    def _sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()


class Engine:
    def __init__(self, args, backend):
        self.args, self.backend = args, backend
        self.capacity = getattr(backend, "capacity", args.kv_tokens)
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.waiting = collections.deque()
        self.running = []
        self.prompt_total = 0
        self.generation_total = 0
        self.success_total = 0
        self.steps = 0
        self.max_batch_seen = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def submit(self, r):
        with self.lock:
            self.waiting.append(r)
            self.wake.notify()

    def kv_used(self):
        return sum(r.context() for r in self.running)

    def loop(self):
        a = self.args
        while True:
            with self.lock:
                while not self.waiting and not self.running:
                    self.wake.wait()
                self.running = [r for r in self.running if not r.cancelled]
                new = []
                budget = a.max_num_batched_tokens
                used = self.kv_used()
                while self.waiting and len(self.running) + len(new) < a.max_num_seqs:
                    r = self.waiting[0]
                    if r.cancelled:
                        self.waiting.popleft()
                        continue
                    need = r.prompt_tokens + r.max_tokens
                    if used + need > self.capacity or (new and r.prompt_tokens > budget):
                        break
                    self.waiting.popleft()
                    new.append(r)
                    used += need
                    budget -= r.prompt_tokens
                batch = self.running + new
            if new:
                self.backend.prefill(sum(r.prompt_tokens for r in new))
                for r in new:
                    r.prefilled = r.prompt_tokens
                    self.prompt_total += r.prompt_tokens
            if batch:
                self.backend.decode(len(batch), sum(r.context() for r in batch))
                self.steps += 1
                self.max_batch_seen = max(self.max_batch_seen, len(batch))
            done = []
            for r in batch:
                r.generated += 1
                self.generation_total += 1
                r.events.put(("token", r.generated))
                if r.generated >= r.max_tokens:
                    done.append(r)
            with self.lock:
                self.running = [r for r in batch if r not in done and not r.cancelled]
                for r in done:
                    self.success_total += 1
                    r.events.put(("done", None))

    def metrics(self):
        with self.lock:
            running, waiting, used = len(self.running), len(self.waiting), self.kv_used()
        m = self.args.model
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f'vllm:num_requests_running{{model_name="{m}"}} {running}',
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f'vllm:num_requests_waiting{{model_name="{m}"}} {waiting}',
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f'vllm:kv_cache_usage_perc{{model_name="{m}"}} {used / self.capacity:.6f}',
            "# TYPE vllm:prompt_tokens_total counter",
            f'vllm:prompt_tokens_total{{model_name="{m}"}} {self.prompt_total}',
            "# TYPE vllm:generation_tokens_total counter",
            f'vllm:generation_tokens_total{{model_name="{m}"}} {self.generation_total}',
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{model_name="{m}",finished_reason="length"}} {self.success_total}',
            "# TYPE vllm:num_preemptions_total counter",
            f'vllm:num_preemptions_total{{model_name="{m}"}} 0',
        ]
        return "\n".join(lines) + "\n"


def words(text):
    return len(str(text).split())


def prompt_length(body, chat):
    if chat:
        msgs = body.get("messages") or []
        n = 0
        for m in msgs:
            c = m.get("content", "")
            if isinstance(c, list):  # content parts
                c = " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            n += words(c) + 4  # a chat template's few tokens per message
        return n
    p = body.get("prompt", "")
    if isinstance(p, list):
        if p and isinstance(p[0], list):
            return len(p[0])
        if p and isinstance(p[0], int):
            return len(p)
        return words(" ".join(map(str, p)))
    return words(p)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine = None
    args = None

    def log_message(self, fmt, *a):
        if self.args.verbose:
            sys.stderr.write(fmt % a + "\n")

    def send_json(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        a = self.args
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": a.model, "object": "model", "root": a.model, "owned_by": "perfgate-gpu-engine", "max_model_len": a.max_model_len}]})
        elif self.path == "/version":
            self.send_json(200, {"version": "perfgate-gpu-engine"})
        elif self.path == "/metrics":
            b = self.engine.metrics().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        else:
            self.send_json(404, {"error": {"message": "not found", "code": 404}})

    def do_POST(self):
        body = self.read_body()
        if body is None:
            self.send_json(400, {"error": {"message": "the body is not JSON", "type": "BadRequestError", "code": 400}})
            return
        if self.path == "/tokenize":
            chat = "messages" in body
            n = prompt_length(body, chat)
            self.send_json(200, {"tokens": list(range(n)), "count": n, "max_model_len": self.args.max_model_len})
            return
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self.send_json(404, {"error": {"message": "not found", "code": 404}})
            return
        chat = self.path.endswith("chat/completions")
        n = prompt_length(body, chat)
        mt = body.get("max_tokens") or body.get("max_completion_tokens") or 16
        if n + mt > min(self.args.max_model_len, self.engine.capacity):
            self.send_json(400, {"error": {"message": f"{n} prompt tokens and max_tokens {mt} exceed max_model_len {self.args.max_model_len}", "type": "BadRequestError", "code": 400}})
            return
        stream = bool(body.get("stream"))
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        r = Request(n, int(mt), chat, usage, stream)
        self.engine.submit(r)
        if stream:
            self.stream(r, body)
        else:
            self.whole(r, body)

    def chunk(self, r, model, text, first=False, finish=None):
        if r.chat:
            delta = {"role": "assistant", "content": ""} if first else {"content": text}
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish}
            obj = "text_completion"
        return {"id": r.id, "object": obj, "created": int(time.time()), "model": model, "choices": [choice]}

    def stream(self, r, body):
        model = body.get("model") or self.args.model
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def send(obj):
            self.wfile.write(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")
            self.wfile.flush()

        try:
            if r.chat:
                send(self.chunk(r, model, "", first=True))
            while True:
                kind, n = r.events.get()
                if kind == "token":
                    send(self.chunk(r, model, " tok", finish="length" if n >= r.max_tokens else None))
                elif kind == "done":
                    break
            if r.include_usage:
                u = {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.generated, "total_tokens": r.prompt_tokens + r.generated}
                send({"id": r.id, "object": "chat.completion.chunk" if r.chat else "text_completion", "created": int(time.time()), "model": model, "choices": [], "usage": u})
            send(b"[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            r.cancelled = True

    def whole(self, r, body):
        while True:
            kind, _ = r.events.get()
            if kind == "done":
                break
        text = " tok" * r.generated
        usage = {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.generated, "total_tokens": r.prompt_tokens + r.generated}
        model = body.get("model") or self.args.model
        if r.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": "length"}
            obj = "text_completion"
        self.send_json(200, {"id": r.id, "object": obj, "created": int(time.time()), "model": model, "choices": [choice], "usage": usage})


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("serve", choices=["serve"])
    p.add_argument("model")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["torch", "sleep"], default="torch")
    p.add_argument("--device", choices=["auto", "cpu"], default="auto")
    p.add_argument("--shape", choices=sorted(SHAPES), default=None, help="default: llama-8b on a GPU, tiny on a CPU")
    p.add_argument("--dtype", choices=["auto", "bf16", "fp32"], default="auto", help="auto: bf16 on a GPU, fp32 on a CPU")
    p.add_argument("--max-num-seqs", type=int, default=128)
    p.add_argument("--max-num-batched-tokens", type=int, default=8192)
    p.add_argument("--max-model-len", type=int, default=8192)
    p.add_argument("--kv-tokens", type=int, default=262144, help="KV-cache capacity in tokens (llama-8b: 128 KiB each)")
    p.add_argument("--sleep-step-ms", type=float, default=2.0)
    p.add_argument("--sleep-token-us", type=float, default=5.0)
    p.add_argument("--verbose", action="store_true")
    # vLLM flags perfgate or a scenario may pass; accepted and ignored.
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--disable-log-requests", action="store_true")
    p.add_argument("--enable-prefix-caching", action="store_true")
    return p.parse_args(argv)


def main(argv):
    args = parse(argv)
    backend = TorchBackend(args) if args.backend == "torch" else SleepBackend(args)
    Handler.engine, Handler.args = Engine(args, backend), args
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    dev = getattr(backend, "device", "none")
    sys.stderr.write(f"perfgate gpu engine: {args.backend} backend on {dev}, listening on {args.host}:{args.port}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
