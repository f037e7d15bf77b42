package profile

// Profiles fitted to a real engine's measured step times rather than built
// from published specs. cpu2/tiny-llama is vLLM 0.32.0's CPU build on this
// project's 2-core machine (AVX-512 with BF16) serving testdata/vllm's tiny
// Llama-architecture model; testdata/vllm/simfit/run.sh measures it and
// `go run ./internal/simfit/run fit` refits the numbers below from the
// measurement (TestFittedProfileMatchesItsFit holds them to the committed
// one). A fit holds for the machine it was measured on; a scenario's
// engine.step_model sets another's. docs/simulator.md has the comparison on
// traffic the fit did not see.
var fitted = map[string]Profile{
	"cpu2/tiny-llama": {
		Key: "cpu2/tiny-llama",
		// Memory such that the KV cache is the 1 GiB VLLM_CPU_KVCACHE_SPACE
		// gives the real engine (at the default 0.9 utilization, less the
		// activation reserve); the comparison's scenarios set
		// num_gpu_blocks_override as the real engine's flag.
		GPU: GPU{Name: "2-core x86 CPU (AVX-512, BF16)", MemGiB: (1 + ActivationReserveGiB) / 0.9, Interconnect: "none"},
		Model: Model{Name: "tiny-llama", ParamsB: 0.0039, Layers: 4, Hidden: 256, Heads: 4, KVHeads: 2, HeadDim: 64,
			DtypeBytes: 2, MaxModelLen: 4096},
		TP:             1,
		StepOverheadMs: fitOverheadMs,
		Linear: &Linear{PrefillTokenMs: fitPrefillTokenMs, DecodeSeqMs: fitDecodeSeqMs, AttnPairNs: fitAttnPairNs, RequestMs: fitRequestMs,
			DecodeCtxTokenNs: fitDecodeCtxNs},
	},
}

// The fit (testdata/vllm/simfit/fit.json, go run ./internal/simfit/run fit).
const (
	fitOverheadMs     = 3.66665
	fitPrefillTokenMs = 0.0573413
	fitDecodeSeqMs    = 0.0905769
	fitAttnPairNs     = 34.9172
	fitDecodeCtxNs    = 679.182
	fitRequestMs      = 5.34685
)
