package profile

import (
	"math"
	"strings"
	"testing"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got/want-1) > 1e-9 {
		t.Errorf("%s = %.6g, want %.6g", name, got, want)
	}
}

// Hand-computed from the specs of h100/llama-3.1-8b.
func TestStepTimeByHand(t *testing.T) {
	p, err := Lookup("h100/llama-3.1-8b", 0)
	if err != nil || p.TP != 1 {
		t.Fatal(p, err)
	}
	peak := 989e12 * 0.5
	bw := 3350e9 * 0.8
	weights := 8.03e9 * 2
	kvTok := 2.0 * 32 * 8 * 128 * 2 // 131,072 bytes
	near(t, "KV bytes per token", p.KVBytesPerToken(), kvTok)

	// A lone prefill of 1,000 tokens: compute-bound.
	flops := 2*8.03e9*1000 + 4.0*32*32*128*(1000*500)
	near(t, "prefill", p.PrefillTime(1000), flops/peak+0.001)

	// One decode with 2,000 tokens of context: memory-bound.
	near(t, "decode", p.DecodeTime(1, 2000), (weights+2000*kvTok)/bw+0.001)

	// A tiny prefill still reads the weights once.
	near(t, "tiny prefill", p.PrefillTime(1), weights/bw+0.001)

	// A slowdown of decode scales a decode step, overhead included.
	var w Work
	w.AddDecode(2000)
	k := p.Knobs()
	k.SlowdownDecode = 1.05
	near(t, "slow decode", p.StepTime(w, k), 1.05*p.DecodeTime(1, 2000))
}

func TestTensorParallelAddsCommunication(t *testing.T) {
	p4, _ := Lookup("h100/llama-3.1-70b", 0)
	if p4.TP != 4 {
		t.Fatalf("70B on H100 should default to TP 4, got %d", p4.TP)
	}
	var w Work
	w.AddDecode(1000)
	bw := 3350e9 * 0.8 * 4
	mem := (70.6e9*2 + 1000*p4.KVBytesPerToken()) / bw
	comm := 2 * 80 * (8e-6 + 2*0.75*8192*2/(450e9))
	near(t, "TP4 decode", p4.StepTime(w, p4.Knobs()), mem+comm+0.001)
}

func TestDefaultTPAndCapacity(t *testing.T) {
	for key, tp := range map[string]int{"l40s/llama-3.1-8b": 1, "a100-80g/llama-3.1-70b": 4, "h200/llama-3.1-70b": 2, "l40s/llama-3.1-70b": 8, "h200/qwen2.5-7b": 1} {
		p, _ := Lookup(key, 0)
		if p.TP != tp {
			t.Errorf("%s: TP %d, want %d", key, p.TP, tp)
		}
		if p.KVCapacityTokens(0.9) <= 0 {
			t.Errorf("%s has no KV capacity", key)
		}
	}
	p, _ := Lookup("h100/llama-3.1-8b", 0)
	want := (79.6*(1<<30)*0.9 - 8.03e9*2 - 2*(1<<30)) / p.KVBytesPerToken()
	if got := p.KVCapacityTokens(0.9); got != int(want) {
		t.Errorf("KV capacity %d, want %d", got, int(want))
	}
	if p.KVCapacityTokens(0.1) != 0 {
		t.Error("10 % of an H100 cannot hold Llama-3.1-8B's weights")
	}
	p1, _ := Lookup("h100/llama-3.1-70b", 1)
	if p1.TP != 1 {
		t.Error("an explicit TP must win")
	}
}

func TestLookupErrors(t *testing.T) {
	for _, k := range []string{"", "h100", "tpu/llama-3.1-8b", "h100/gpt-5", "h100/llama-3.1-8b/x"} {
		_, err := Lookup(k, 0)
		if err == nil || !strings.Contains(err.Error(), "h100/llama-3.1-8b") {
			t.Errorf("%q: %v", k, err)
		}
	}
	if _, err := Lookup("H100/Llama-3.1-8B", 0); err != nil {
		t.Errorf("names are case-insensitive: %v", err)
	}
	if len(Names()) != 16 { // 5 GPUs × 3 models, and one fitted to a real engine
		t.Errorf("%d profiles", len(Names()))
	}
}

func TestCapacityGrowsWithBatchUntilComputeBound(t *testing.T) {
	p, _ := Lookup("h100/llama-3.1-8b", 0)
	prev := 0.0
	for _, b := range []int{1, 8, 32, 128} {
		c := p.Capacity(512, 256, b)
		if c <= prev {
			t.Errorf("capacity at batch %d is %.0f, not above %.0f", b, c, prev)
		}
		prev = c
	}
}
