package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/sim"
	"github.com/perfgate/perfgate/internal/sim/profile"
)

func newSimCmd(env Env, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the vLLM simulator as a standalone server",
		Long: `The simulator models a vLLM server: continuous batching under max_num_seqs and
a per-step token budget (chunked prefill), a paged KV cache with preemption,
prefix caching, and step times priced from a GPU × model profile. It serves the
OpenAI endpoints (streaming with usage), /v1/models, /health, /version,
/tokenize, /detokenize, /metrics and, with VLLM_SERVER_DEV_MODE=1,
/reset_prefix_cache under vLLM's names.
docs/simulator.md explains the model.`,
		Example: `  perfgate sim serve meta-llama/Llama-3.1-8B-Instruct --port 8000 --profile h100/llama-3.1-8b
  perfgate sim profiles`,
		Args: exactArgs(0, "a subcommand (serve or profiles)"),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSimServeCmd(env, log), newSimProfilesCmd(env))
	return cmd
}

func newSimProfilesCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the simulator's GPU × model profiles with their analytic figures",
		Long: `profiles lists every GPU/model pair the simulator knows, with the tensor-parallel
size it uses by default, its KV capacity at gpu_memory_utilization 0.9, the
analytic time to first token of a 1,024-token prompt, the time per output
token of a single sequence, and the saturated output throughput of 256
sequences of 1,024 input and 256 output tokens.`,
		Example: `  perfgate sim profiles`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "profile\tTP\tKV tokens\tTTFT 1k (ms)\tTPOT 1 seq (ms)\tsaturated tok/s (256 seqs, 1k/256)")
			for _, name := range profile.Names() {
				p, _ := profile.Lookup(name, 0)
				batch := min(256, p.KVCapacityTokens(0.9)/(1024+256))
				fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.0f (batch %d)\n", name, p.TP, p.KVCapacityTokens(0.9),
					p.PrefillTime(1024)*1000, p.DecodeTime(1, 1024)*1000, p.Capacity(1024, 256, batch), batch)
			}
			return tw.Flush()
		},
	}
}

// vllmBoolFlags are vLLM flags that take no value, so an unknown one must
// not swallow the argument after it.
var vllmBoolFlags = map[string]bool{
	"trust-remote-code": true, "disable-log-requests": true, "disable-log-stats": true, "enforce-eager": true,
	"enable-chunked-prefill": true, "no-enable-chunked-prefill": true, "disable-custom-all-reduce": true,
	"enable-auto-tool-choice": true, "disable-frontend-multiprocessing": true, "enable-lora": true,
	"enable-prompt-tokens-details": true, "enable-log-requests": true, "no-enable-log-requests": true,
}

func newSimServeCmd(env Env, log *slog.Logger) *cobra.Command {
	o := &simServe{cfg: sim.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "serve [MODEL] [flags]",
		Short: "Serve the simulator on a port, accepting vllm serve's command line",
		Long: `serve starts the simulator and serves until interrupted. It accepts the spelling
of 'vllm serve' so it can stand in for vLLM: the model as the first argument,
--port, --host, --max-num-seqs, --max-num-batched-tokens,
--gpu-memory-utilization, --block-size, --max-model-len,
--tensor-parallel-size, --enable-prefix-caching / --no-enable-prefix-caching,
--num-gpu-blocks-override, --seed, --served-model-name. Other vLLM flags are
accepted with a warning and ignored. As in vLLM, POST /reset_prefix_cache is
served only when the environment has VLLM_SERVER_DEV_MODE=1.

Started by perfgate ab as the engine under test (PERFGATE_ENGINE_SEED set,
one seed per engine start), it runs with --noise gpu unless told --noise off:
each start draws its own clock state and slow start from that seed, so
trials differ as they do on a GPU runner (docs/simulator.md).

perfgate's own flags pick the hardware and make regressions and faults on
purpose: --profile, --time-scale, --jitter, --slowdown-decode,
--slowdown-prefill, --step-overhead-ms, --step-model, --fault-error-rate,
--fault-stall-after, --fault-disconnect-rate, --fault-crash-after.

Without --profile, a model name that matches a known model picks it on an
H100 (meta-llama/Llama-3.1-70B-Instruct → h100/llama-3.1-70b).`,
		Example: `  perfgate sim serve meta-llama/Llama-3.1-8B-Instruct --port 8000
  perfgate sim serve Qwen/Qwen2.5-7B-Instruct --profile a100-80g/qwen2.5-7b --max-num-seqs 64
  perfgate sim serve m --port 8001 --slowdown-decode 1.05 --time-scale 10   # a 5 % decode regression, 10× faster`,
		DisableFlagParsing: true, // parsed below, so unknown vLLM flags can be warned about
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			fs.ParseErrorsAllowlist.UnknownFlags = true
			for _, a := range args {
				if a == "--help" || a == "-h" {
					return cmd.Help()
				}
			}
			args = dropUnknown(fs, loraArgs(args), log)
			if err := fs.Parse(args); err != nil {
				return fault.Usagef("perfgate sim serve: %v", err)
			}
			rest := fs.Args()
			if len(rest) > 1 {
				return fault.Usagef("perfgate sim serve takes one model name, got %q", rest)
			}
			model := ""
			if len(rest) == 1 {
				model = rest[0]
			}
			if err := o.configure(env, fs, model); err != nil {
				return err
			}
			return o.serve(cmd.Context(), env)
		},
	}
	o.flags(cmd.Flags())
	return cmd
}

// simServe is perfgate sim serve's settings: vllm serve's flags and
// perfgate's own, into the simulator's configuration.
type simServe struct {
	cfg             sim.Config
	host            string
	port            int
	noPrefixCaching bool
	noise           string
	servedName      string
	enableLoRA      bool
	loraModules     []string
	stepModel       string
}

func (o *simServe) flags(f *pflag.FlagSet) {
	f.StringVar(&o.host, "host", "127.0.0.1", "address to listen on")
	f.IntVar(&o.port, "port", 8000, "port to listen on (0: any free port)")
	f.StringVar(&o.servedName, "served-model-name", "", "model name the server answers to (default: MODEL, else the profile's model)")
	f.BoolVar(&o.enableLoRA, "enable-lora", false, "serve LoRA adapters (--lora-modules)")
	f.StringArrayVar(&o.loraModules, "lora-modules", nil, "LoRA adapters as NAME=PATH (several after one flag, as vLLM takes them, or the flag again): requests naming NAME as their model are served; the adapter's own cost is not modelled")
	f.StringVar(&o.cfg.Profile, "profile", o.cfg.Profile, "GPU/model profile; see 'perfgate sim profiles'")
	f.IntVar(&o.cfg.TensorParallel, "tensor-parallel-size", 0, "tensor-parallel size (default: the profile's)")
	f.IntVar(&o.cfg.MaxNumSeqs, "max-num-seqs", o.cfg.MaxNumSeqs, "sequences in a batch")
	f.IntVar(&o.cfg.MaxNumBatchedTokens, "max-num-batched-tokens", o.cfg.MaxNumBatchedTokens, "tokens computed per step (chunked prefill)")
	f.Float64Var(&o.cfg.GPUMemoryUtilization, "gpu-memory-utilization", o.cfg.GPUMemoryUtilization, "fraction of GPU memory for weights, activations and KV cache")
	f.IntVar(&o.cfg.BlockSize, "block-size", o.cfg.BlockSize, "tokens per KV-cache block")
	f.IntVar(&o.cfg.MaxModelLen, "max-model-len", 0, "longest prompt plus output (default: the model's, capped by the KV capacity)")
	f.BoolVar(&o.cfg.EnablePrefixCaching, "enable-prefix-caching", true, "reuse KV blocks of shared prompt prefixes (on by default, as in vLLM v1)")
	f.BoolVar(&o.noPrefixCaching, "no-enable-prefix-caching", false, "turn prefix caching off")
	f.IntVar(&o.cfg.NumGPUBlocksOverride, "num-gpu-blocks-override", 0, "KV-cache size in blocks, overriding the computed one")
	f.Uint64Var(&o.cfg.Seed, "seed", 0, "seed of jitter and faults")
	f.Float64Var(&o.cfg.TimeScale, "time-scale", 1, "run this many times faster than real time; /metrics stays in model time")
	f.Float64Var(&o.cfg.Jitter, "jitter", 0, "relative standard deviation of step times")
	f.StringVar(&o.noise, "noise", "off", "trial-to-trial noise like a GPU runner's: off, or gpu (a clock state and a rare slow start drawn per start from --seed and PERFGATE_ENGINE_SEED, thermal drift, step jitter; default gpu when perfgate ab starts it; docs/simulator.md)")
	f.Float64Var(&o.cfg.SlowdownDecode, "slowdown-decode", 1, "multiply decode work, step overhead included (1.05: 5 % slower)")
	f.Float64Var(&o.cfg.SlowdownPrefill, "slowdown-prefill", 1, "multiply prefill work")
	f.Float64Var(&o.cfg.StepOverheadMs, "step-overhead-ms", -1, "fixed time per step in ms (default: the profile's)")
	f.StringVar(&o.stepModel, "step-model", "", "step times fitted to a real engine instead of the profile's: prefill_token_ms=X,decode_seq_ms=X,attn_pair_ns=X,request_ms=X[,mixed_prefill_token_ms=X][,decode_ctx_token_ns=X] (docs/simulator.md)")
	f.Float64Var(&o.cfg.FaultErrorRate, "fault-error-rate", 0, "fraction of requests answered with HTTP 500")
	f.IntVar(&o.cfg.FaultStallAfter, "fault-stall-after", 0, "every stream hangs after this many tokens (0: never)")
	f.Float64Var(&o.cfg.FaultDisconnectRate, "fault-disconnect-rate", 0, "fraction of streams whose connection drops mid-stream")
	f.IntVar(&o.cfg.FaultCrashAfter, "fault-crash-after", 0, "exit with status 1 when more than this many requests have arrived (0: never)")
}

// configure completes the configuration from the model name, the flags
// given and the environment (perfgate ab's engine seed, vLLM's dev mode),
// and checks it.
func (o *simServe) configure(env Env, fs *pflag.FlagSet, model string) error {
	cfg := &o.cfg
	if !fs.Changed("profile") && model != "" {
		if p := profileForModel(model); p != "" {
			cfg.Profile = p
		}
	}
	if o.noPrefixCaching {
		cfg.EnablePrefixCaching = false
	}
	if v := env.Getenv(engine.StartSeedEnv); v != "" {
		// perfgate started this engine for a trial (perfgate ab):
		// each start draws its own noise, on unless --noise says off.
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fault.Usagef("%s must be an unsigned integer (set by perfgate for each engine start), got %q", engine.StartSeedEnv, v)
		}
		cfg.StartSeed = seed
		if !fs.Changed("noise") {
			o.noise = "gpu"
		}
	}
	n, err := sim.ParseNoise(o.noise)
	if err != nil {
		return fault.Usagef("--noise: %v", err)
	}
	cfg.Noise = n
	cfg.Model = cmp.Or(o.servedName, model)
	for _, m := range o.loraModules {
		name, err := loraName(m)
		if err != nil {
			return fault.Usage(err)
		}
		cfg.LoRAModules = append(cfg.LoRAModules, name)
	}
	if len(cfg.LoRAModules) > 0 && !o.enableLoRA {
		return fault.Usagef("--lora-modules needs --enable-lora, as in vLLM")
	}
	if o.stepModel != "" {
		sm, err := parseStepModel(o.stepModel)
		if err != nil {
			return fault.Usagef("--step-model: %v", err)
		}
		cfg.StepModel = sm
	}
	if o.port < 0 || o.port > 65535 {
		return fault.Usagef("--port must be between 0 and 65535, got %d", o.port)
	}
	if v := env.Getenv("VLLM_SERVER_DEV_MODE"); v != "" {
		n, err := strconv.Atoi(v) // vLLM reads it as bool(int(...))
		if err != nil {
			return fault.Usagef("VLLM_SERVER_DEV_MODE must be an integer (1: serve /reset_prefix_cache), got %q", v)
		}
		cfg.DevMode = n != 0
	}
	if err := cfg.Validate(); err != nil {
		return fault.Usagef("%v", err)
	}
	return nil
}

// serve listens, says what it serves, and serves until ctx ends.
func (o *simServe) serve(ctx context.Context, env Env) error {
	cfg := o.cfg
	cfg.OnCrash = func() {
		fmt.Fprintln(env.Stderr, "perfgate sim: simulated crash (--fault-crash-after)")
		os.Exit(1)
	}
	r, err := sim.Listen(net.JoinHostPort(o.host, strconv.Itoa(o.port)), cfg)
	if err != nil {
		return err
	}
	p := r.Sim.Profile()
	fmt.Fprintf(env.Stderr, "perfgate sim: serving %s on %s as %s (TP %d), %d KV blocks of %d tokens, max_model_len %d, time scale %g\n",
		modelName(cfg, p), r.URL, p.Key, p.TP, r.Sim.KVBlocks(), cfg.BlockSize, r.Sim.MaxModelLen(), cfg.TimeScale)
	if cfg.Noise != (sim.Noise{}) {
		fmt.Fprintf(env.Stderr, "perfgate sim: noise %s, start seed %d: this start's steps ×%.3f (clock state and slow start), before drift and jitter\n",
			o.noise, cfg.StartSeed, r.Sim.NoiseFactor())
	}
	return r.Serve(ctx)
}

func modelName(cfg sim.Config, p profile.Profile) string {
	if cfg.Model != "" {
		return cfg.Model
	}
	return p.Model.Name
}

// profileForModel picks the H100 profile of a known model name.
func profileForModel(model string) string {
	m := strings.ToLower(model)
	for _, name := range profile.Names() {
		gpu, key, _ := strings.Cut(name, "/")
		if gpu == "h100" && strings.Contains(m, key) {
			return name
		}
	}
	return ""
}

// dropUnknown warns about each flag serve does not know (vLLM flags it does
// not model) and removes the value-less ones, so that one of them before the
// model name does not swallow it. Flags with values are left to the parser,
// which skips them with their value.
// loraName is the adapter name of one --lora-modules value: NAME=PATH, or
// vLLM's JSON form {"name": NAME, "path": PATH, …}.
func loraName(m string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(m), "{") {
		var j struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(m), &j); err != nil || j.Name == "" {
			return "", fmt.Errorf("--lora-modules %q: expected NAME=PATH or JSON with a \"name\"", m)
		}
		return j.Name, nil
	}
	name, _, ok := strings.Cut(m, "=")
	if !ok || name == "" {
		return "", fmt.Errorf("--lora-modules %q: expected NAME=PATH or JSON with a \"name\"", m)
	}
	return name, nil
}

// loraArgs spells vLLM's --lora-modules A=P B=Q (one flag, several values)
// as --lora-modules A=P --lora-modules B=Q for the flag parser.
func loraArgs(args []string) []string {
	out := make([]string, 0, len(args))
	in := false
	for _, a := range args {
		switch {
		case a == "--lora-modules":
			in = true
			continue
		case in && !strings.HasPrefix(a, "-") && (strings.Contains(a, "=") || strings.HasPrefix(a, "{")):
			out = append(out, "--lora-modules="+a)
			continue
		}
		in = false
		out = append(out, a)
	}
	return out
}

func dropUnknown(fs *pflag.FlagSet, args []string, log *slog.Logger) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, ok := strings.CutPrefix(a, "--")
		if !ok || name == "" {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(name, "=")
		if fs.Lookup(name) == nil {
			log.Warn("ignoring a vllm serve flag the simulator does not model", "flag", "--"+name)
			if !hasValue && vllmBoolFlags[name] {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// parseStepModel reads --step-model's KEY=VALUE list: every key of a fitted
// step model, each once (mixed_prefill_token_ms and decode_ctx_token_ns may
// be left out).
func parseStepModel(v string) (*profile.Linear, error) {
	var l profile.Linear
	fields := map[string]*float64{"prefill_token_ms": &l.PrefillTokenMs, "decode_seq_ms": &l.DecodeSeqMs, "attn_pair_ns": &l.AttnPairNs, "request_ms": &l.RequestMs, "mixed_prefill_token_ms": &l.MixedPrefillTokenMs, "decode_ctx_token_ns": &l.DecodeCtxTokenNs}
	optional := map[string]bool{"mixed_prefill_token_ms": true, "decode_ctx_token_ns": true}
	seen := map[string]bool{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		dst := fields[k]
		if !ok || dst == nil {
			return nil, fmt.Errorf("%q is not KEY=VALUE with KEY one of prefill_token_ms, decode_seq_ms, attn_pair_ns, request_ms, mixed_prefill_token_ms, decode_ctx_token_ns", kv)
		}
		if seen[k] {
			return nil, fmt.Errorf("%s is given twice", k)
		}
		seen[k] = true
		x, err := strconv.ParseFloat(val, 64)
		if err != nil || x < 0 || math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("%s must be a number ≥ 0, got %q", k, val)
		}
		*dst = x
	}
	for k := range fields {
		if !optional[k] && !seen[k] {
			return nil, fmt.Errorf("needs all of prefill_token_ms, decode_seq_ms, attn_pair_ns and request_ms, got %s", v)
		}
	}
	return &l, nil
}
