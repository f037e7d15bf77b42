package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// perfgate sim serve stands in for `vllm serve`: it takes its command line,
// warns about the flags it does not model, and serves until interrupted.
func TestSimServeTakesVLLMCommandLine(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"sim", "serve", "--trust-remote-code", "Qwen/Qwen2.5-7B-Instruct", "--port", "0",
			"--dtype", "bfloat16", "--max-num-seqs", "8", "--no-enable-prefix-caching", "--time-scale", "10"},
			Env{Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var url string
	var warned []string
	urlRe := regexp.MustCompile(`serving Qwen/Qwen2.5-7B-Instruct on (http://\S+) as h100/qwen2.5-7b`)
	for url == "" && sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "ignoring a vllm serve flag") {
			warned = append(warned, line)
		}
		if m := urlRe.FindStringSubmatch(line); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatal("the server never said where it serves")
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "--trust-remote-code") || !strings.Contains(warned[1], "--dtype") {
		t.Errorf("warnings: %q", warned)
	}
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"Qwen/Qwen2.5-7B-Instruct"`) {
		t.Errorf("models: %s", b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after an interrupt", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sim serve did not stop on interrupt")
	}
}

func TestSimServeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "serve", "m", "--max-num-seqs", "0"},
		{"sim", "serve", "m", "--profile", "tpu/x"},
		{"sim", "serve", "m", "--port", "99999"},
		{"sim", "serve", "a", "b"},
		{"sim", "serve", "m", "--time-scale", "fast"},
		{"sim", "serve", "m", "--step-model", "decode_seq_ms=0.1"},
		{"sim", "serve", "m", "--step-model", "prefill_token_ms=0.02,decode_seq_ms=0.1,attn_pair_ns=7,request_ms=-1"},
		{"sim", "serve", "m", "--step-model", "prefill_token_ms=0.02,decode_ms=0.1,attn_pair_ns=7,request_ms=1"},
	} {
		r := runCLI(t, context.Background(), nil, args...)
		if r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, %q", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, context.Background(), nil, "sim", "profiles"); r.code != 0 || !regexp.MustCompile(`h200/llama-3.1-70b\s+2\s`).MatchString(r.stdout) {
		t.Errorf("profiles: %+v", r)
	}
}

// Started by perfgate ab (PERFGATE_ENGINE_SEED set), sim serve runs with GPU
// noise drawn from that seed unless --noise says otherwise, and says so.
func TestSimServeNoiseWhenStartedByAB(t *testing.T) {
	serve := func(env map[string]string, extra ...string) string {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			Main(ctx, append([]string{"sim", "serve", "m", "--port", "0"}, extra...),
				Env{Stdout: io.Discard, Stderr: pw, Getenv: func(k string) string { return env[k] }})
			pw.Close()
		}()
		var out strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "perfgate sim: serving") {
				cancel() // whatever it says of its noise came before it serves
			}
		}
		return out.String()
	}
	seeded := map[string]string{"PERFGATE_ENGINE_SEED": "5"}
	if out := serve(seeded); !regexp.MustCompile(`noise gpu, start seed 5: this start's steps ×1\.\d{3}`).MatchString(out) {
		t.Errorf("started by ab, no noise said:\n%s", out)
	}
	if out := serve(seeded, "--noise", "off"); strings.Contains(out, "noise") {
		t.Errorf("--noise off, yet:\n%s", out)
	}
	if out := serve(nil); strings.Contains(out, "noise") {
		t.Errorf("started by hand, yet:\n%s", out)
	}
	if r := runCLI(t, context.Background(), map[string]string{"PERFGATE_ENGINE_SEED": "x"}, "sim", "serve", "m", "--port", "0"); r.code != ExitUsage || !strings.Contains(r.stderr, "PERFGATE_ENGINE_SEED must be an unsigned integer") {
		t.Errorf("a bad start seed: exit %d, %q", r.code, r.stderr)
	}
}

// --step-model takes every figure of a fitted step model, the mixed-step
// ones optional.
func TestParseStepModel(t *testing.T) {
	l, err := parseStepModel("prefill_token_ms=0.04, decode_seq_ms=0.3,attn_pair_ns=49,request_ms=5.4")
	if err != nil || l.PrefillTokenMs != 0.04 || l.DecodeSeqMs != 0.3 || l.AttnPairNs != 49 || l.RequestMs != 5.4 || l.MixedPrefillTokenMs != 0 {
		t.Errorf("%+v, %v", l, err)
	}
	l, err = parseStepModel("prefill_token_ms=0.04,decode_seq_ms=0.3,attn_pair_ns=49,request_ms=5.4,mixed_prefill_token_ms=0.13,decode_ctx_token_ns=310")
	if err != nil || l.MixedPrefillTokenMs != 0.13 || l.DecodeCtxTokenNs != 310 {
		t.Errorf("%+v, %v", l, err)
	}
	for _, bad := range []string{"prefill_token_ms=0.04,decode_seq_ms=0.3,attn_pair_ns=49,mixed_prefill_token_ms=5", "prefill_token_ms=0.04,decode_seq_ms=0.3,attn_pair_ns=49,decode_ctx_token_ns=5,mixed_prefill_token_ms=5", "request_ms=1,request_ms=2", "prefill_token_ms=NaN,decode_seq_ms=0.3,attn_pair_ns=49,request_ms=5"} {
		if _, err := parseStepModel(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
