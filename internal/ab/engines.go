package ab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry/nvml"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// Side is one of the two commits under test, as installed: where its
// environment is, what it reports of itself, and what its engines have cost.
type Side struct {
	Name, Ref, SHA, EnvDir string
	Versions               map[string]string
	Starts                 int
	GPUTime                time.Duration
	StartSeconds           []float64 // how long each engine start took, until it answered
}

// TrialFunc runs one measured trial of s into dir against eng (nil: the
// scenario names its endpoint); git and versions go into meta.json, and
// its level table to stdout. The caller's, so that its progress display
// and exit codes stay its own; an interrupted trial is a
// fault.InterruptedError.
type TrialFunc func(ctx context.Context, stdout io.Writer, s *scenario.Scenario, dir string, n int, eng engine.Engine, git, versions map[string]string) error

// Env is what an A/B needs from the caller.
type Env struct {
	Getenv func(string) string
	// Stdout gets each scenario's verdict and each trial's level table;
	// Stderr the plan, progress and one line when the plan changes (a
	// refused reset).
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	Trial          TrialFunc
}

// engineTimeNote says what the engines cost each side so far.
func engineTimeNote(base, cand *Side) string {
	return fmt.Sprintf("engine (GPU) time so far: baseline %s over %d start(s), candidate %s over %d start(s)",
		base.GPUTime.Round(time.Second), base.Starts, cand.GPUTime.Round(time.Second), cand.Starts)
}

// VLLMTrialer runs a scenario's trials against vllm serve from each side's
// environment: a fresh engine per trial (trial_policy restart), or one per
// run of consecutive trials of a side with its prefix cache reset between
// them (reset). It counts starts and engine time per side.
type VLLMTrialer struct {
	env   Env
	s     *scenario.Scenario
	sides map[string]*Side

	policy       string
	notes        []string
	running      engine.Engine
	runningSide  string
	runningStart time.Time
	gpuBaseline  float64

	// The plan's bounds, for the estimate after the first trial (0: none).
	planTrials, planStarts int
	expectTrials           float64
	trialsRun, startsRun   int
	startTook, trialTook   time.Duration // the first engine start's, the first trial's
}

// Plan gives the trials and engine starts the scenario may take at most:
// after its first trial the trialer says how long the rest may take.
func (t *VLLMTrialer) Plan(trials, starts int) { t.planTrials, t.planStarts = trials, starts }

// Expect sets the trials (both sides) an unchanged candidate is expected to
// take at the scenario's recorded noise (0: unknown).
func (t *VLLMTrialer) Expect(trials float64) { t.expectTrials = trials }

// NewVLLMTrialer is a trialer for s between base and cand.
func NewVLLMTrialer(env Env, s *scenario.Scenario, base, cand *Side) *VLLMTrialer {
	return &VLLMTrialer{env: env, s: s, sides: map[string]*Side{Baseline: base, Candidate: cand},
		policy: s.Engine.TrialPolicy, gpuBaseline: gpuMemUsed()}
}

// Stop closes the running engine and waits for its GPU memory to return.
func (t *VLLMTrialer) Stop() {
	if t.running == nil {
		return
	}
	t.running.Close()
	t.sides[t.runningSide].GPUTime += time.Since(t.runningStart)
	t.running = nil
	waitGPUMemory(t.gpuBaseline, t.env.Log)
}

// estimate says, after the first trial, how long the rest of the
// scenario's A/B may take: the starts and trials left at most, at the
// first start's and the first trial's time.
func (t *VLLMTrialer) estimate() {
	if t.planTrials == 0 {
		return
	}
	starts, trials := max(t.planStarts-t.startsRun, 0), max(t.planTrials-t.trialsRun, 0)
	rest := time.Duration(starts)*t.startTook + time.Duration(trials)*t.trialTook
	expected := ""
	if t.expectTrials > 0 && t.planTrials > 0 {
		// at the recorded noise: the same share of the plan's starts
		share := math.Min(1, t.expectTrials/float64(t.planTrials))
		left := math.Max(t.expectTrials-float64(t.trialsRun), 0)
		guess := time.Duration(left*float64(t.trialTook)) + time.Duration(share*float64(starts)*float64(t.startTook))
		expected = fmt.Sprintf("; about %s if the candidate changes nothing, at the scenario's noise", guess.Round(time.Second))
	}
	fmt.Fprintf(t.env.Stderr, "perfgate: %s: the engine started in %s and a trial ran %s; the rest takes at most about %s (%d trials, %d engine starts)%s\n",
		t.s.Name, t.startTook.Round(100*time.Millisecond), t.trialTook.Round(100*time.Millisecond), rest.Round(time.Second), trials, starts, expected)
}

// Notes stops the running engine (its time counts before the note says
// it) and returns what the comparison should say of the engines.
func (t *VLLMTrialer) Notes() []string {
	t.Stop()
	return append(slices.Clone(t.notes), engineTimeNote(t.sides[Baseline], t.sides[Candidate]))
}

// Trial implements Trialer.
func (t *VLLMTrialer) Trial(ctx context.Context, name string, n int, dir string) error {
	sd := t.sides[name]
	if t.running != nil && (t.runningSide != name || t.policy != scenario.TrialReset) {
		t.Stop()
	}
	if t.running != nil {
		if err := engine.ResetPrefixCache(ctx, t.running.URL(), t.running.APIKey()); err != nil {
			// A warm cache would make this trial unlike the side's first:
			// start afresh, and for the rest of the scenario.
			fmt.Fprintf(t.env.Stderr, "perfgate: %v; restarting the engine for each trial instead\n", err)
			t.notes = append(t.notes, fmt.Sprintf("trial_policy reset: %v, so every trial had a fresh engine", err))
			t.policy = scenario.TrialRestart
			t.Stop()
		}
	}
	if t.running == nil {
		sd.Starts++
		t.startsRun++
		began := time.Now()
		e, err := engine.Start(ctx, t.s, t.env.Getenv, engine.Options{LogPath: filepath.Join(dir, "engine.log"), PathPrefix: filepath.Join(sd.EnvDir, "bin"), EnvDir: sd.EnvDir,
			StartSeed: startSeed(t.s.Seed, name, sd.Starts)})
		if err != nil {
			sd.GPUTime += time.Since(began)
			return fmt.Errorf("the %s's engine did not start: %w", sd.Name, err)
		}
		took := time.Since(began)
		sd.StartSeconds = append(sd.StartSeconds, math.Round(took.Seconds()*10)/10)
		if t.startTook == 0 {
			t.startTook = took
		}
		t.running, t.runningSide, t.runningStart = e, name, began
	}
	eng := t.running
	trialBegan := time.Now()
	err := t.env.Trial(ctx, t.env.Stdout, t.s, dir, n, eng, map[string]string{"side": name, "ref": sd.Ref, "sha": sd.SHA}, sd.Versions)
	t.trialsRun++
	if err == nil && t.trialTook == 0 {
		t.trialTook = time.Since(trialBegan)
		t.estimate()
	}
	if p, ok := eng.(engine.Mortal); ok { // a process (not on every system)
		select {
		case <-p.Died():
			t.Stop()
			if err == nil {
				err = errors.New("the engine died during the trial")
			}
		default:
		}
	}
	return err
}

// gpuMemUsed is the GPU memory in use now (bytes, over every GPU), or -1
// without NVML.
func gpuMemUsed() float64 {
	p, _, err := nvml.OpenDefault(nvml.Selection{})
	if err != nil {
		return -1
	}
	defer p.Close()
	v, _ := p.Sample(context.Background())
	var used float64
	for k, x := range v {
		if strings.HasSuffix(k, ".mem_used_bytes") {
			used += x
		}
	}
	return used
}

// waitGPUMemory waits (up to a minute) until GPU memory is back near where
// it was before the engine started, and warns when it is not.
func waitGPUMemory(before float64, log *slog.Logger) {
	if before < 0 {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for {
		now := gpuMemUsed()
		if now <= before+256<<20 {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("GPU memory did not return to its level before the engine started; the next trial may have less", "before_bytes", before, "now_bytes", now)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// startSeed is the seed of a side's nth engine start (engine.StartSeedEnv):
// its own for every start and side, the same again for the same scenario
// seed. The simulator standing in for vLLM draws each start's noise from it,
// as every start of a real engine lands in its own clock state.
func startSeed(seed uint64, side string, n int) *uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", seed, side, n)
	v := h.Sum64()
	return &v
}

// cloneScenario copies a scenario for one side's changes.
func cloneScenario(s *scenario.Scenario) *scenario.Scenario {
	c := *s
	c.Engine.Env = slices.Clone(s.Engine.Env)
	c.Engine.Args = slices.Clone(s.Engine.Args)
	return &c
}

// EndpointTrialer runs trials against two running deployments: no source,
// no install, no restarts.
type EndpointTrialer struct {
	env     Env
	s       *scenario.Scenario
	urls    map[string]string
	refused map[string]bool
	notes   []string
}

// NewEndpointTrialer is a trialer for s between two deployments' base
// addresses.
func NewEndpointTrialer(env Env, s *scenario.Scenario, baseURL, candURL string) *EndpointTrialer {
	return &EndpointTrialer{env: env, s: s, refused: map[string]bool{}, urls: map[string]string{Baseline: baseURL, Candidate: candURL}}
}

// Notes are what the comparison should say of the deployments (a refused
// prefix-cache reset).
func (t *EndpointTrialer) Notes() []string { return t.notes }

// Trial implements Trialer.
func (t *EndpointTrialer) Trial(ctx context.Context, name string, n int, dir string) error {
	s := t.s
	ts := cloneScenario(s)
	ts.Engine = scenario.Engine{Kind: scenario.EngineEndpoint, URL: t.urls[name], APIKeyEnv: s.Engine.APIKeyEnv}
	if s.Engine.TrialPolicy == scenario.TrialReset && !t.refused[name] {
		if err := engine.ResetPrefixCache(ctx, strings.TrimSuffix(t.urls[name], "/v1"), t.env.Getenv(s.Engine.APIKeyEnv)); err != nil {
			// An endpoint cannot be restarted: say that its trials ran warm.
			t.refused[name] = true
			fmt.Fprintf(t.env.Stderr, "perfgate: the %s: %v; its trials share a warm prefix cache\n", name, err)
			t.notes = append(t.notes, fmt.Sprintf("trial_policy reset: the %s's %v, so its trials shared a warm prefix cache", name, err))
		}
	}
	return t.env.Trial(ctx, t.env.Stdout, ts, dir, n, nil, map[string]string{"side": name, "url": t.urls[name]}, nil)
}

// Crossover runs baseline and candidate at the same time on two GPUs
// (CUDA_VISIBLE_DEVICES 0 and 1), swapping the GPUs every round, so that a
// difference between the devices cancels out and wall time halves.
//
// Crossover runs a fixed number of rounds (d.Fixed, else the gate's
// max_trials): both sides run at once, so there is no pair to look after
// alone.
func Crossover(ctx context.Context, env Env, s *scenario.Scenario, sdir string, base, cand *Side, d Design) (Result, error) {
	res := Result{Name: s.Name, Dir: sdir}
	rounds := cmp.Or(d.Fixed, d.Rules.MaxTrials)
	for round := 1; round <= rounds; round++ {
		gpus := map[*Side]string{base: "0", cand: "1"}
		if round%2 == 0 {
			gpus = map[*Side]string{base: "1", cand: "0"}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, sd := range []*Side{base, cand} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dir := TrialDir(sdir, sd.Name, round)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					errs[i] = err
					return
				}
				ts := cloneScenario(s)
				ts.Engine.Env = append(ts.Engine.Env, "CUDA_VISIBLE_DEVICES="+gpus[sd])
				began := time.Now()
				e, err := engine.Start(ctx, ts, env.Getenv, engine.Options{LogPath: filepath.Join(dir, "engine.log"), PathPrefix: filepath.Join(sd.EnvDir, "bin"), EnvDir: sd.EnvDir,
					StartSeed: startSeed(s.Seed, sd.Name, round)})
				if err != nil {
					errs[i] = fmt.Errorf("the %s's engine did not start on GPU %s: %w", sd.Name, gpus[sd], err)
					return
				}
				defer func() { e.Close(); sd.GPUTime += time.Since(began) }()
				errs[i] = env.Trial(ctx, env.Stdout, ts, dir, round, e, map[string]string{"side": sd.Name, "ref": sd.Ref, "sha": sd.SHA, "gpu": gpus[sd]}, sd.Versions)
			}()
			sd.Starts++
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
	}
	d.Fixed = rounds
	d.Notes = func() []string { return []string{engineTimeNote(base, cand)} }
	return Finish(ctx, sdir, d, res)
}

// Plan is ab.json: what an A/B compared, in which order, what it cost and
// how each scenario came out. The Action and bisect read it back from a
// folder; a run hands it to its caller typed.
type Plan struct {
	Dir                       string
	PlannedStarts             int
	Baseline, Candidate       string
	BaselineRef, CandidateRef string
	Order                     []string
	Scenarios                 []Result
	Starts                    map[string]int
	GPUSeconds                map[string]float64
	// StartSeconds is how long each engine start of a side took.
	StartSeconds map[string][]float64 `json:",omitempty"`
	Versions     map[string]map[string]string
	Error        string `json:",omitempty"`
}

// Account records the sides' starts, engine time and versions (not for
// endpoints: perfgate starts nothing there).
func (p *Plan) Account(base, cand *Side) {
	p.Starts = map[string]int{Baseline: base.Starts, Candidate: cand.Starts}
	p.GPUSeconds = map[string]float64{Baseline: base.GPUTime.Seconds(), Candidate: cand.GPUTime.Seconds()}
	p.Versions = map[string]map[string]string{Baseline: base.Versions, Candidate: cand.Versions}
	p.StartSeconds = map[string][]float64{Baseline: base.StartSeconds, Candidate: cand.StartSeconds}
}

// Write writes ab.json into the plan's folder.
func (p *Plan) Write() error {
	if err := record.WriteJSONAtomic(filepath.Join(p.Dir, record.ABFile), p); err != nil {
		return fmt.Errorf("writing ab.json: %w", err)
	}
	return nil
}

// balancedOrder is the first n trials per side in the balanced order
// (B C C B B C C B …), for the plan and ab.json.
func balancedOrder(n int) []string {
	out := make([]string, 2*n)
	for i := range out {
		out[i] = Order(i)
	}
	return out
}

// PlannedStarts is how many times the engines will start: every trial with
// trial_policy restart, every change of side with reset.
func PlannedStarts(order []string, policy string, warmup, crossover bool) int {
	if warmup {
		order = append([]string{Baseline, Candidate}, order...)
	}
	if crossover || policy != scenario.TrialReset {
		return len(order)
	}
	n := 0
	for i, s := range order {
		if i == 0 || order[i-1] != s {
			n++
		}
	}
	return n
}

// PlanOrder is the design's trials in order, at the most: its fixed count,
// or the sequential maximum, a side.
func (d Design) PlanOrder() []string { return balancedOrder(cmp.Or(d.Fixed, d.Rules.MaxTrials)) }

// Words says the design in a line: fixed or sequential, the order, the
// re-runs.
func (d Design) Words(order []string) string {
	if d.Fixed > 0 {
		return fmt.Sprintf("%d trials per side in the order %s, decided once; up to %d outlier re-run(s) per side", d.Fixed, strings.Join(shortOrder(order), " "), d.Reruns)
	}
	w := fmt.Sprintf("sequential, %d to %d trials per side in balanced pairs (%s …), stopping when the verdict is clear; up to %d outlier re-run(s) per side",
		d.Rules.MinTrials, d.Rules.MaxTrials, strings.Join(shortOrder(order[:min(len(order), 8)]), " "), d.Reruns)
	if d.NoisePct > 0 {
		w += fmt.Sprintf("; at %.3g %% noise a trial (gate.noise_pct), about %.0f trials in all if the candidate changes nothing, %.0f for a regression of twice the fail threshold",
			d.NoisePct, d.Expected[0], d.Expected[1])
	}
	return w
}

func shortOrder(order []string) []string {
	out := make([]string, len(order))
	for i, s := range order {
		out[i] = strings.ToUpper(s[:1])
	}
	return out
}

// Install checks the side's commit out into a worktree under work and
// installs it with the install command (or reuses the environment that an
// install with the same command left), logging into outDir. It fills the
// side's environment and versions and says whether it reused one.
func Install(ctx context.Context, repo, work, install, outDir string, sd *Side) (reused bool, err error) {
	wt, err := vllmsrc.Worktree(ctx, repo, work, sd.SHA)
	if err != nil {
		return false, fmt.Errorf("the %s's worktree: %w", sd.Name, err)
	}
	sd.EnvDir = vllmsrc.EnvDir(work, sd.SHA)
	reused, err = vllmsrc.Install(ctx, sd.Name, sd.SHA, wt, sd.EnvDir, install, filepath.Join(outDir, "install-"+sd.Name+".log"))
	if err != nil {
		return false, err
	}
	sd.Versions = vllmsrc.Versions(ctx, sd.EnvDir)
	return reused, nil
}
