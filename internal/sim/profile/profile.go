// Package profile describes simulated hardware × model pairs and prices the
// work of one scheduler step from published specs: the simulator's cost model.
package profile

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// GPU holds the published figures of one accelerator.
type GPU struct {
	Name         string
	TFLOPS       float64 // dense BF16 tensor-core peak, TFLOP/s
	MemBWGBs     float64 // HBM/GDDR bandwidth, GB/s
	MemGiB       float64 // memory, GiB
	LinkGBs      float64 // GPU-to-GPU bandwidth for tensor parallelism (one direction), GB/s
	Interconnect string
}

// Model holds the shape of a model.
type Model struct {
	Name        string
	ParamsB     float64 // parameters, billions
	Layers      int
	Hidden      int
	Heads       int
	KVHeads     int
	HeadDim     int
	DtypeBytes  int // 2 for BF16
	MaxModelLen int // the model's context length
}

// The published specs these come from are listed in docs/simulator.md.
// Bounds of the simulator's speed settings: past them a step's time is
// below what a timer can wait (a scale) or overflows a duration (a
// slowdown), and requests hang.
const (
	MaxTimeScale = 1000 // time_scale: a thousand times faster than real time
	MaxSlowdown  = 100  // slowdown_decode, slowdown_prefill
)

var gpus = map[string]GPU{
	"l40s":     {Name: "NVIDIA L40S", TFLOPS: 362, MemBWGBs: 864, MemGiB: 44.7, LinkGBs: 32, Interconnect: "PCIe 4.0 x16"},
	"a100-40g": {Name: "NVIDIA A100-SXM4-40GB", TFLOPS: 312, MemBWGBs: 1555, MemGiB: 39.4, LinkGBs: 300, Interconnect: "NVLink 3"},
	"a100-80g": {Name: "NVIDIA A100-SXM4-80GB", TFLOPS: 312, MemBWGBs: 2039, MemGiB: 79.3, LinkGBs: 300, Interconnect: "NVLink 3"},
	"h100":     {Name: "NVIDIA H100 80GB HBM3 (SXM)", TFLOPS: 989, MemBWGBs: 3350, MemGiB: 79.6, LinkGBs: 450, Interconnect: "NVLink 4"},
	"h200":     {Name: "NVIDIA H200 (SXM)", TFLOPS: 989, MemBWGBs: 4800, MemGiB: 139.8, LinkGBs: 450, Interconnect: "NVLink 4"},
}

var models = map[string]Model{
	"llama-3.1-8b":  {Name: "meta-llama/Llama-3.1-8B-Instruct", ParamsB: 8.03, Layers: 32, Hidden: 4096, Heads: 32, KVHeads: 8, HeadDim: 128, DtypeBytes: 2, MaxModelLen: 131072},
	"qwen2.5-7b":    {Name: "Qwen/Qwen2.5-7B-Instruct", ParamsB: 7.62, Layers: 28, Hidden: 3584, Heads: 28, KVHeads: 4, HeadDim: 128, DtypeBytes: 2, MaxModelLen: 32768},
	"llama-3.1-70b": {Name: "meta-llama/Llama-3.1-70B-Instruct", ParamsB: 70.6, Layers: 80, Hidden: 8192, Heads: 64, KVHeads: 8, HeadDim: 128, DtypeBytes: 2, MaxModelLen: 131072},
}

// defaultTP is the tensor-parallel size a model needs on a GPU: the smallest
// power of two whose combined memory holds the weights with room for a KV cache.
func defaultTP(g GPU, m Model) int {
	weightsGiB := m.ParamsB * 1e9 * float64(m.DtypeBytes) / (1 << 30)
	for tp := 1; ; tp *= 2 {
		if weightsGiB/float64(tp) < 0.7*g.MemGiB || tp >= 8 {
			return tp
		}
	}
}

// Efficiency factors: the fraction of peak that real kernels reach. They are
// the model's knowingly simple part (docs/simulator.md).
const (
	DefaultMFU            = 0.50 // prefill: model FLOPs utilization
	DefaultMBU            = 0.80 // decode: memory bandwidth utilization
	DefaultStepOverheadMs = 1.0  // scheduler, sampling and launch overhead per step
	AllReduceLatencyUS    = 8.0  // one all-reduce's fixed cost, per tensor-parallel collective
	ActivationReserveGiB  = 2.0  // memory vLLM keeps for activations when sizing the KV cache
)

// Profile is a GPU × model × tensor-parallel size, with the efficiency
// factors that turn specs into step times.
type Profile struct {
	Key            string // e.g. h100/llama-3.1-8b
	GPU            GPU
	Model          Model
	TP             int
	MFU, MBU       float64
	StepOverheadMs float64
	// Linear, when set, prices a step from measured costs instead of the
	// roofline over published specs: a profile fitted to a real engine
	// (fitted.go).
	Linear *Linear
}

// Linear is a step's cost measured on a real engine: the step overhead
// (StepOverheadMs) plus a cost per prefill token, per decoding sequence and
// per attention pair (a token attending to one earlier token); and a
// request's own cost outside the steps.
// A scenario's engine.step_model is one, under the yaml names below.
type Linear struct {
	PrefillTokenMs float64 `yaml:"prefill_token_ms"`
	DecodeSeqMs    float64 `yaml:"decode_seq_ms"`
	AttnPairNs     float64 `yaml:"attn_pair_ns"`
	// RequestMs is what a lone request's TTFT held beyond its prefill step
	// on the real engine: the API server's own work (parsing, tokenizing,
	// streaming) and the measuring client's. The simulator holds each
	// request that long before its engine sees it.
	RequestMs float64 `yaml:"request_ms"`
	// MixedPrefillTokenMs prices a prefill token in a step that also
	// decodes, where a real engine may run it slower than alone (0: as
	// PrefillTokenMs); vLLM's per-iteration log measures it
	// (testdata/vllm/simfit/iterations.sh).
	MixedPrefillTokenMs float64 `yaml:"mixed_prefill_token_ms,omitempty"`
	// DecodeCtxTokenNs prices each token of context a decoding sequence
	// reads, where decode attention costs otherwise than a prefill's
	// attention pair (0: as AttnPairNs); the fit's decode sweep over
	// context measures it.
	DecodeCtxTokenNs float64 `yaml:"decode_ctx_token_ns,omitempty"`
}

// Names lists the profile keys, sorted.
func Names() []string {
	var out []string
	for k := range fitted {
		out = append(out, k)
	}
	for g := range gpus {
		for m := range models {
			out = append(out, g+"/"+m)
		}
	}
	slices.Sort(out)
	return out
}

// Default is used when none is named.
const Default = "h100/llama-3.1-8b"

// Lookup returns the profile for key ("gpu/model"), with tp > 0
// overriding the default tensor-parallel size.
func Lookup(key string, tp int) (Profile, error) {
	if p, ok := fitted[strings.ToLower(key)]; ok {
		if tp > 1 {
			return Profile{}, fmt.Errorf("simulator profile %s was fitted to one engine without tensor parallelism; it takes no tensor-parallel size (got %d)", key, tp)
		}
		return p, nil
	}
	gk, mk, ok := strings.Cut(strings.ToLower(key), "/")
	g, okG := gpus[gk]
	m, okM := models[mk]
	if !ok || !okG || !okM {
		return Profile{}, fmt.Errorf("unknown simulator profile %q; profiles are: %s", key, strings.Join(Names(), ", "))
	}
	p := Profile{Key: gk + "/" + mk, GPU: g, Model: m, TP: tp, MFU: DefaultMFU, MBU: DefaultMBU, StepOverheadMs: DefaultStepOverheadMs}
	if p.TP <= 0 {
		p.TP = defaultTP(g, m)
	}
	return p, nil
}

// WeightBytes is the whole model's weights.
func (p Profile) WeightBytes() float64 { return p.Model.ParamsB * 1e9 * float64(p.Model.DtypeBytes) }

// KVBytesPerToken is the whole model's KV cache per token: 2 (K and V) ×
// layers × KV heads × head dim × dtype bytes.
func (p Profile) KVBytesPerToken() float64 {
	m := p.Model
	return 2 * float64(m.Layers*m.KVHeads*m.HeadDim*m.DtypeBytes)
}

// KVCapacityTokens is how many tokens of KV cache fit: per GPU, memory ×
// utilization minus its share of the weights and an activation reserve, over
// its share of the KV bytes per token.
func (p Profile) KVCapacityTokens(gpuMemUtil float64) int {
	tp := float64(p.TP)
	free := p.GPU.MemGiB*(1<<30)*gpuMemUtil - p.WeightBytes()/tp - ActivationReserveGiB*(1<<30)
	if free <= 0 {
		return 0
	}
	return int(free / (p.KVBytesPerToken() / tp))
}

// Work is what one step computes: prefill chunks and decode tokens.
type Work struct {
	PrefillTokens  int     // Σ chunk lengths
	PrefillAttnTok float64 // Σ n·(ctx + n/2): attention pairs of the prefill chunks
	DecodeSeqs     int
	DecodeCtx      int // Σ context length of the decoding sequences
}

// AddPrefill adds a chunk of n tokens after ctx tokens already computed.
func (w *Work) AddPrefill(n, ctx int) {
	w.PrefillTokens += n
	w.PrefillAttnTok += float64(n) * (float64(ctx) + float64(n)/2)
}

// AddDecode adds one decoding sequence with ctx tokens of context.
func (w *Work) AddDecode(ctx int) {
	w.DecodeSeqs++
	w.DecodeCtx += ctx
}

// Knobs change a step's time on purpose: slowdowns of prefill and decode
// work (1 is none) and the fixed overhead per step.
type Knobs struct {
	SlowdownPrefill, SlowdownDecode float64
	StepOverheadMs                  float64
}

// Knobs returns the profile's own: no slowdown, its step overhead.
func (p Profile) Knobs() Knobs {
	return Knobs{SlowdownPrefill: 1, SlowdownDecode: 1, StepOverheadMs: p.StepOverheadMs}
}

// StepTime prices one step, in seconds, with a roofline over the whole
// batch: compute time (2 FLOPs per parameter per token, plus attention:
// 4 · layers · heads · head_dim per attention pair) against the GPUs' peak
// × MFU, and memory time (the weights once per step, plus the KV cache every
// decoding sequence reads) against bandwidth × MBU; the step takes the
// larger. So decode tokens ride almost free on a compute-bound prefill, as
// they do in vLLM's mixed batches. With tensor parallelism the work splits
// over the GPUs and each layer adds two all-reduces of the step's
// activations. A step with decodes has its decode work and its overhead
// multiplied by SlowdownDecode; prefill FLOPs by SlowdownPrefill (and the
// overhead too when the step has no decodes).
func (p Profile) StepTime(w Work, k Knobs) float64 {
	if p.Linear != nil {
		return p.linearStep(w, k)
	}
	m := p.Model
	tp := float64(p.TP)
	peak := p.GPU.TFLOPS * 1e12 * p.MFU * tp
	bw := p.GPU.MemBWGBs * 1e9 * p.MBU * tp
	params := m.ParamsB * 1e9
	attn := 4 * float64(m.Layers*m.Heads*m.HeadDim)
	prefill := (2*params*float64(w.PrefillTokens) + attn*w.PrefillAttnTok) / peak
	decode := (2*params*float64(w.DecodeSeqs) + attn*float64(w.DecodeCtx)) / peak
	mem := (p.WeightBytes() + float64(w.DecodeCtx)*p.KVBytesPerToken()) / bw
	fixed := k.SlowdownPrefill
	if w.DecodeSeqs > 0 {
		fixed = k.SlowdownDecode
	}
	t := math.Max(k.SlowdownPrefill*prefill+k.SlowdownDecode*decode, fixed*mem)
	if p.TP > 1 {
		tokens := float64(w.PrefillTokens + w.DecodeSeqs)
		bytes := tokens * float64(m.Hidden*m.DtypeBytes)
		perAllReduce := AllReduceLatencyUS*1e-6 + 2*(tp-1)/tp*bytes/(p.GPU.LinkGBs*1e9)
		t += 2 * float64(m.Layers) * perAllReduce
	}
	return t + fixed*k.StepOverheadMs/1000
}

// linearStep prices a step with a fitted profile's measured costs, the
// knobs applied as StepTime applies them.
func (p Profile) linearStep(w Work, k Knobs) float64 {
	l := p.Linear
	attn := l.AttnPairNs * 1e-6 // ms per pair
	perToken := l.PrefillTokenMs
	if w.DecodeSeqs > 0 && l.MixedPrefillTokenMs > 0 {
		perToken = l.MixedPrefillTokenMs
	}
	ctx := attn
	if l.DecodeCtxTokenNs > 0 {
		ctx = l.DecodeCtxTokenNs * 1e-6
	}
	prefill := perToken*float64(w.PrefillTokens) + attn*w.PrefillAttnTok
	decode := l.DecodeSeqMs*float64(w.DecodeSeqs) + ctx*float64(w.DecodeCtx)
	fixed := k.SlowdownPrefill
	if w.DecodeSeqs > 0 {
		fixed = k.SlowdownDecode
	}
	return (k.SlowdownPrefill*prefill + k.SlowdownDecode*decode + fixed*k.StepOverheadMs) / 1000
}

// PrefillTime is the analytic time from admission to the first token of a
// lone request with prompt tokens (computed in one step: prompt ≤ the
// step's token budget), in seconds.
func (p Profile) PrefillTime(prompt int) float64 {
	var w Work
	w.AddPrefill(prompt, 0)
	return p.StepTime(w, p.Knobs())
}

// DecodeTime is the analytic time of one decode step of batch sequences with
// ctx tokens of context each, in seconds.
func (p Profile) DecodeTime(batch, ctx int) float64 {
	var w Work
	for range batch {
		w.AddDecode(ctx)
	}
	return p.StepTime(w, p.Knobs())
}

// Capacity is the analytic saturated output throughput (tokens/s) with
// batch sequences running, each with input prompt tokens and output output
// tokens. In steady state batch/output sequences finish per step and as many
// are admitted, each prefilling its whole prompt in its first step; so a
// fraction of the steps carries one prefill more than the rest. Decoding
// sequences are at their average context, input + output/2.
func (p Profile) Capacity(input, output, batch int) float64 {
	per := float64(batch) / float64(output) // prefills per step
	k := math.Floor(per)
	frac := per - k
	step := func(prefills int) float64 {
		var w Work
		for range prefills {
			w.AddPrefill(input, 0)
		}
		for range batch - prefills {
			w.AddDecode(input + output/2)
		}
		return p.StepTime(w, p.Knobs())
	}
	mean := (1-frac)*step(int(k)) + frac*step(int(k)+1)
	return float64(batch) / mean // every running sequence emits a token per step
}
