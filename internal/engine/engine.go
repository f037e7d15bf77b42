package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/retry"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/sim"
)

// Engine is a running server perfgate can send requests to.
type Engine interface {
	Kind() string
	URL() string    // base address, without /v1
	APIKey() string // "" when none
	Close() error
}

// What some engines can say beyond Engine: callers ask with a type
// assertion (eng.(engine.Mortal)).
type (
	// Mortal is an engine that can stop on its own: a process, or the
	// simulator serving a fault. Died is closed when it has.
	Mortal interface{ Died() <-chan struct{} }
	// WithPID is an engine perfgate started as a process: its pid roots the
	// process tree the host probe samples.
	WithPID interface{ PID() int }
	// Logged is an engine whose output perfgate keeps in a file.
	Logged interface{ LogPath() string }
	// StartTimed is an engine that measured its own start (launch to
	// healthy); TakeStartTook reports it once, then 0.
	StartTimed interface{ TakeStartTook() time.Duration }
)

var _ Mortal = (*simEngine)(nil)

// MissingKeyError means api_key_env names a variable that is not set.
type MissingKeyError struct{ Var string }

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("engine.api_key_env names %s, but that environment variable is not set (or empty)", e.Var)
}

func (e *MissingKeyError) ExitCode() int { return fault.ExitUsage }

// ConfigError means the engine's settings cannot work (exit code 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "engine settings: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
func (e *ConfigError) ExitCode() int { return fault.ExitUsage }

// simConfig turns a scenario's sim settings into the simulator's
// configuration: unset values keep the simulator's (vLLM's) defaults, and the
// simulator's seed is the scenario's unless the engine names its own.
func simConfig(s *scenario.Scenario) sim.Config {
	m := s.Engine.Sim
	c := sim.DefaultConfig()
	c.Model = s.Model
	c.Seed = s.Seed
	for _, cl := range s.Workload.Classes {
		// the embedded simulator serves the adapters the classes name, as
		// a vLLM started with --enable-lora --lora-modules would
		if cl.LoRA != "" && !slices.Contains(c.LoRAModules, cl.LoRA) {
			c.LoRAModules = append(c.LoRAModules, cl.LoRA)
		}
	}
	setS := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setF := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	setS(&c.Profile, m.Profile)
	setI(&c.TensorParallel, m.TensorParallelSize)
	setI(&c.MaxNumSeqs, m.MaxNumSeqs)
	setI(&c.MaxNumBatchedTokens, m.MaxNumBatchedTokens)
	setF(&c.GPUMemoryUtilization, m.GPUMemoryUtilization)
	setI(&c.BlockSize, m.BlockSize)
	setI(&c.MaxModelLen, m.MaxModelLen)
	setI(&c.NumGPUBlocksOverride, m.NumGPUBlocksOverride)
	setF(&c.TimeScale, m.TimeScale)
	setF(&c.Jitter, m.Jitter)
	setF(&c.SlowdownDecode, m.SlowdownDecode)
	setF(&c.SlowdownPrefill, m.SlowdownPrefill)
	setF(&c.FaultErrorRate, m.FaultErrorRate)
	setI(&c.FaultStallAfter, m.FaultStallAfter)
	setF(&c.FaultDisconnectRate, m.FaultDisconnectRate)
	setI(&c.FaultCrashAfter, m.FaultCrashAfter)
	if m.EnablePrefixCaching != nil {
		c.EnablePrefixCaching = *m.EnablePrefixCaching
	}
	if m.Seed != nil {
		c.Seed = *m.Seed
	}
	if m.StepOverheadMs != nil {
		c.StepOverheadMs = *m.StepOverheadMs
	}
	if m.StepModel != nil {
		sm := *m.StepModel
		c.StepModel = &sm
	}
	if n, err := sim.ParseNoise(m.Noise); err == nil { // "" and unknown names: checked by the scenario, off here
		c.Noise = n
	}
	return c
}

// Options say where a started engine process writes and finds things.
type Options struct {
	LogPath    string // engine.log for a vllm process
	PathPrefix string // a directory put first on PATH (an installed environment's bin/)
	EnvDir     string // the installed environment, given to the server as PERFGATE_ENV_DIR
	Bin        string // the vllm executable; default engine.vllm_bin, else vllm in PathPrefix or on PATH
	// StartSeed, when set, goes to a vllm process as PERFGATE_ENGINE_SEED
	// (StartSeedEnv): one per engine start, so that perfgate's simulator
	// standing in for vLLM draws each start's noise afresh (vLLM ignores it).
	StartSeed *uint64
}

// StartSeedEnv is the variable that carries Options.StartSeed.
const StartSeedEnv = "PERFGATE_ENGINE_SEED"

// Start brings up the scenario's engine. getenv reads the API key variable.
func Start(ctx context.Context, s *scenario.Scenario, getenv func(string) string, o Options) (Engine, error) {
	e := s.Engine
	var key string
	if e.APIKeyEnv != "" {
		if key = getenv(e.APIKeyEnv); key == "" {
			return nil, &MissingKeyError{Var: e.APIKeyEnv}
		}
	}
	switch e.Kind {
	case scenario.EngineSim:
		cfg := simConfig(s)
		cfg.DevMode = true // perfgate's own engine: resettable, as a vLLM that perfgate starts
		r, err := sim.Start(cfg)
		if err != nil {
			return nil, &ConfigError{err}
		}
		return &simEngine{r: r, key: key}, nil
	case scenario.EngineVLLM:
		return startVLLM(ctx, s, o)
	case scenario.EngineEndpoint:
		u, err := url.Parse(e.URL)
		if err != nil {
			return nil, err
		}
		u.Path = trimV1(u.Path)
		return &endpoint{url: u.String(), key: key}, nil
	}
	return nil, fmt.Errorf("unknown engine kind %q", e.Kind)
}

// trimV1 lets users write the base address with or without /v1.
func trimV1(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if len(p) >= 3 && p[len(p)-3:] == "/v1" {
		p = p[:len(p)-3]
	}
	return p
}

type simEngine struct {
	r   *sim.Running
	key string
}

func (s *simEngine) Kind() string   { return scenario.EngineSim }
func (s *simEngine) URL() string    { return s.r.URL }
func (s *simEngine) APIKey() string { return s.key }
func (s *simEngine) Close() error   { return s.r.Close() }

// Died is closed when the simulator crashed on purpose (fault_crash_after).
func (s *simEngine) Died() <-chan struct{} { return s.r.Died() }

type endpoint struct{ url, key string }

func (e *endpoint) Kind() string   { return scenario.EngineEndpoint }
func (e *endpoint) URL() string    { return e.url }
func (e *endpoint) APIKey() string { return e.key }
func (e *endpoint) Close() error   { return nil }

var (
	_ Engine = (*simEngine)(nil)
	_ Engine = (*endpoint)(nil)
)

// ResetPrefixCache empties the engine's prefix cache between two trials or
// two levels. A 409 (requests of the last one are still being aborted) is
// retried for five seconds; a 404 means the route is not mounted, which vLLM
// does only with VLLM_SERVER_DEV_MODE=1.
func ResetPrefixCache(ctx context.Context, url, apiKey string) error {
	return retry.Do(ctx, retry.Policy{Attempts: 20, Delay: func(int) time.Duration { return 250 * time.Millisecond },
		Retryable: func(err error) bool { return errors.Is(err, errResetBusy) }}, func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/reset_prefix_cache", nil)
		if err != nil {
			return err
		}
		if apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+apiKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("could not reset the prefix cache: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusNotFound:
			return fmt.Errorf("POST /reset_prefix_cache answered 404 (vLLM serves it only with VLLM_SERVER_DEV_MODE=1 in the server's environment)")
		case http.StatusConflict:
			return errResetBusy
		}
		return fmt.Errorf("POST /reset_prefix_cache answered HTTP %d", resp.StatusCode)
	})
}

// errResetBusy is a 409: the last requests are still being aborted.
var errResetBusy = errors.New("POST /reset_prefix_cache answered HTTP 409 (requests still being aborted) for five seconds")
