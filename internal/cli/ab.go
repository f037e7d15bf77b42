package cli

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/run"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry/nvml"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

type abOpts struct {
	repo, baseRef, candRef string
	trials                 int
	out, workDir, install  string
	clean, failOnWarn      bool
	warmupTrial            bool
	grace                  time.Duration
	baseURL, candURL       string
	crossover              bool
	profile                string
	trialsSet              bool
	minTrials, maxTrials   int // override the scenarios' gate.min_trials / max_trials
	// trust keys the work dir's worktrees and environments (the Action: a
	// run that holds a token never reuses what a tokenless run built)
	trust string
	// set by callers in this package
	tags map[string]string
}

func newABCmd(env Env, log *slog.Logger) *cobra.Command {
	var o abOpts
	var tags []string
	cmd := &cobra.Command{
		Use:   "ab SCENARIO... --vllm-repo PATH --baseline REF --candidate REF",
		Short: "Benchmark two commits of vLLM against each other, fairly, and gate",
		Long: `ab resolves the baseline and candidate refs of a vLLM checkout to commits
(merge-base:BRANCH is the merge base of the candidate and BRANCH — what a pull
request should be compared with), checks each out in a git worktree, installs it
into an environment of its own (--install-command, run in the worktree with
PERFGATE_ENV_DIR set; an environment that installed with the same command is
reused), then for every scenario (engine kind: vllm) runs the trials of both
sides interleaved in a balanced order (B C C B B C …) on the same machine,
each against 'vllm serve' from that side's environment, and compares them as
'perfgate compare' does.

Each trial starts a fresh server (engine.trial_policy: restart), or trials of
one side that follow each other share one and reset its prefix cache between
them (trial_policy: reset) — a vLLM start costs GPU-minutes, so the plan says
how many starts it makes and the report shows GPU time per side. A failed trial
(the engine died) is retried once and reported. When a side cannot start at
all, the verdict is error, never pass.

Output: DIR/<UTC time>_ab/ holding install logs, ab.json (commits, order,
starts, GPU time, and per scenario the verdict, trials used and why they
stopped), and per scenario baseline/ and candidate/ trials with their
engine.log, comparison.json, comparison.md, comparison.html and plots.

Exit codes: 0 pass or warn, 3 fail, 1 error (install, start), 2 bad usage.`,
		Example: `  perfgate ab scenarios/pr.yaml --vllm-repo ~/vllm --baseline merge-base:main --candidate HEAD
  perfgate ab scenarios/pr.yaml --vllm-repo ~/vllm --baseline v0.9.0 --candidate my-branch --trials 10 \
      --install-command 'uv venv "$PERFGATE_ENV_DIR" && VIRTUAL_ENV="$PERFGATE_ENV_DIR" uv pip install -e .'`,
		Args: atLeastOneArg("scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.trialsSet = cmd.Flags().Changed("trials")
			var err error
			if o.tags, err = parseTags(tags); err != nil {
				return err
			}
			_, err = runAB(cmd.Context(), env, log, args, o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "KEY=VALUE recorded in every trial's meta.json and shown in the comparison (repeatable)")
	f.StringVar(&o.repo, "vllm-repo", "", "the vLLM git checkout (required)")
	f.StringVar(&o.baseRef, "baseline", "", "baseline ref or SHA, or merge-base:BRANCH (required)")
	f.StringVar(&o.candRef, "candidate", "", "candidate ref or SHA (required)")
	f.IntVar(&o.trials, "trials", 0, "a fixed number of trials per side, decided once (default: sequential, from gate.min_trials to gate.max_trials)")
	f.IntVar(&o.minTrials, "min-trials", 0, "sequential: the first look, and the fewest trials per side a fail may rest on (default: the scenario's gate.min_trials, 3)")
	f.IntVar(&o.maxTrials, "max-trials", 0, "sequential: the most trials per side (default: the scenario's gate.max_trials, 10)")
	f.StringVarP(&o.out, "out", "o", "runs", "directory under which the A/B folder is created")
	f.StringVar(&o.workDir, "work-dir", "", "where worktrees and environments live (default: the user cache dir, perfgate/<repo>)")
	f.StringVar(&o.install, "install-command", "", "shell command that installs the worktree into $PERFGATE_ENV_DIR (default: uv pip install -e ., else python -m pip)")
	f.BoolVar(&o.clean, "clean", false, "remove the work dir's worktrees and environments first")
	f.BoolVar(&o.warmupTrial, "warmup-trial", false, "run one uncounted trial per side first")
	f.BoolVar(&o.failOnWarn, "fail-on-warn", false, "exit 3 on warn too")
	f.DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish")
	f.StringVar(&o.baseURL, "baseline-url", "", "endpoint mode: the baseline deployment's base address (no source, no install)")
	f.StringVar(&o.candURL, "candidate-url", "", "endpoint mode: the candidate deployment's base address")
	f.StringVar(&o.profile, "profile", "pr", "pr, or release: a fixed 10 trials per side unless --trials, alpha 0.01, two-sided review of large improvements")
	f.BoolVar(&o.crossover, "crossover", false, "two GPUs: run baseline and candidate at once, on GPU 0 and 1, swapping GPUs every round")
	return cmd
}

// loadABScenarios reads the scenario files; vllm: each must start vllm serve.
func loadABScenarios(files []string, vllm bool) ([]*scenario.Scenario, error) {
	var scenarios []*scenario.Scenario
	for _, f := range files {
		s, err := scenario.LoadForRun(f)
		if err != nil {
			if scenario.IsValidation(err) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		if vllm && s.Engine.Kind != scenario.EngineVLLM {
			return nil, usagef("%s: perfgate ab starts vllm serve itself; set engine: {kind: vllm} (got kind %s)", f, s.Engine.Kind)
		}
		scenarios = append(scenarios, s)
	}
	return scenarios, nil
}

// prepareWork finds the work dir (worktrees and environments), cleans it
// when asked, and settles the install command.
func prepareWork(ctx context.Context, env Env, repo string, scenarios []*scenario.Scenario, o abOpts) (work, install string, err error) {
	run.SweepOrphans(env.Stderr)
	work = o.workDir
	if work == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		sum := sha256.Sum256([]byte(repo))
		work = filepath.Join(cache, "perfgate", hex.EncodeToString(sum[:6]))
	}
	if o.trust != "" {
		work = filepath.Join(work, o.trust)
	}
	if o.clean {
		if err := vllmsrc.Clean(ctx, repo, work); err != nil {
			return "", "", err
		}
	}
	install = o.install
	for _, s := range scenarios {
		if install == "" && s.Engine.InstallCommand != "" {
			install = s.Engine.InstallCommand
		} else if o.install == "" && s.Engine.InstallCommand != "" && s.Engine.InstallCommand != install {
			return "", "", usagef("the scenarios name different install commands; give one with --install-command")
		}
	}
	if install == "" {
		install = vllmsrc.DefaultInstall
	}
	return work, install, nil
}

// installSide checks the side's commit out and installs it (or reuses the
// environment that an install with the same command left).
func installSide(ctx context.Context, env Env, repo, work, install, outDir string, sd *side) error {
	wt, err := vllmsrc.Worktree(ctx, repo, work, sd.sha)
	if err != nil {
		return fmt.Errorf("the %s's worktree: %w", sd.name, err)
	}
	sd.envDir = vllmsrc.EnvDir(work, sd.sha)
	reused, err := vllmsrc.Install(ctx, sd.name, sd.sha, wt, sd.envDir, install, filepath.Join(outDir, "install-"+sd.name+".log"))
	if err != nil {
		return err
	}
	if reused {
		fmt.Fprintf(env.Stderr, "perfgate: the %s's environment is installed already (%s)\n", sd.name, sd.envDir)
	}
	sd.versions = vllmsrc.Versions(ctx, sd.envDir)
	return nil
}

// side is one of the two commits under test.
type side struct {
	name, ref, sha, envDir string
	versions               map[string]string
	starts                 int
	gpuTime                time.Duration
}

// balancedOrder is the first n trials per side in ab's balanced order
// (B C C B B C C B …), for the plan and ab.json.
func balancedOrder(n int) []string {
	out := make([]string, 2*n)
	for i := range out {
		out[i] = ab.Order(i)
	}
	return out
}

func runAB(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) (*abPlan, error) {
	endpoints := o.baseURL != "" || o.candURL != ""
	switch {
	case endpoints && (o.baseURL == "" || o.candURL == ""):
		return nil, usagef("endpoint mode needs both --baseline-url and --candidate-url")
	case endpoints && (o.repo != "" || o.crossover):
		return nil, usagef("endpoint mode benchmarks running deployments: --vllm-repo and --crossover do not apply")
	case !endpoints && (o.repo == "" || o.baseRef == "" || o.candRef == ""):
		return nil, usagef("ab needs --vllm-repo, --baseline and --candidate (or --baseline-url and --candidate-url)")
	}
	switch o.profile {
	case "", "pr":
	case "release":
		if !o.trialsSet {
			o.trials = 10
		}
	default:
		return nil, usagef("--profile is pr or release, got %q", o.profile)
	}
	if o.trialsSet && o.trials < 1 {
		return nil, usagef("--trials must be at least 1")
	}
	if o.minTrials != 0 && o.minTrials < 2 || o.maxTrials != 0 && o.maxTrials < max(2, o.minTrials) || o.maxTrials > 99 {
		return nil, usagef("--min-trials must be ≥ 2 and --max-trials from --min-trials to 99, got %d and %d", o.minTrials, o.maxTrials)
	}
	scenarios, err := loadABScenarios(files, !endpoints)
	if err != nil {
		return nil, err
	}
	for _, s := range scenarios {
		if o.trials > 0 {
			if ok, why := gate.CanFail(o.trials, gateRules(s, o)); !ok {
				fmt.Fprintf(env.Stderr, "perfgate: %s: %s\n", s.Name, why)
			}
		}
	}
	if endpoints {
		return runABEndpoints(ctx, env, log, scenarios, o)
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return nil, err
	}
	cand := &side{name: "candidate", ref: o.candRef}
	base := &side{name: "baseline", ref: o.baseRef}
	if cand.sha, err = vllmsrc.Resolve(ctx, repo, o.candRef, ""); err != nil {
		return nil, usagef("--candidate: %v", err)
	}
	if base.sha, err = vllmsrc.Resolve(ctx, repo, o.baseRef, cand.sha); err != nil {
		return nil, usagef("--baseline: %v", err)
	}
	work, install, err := prepareWork(ctx, env, repo, scenarios, o)
	if err != nil {
		return nil, err
	}
	outDir, err := makeRunDir(o.out, "ab", "")
	if err != nil {
		return nil, err
	}
	plan := &abPlan{Dir: outDir, Baseline: base.sha, Candidate: cand.sha, BaselineRef: base.ref, CandidateRef: cand.ref}
	fmt.Fprintf(env.Stderr, "perfgate: baseline %s = %.12s, candidate %s = %.12s; output in %s\n", base.ref, base.sha, cand.ref, cand.sha, outDir)
	for _, sd := range []*side{base, cand} {
		if err := installSide(ctx, env, repo, work, install, outDir, sd); err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(err, writePlan(plan, base, cand))
		}
	}
	for _, s := range scenarios {
		d := abDesign(env, s, o)
		perSide := d.Fixed
		if perSide == 0 {
			perSide = d.Rules.MaxTrials
		}
		order := balancedOrder(perSide)
		if plan.Order == nil {
			plan.Order = order
		}
		n := plannedStarts(order, s.Engine.TrialPolicy, o.warmupTrial, o.crossover)
		plan.PlannedStarts += n
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s; at most %d engine starts (trial_policy %s)\n",
			s.Name, designWords(d, order), n, cmp.Or(s.Engine.TrialPolicy, scenario.TrialRestart))
	}
	verdict := gate.Pass
	for _, s := range scenarios {
		res, err := runABScenario(ctx, env, log, s, outDir, base, cand, o)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), writePlan(plan, base, cand))
		}
		if res.Verdict == gate.Fail || (o.failOnWarn && res.Verdict == gate.Warn) {
			verdict = gate.Fail
		}
	}
	if err := writePlan(plan, base, cand); err != nil {
		return plan, err
	}
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", outDir)
	if verdict == gate.Fail {
		return plan, &regressionError{"see the comparison of each scenario in " + outDir}
	}
	return plan, nil
}

// gateRules are a scenario's gate settings with the command line's trial bounds.
func gateRules(s *scenario.Scenario, o abOpts) gate.Rules {
	r := gate.Rules{Alpha: s.Gate.Alpha, MinTrials: cmp.Or(o.minTrials, s.Gate.MinTrials), MaxTrials: cmp.Or(o.maxTrials, s.Gate.MaxTrials)}
	r.MaxTrials = max(r.MaxTrials, r.MinTrials)
	return r
}

// abDesign is how a scenario's trials run: fixed with --trials (or the
// release profile), else sequential.
func abDesign(env Env, s *scenario.Scenario, o abOpts) ab.Design {
	d := ab.Design{Rules: gateRules(s, o), Warmup: o.warmupTrial, Release: o.profile == "release", Log: env.Stderr,
		Fatal: func(err error) bool { var intr *interruptedError; return errors.As(err, &intr) }}
	if s.Gate.OutlierReruns != nil {
		d.Reruns = *s.Gate.OutlierReruns
	}
	if o.trials > 0 {
		d.Fixed = o.trials
	}
	return d
}

func designWords(d ab.Design, order []string) string {
	if d.Fixed > 0 {
		return fmt.Sprintf("%d trials per side in the order %s, decided once", d.Fixed, strings.Join(shortOrder(order), " "))
	}
	return fmt.Sprintf("sequential, %d to %d trials per side in balanced pairs (%s …), stopping when the verdict is clear; up to %d outlier re-run(s) per side",
		d.Rules.MinTrials, d.Rules.MaxTrials, strings.Join(shortOrder(order[:min(len(order), 8)]), " "), d.Reruns)
}

type abPlan struct {
	Dir                       string
	PlannedStarts             int
	Baseline, Candidate       string
	BaselineRef, CandidateRef string
	Order                     []string
	Scenarios                 []ab.Result
	Starts                    map[string]int
	GPUSeconds                map[string]float64
	Versions                  map[string]map[string]string
	Error                     string `json:",omitempty"`
}

func writePlan(p *abPlan, base, cand *side) error {
	p.Starts = map[string]int{"baseline": base.starts, "candidate": cand.starts}
	p.GPUSeconds = map[string]float64{"baseline": base.gpuTime.Seconds(), "candidate": cand.gpuTime.Seconds()}
	p.Versions = map[string]map[string]string{"baseline": base.versions, "candidate": cand.versions}
	if err := record.WriteJSONAtomic(filepath.Join(p.Dir, record.ABFile), p); err != nil {
		return fmt.Errorf("writing ab.json: %w", err)
	}
	return nil
}

// plannedStarts is how many times the engines will start: every trial with
// trial_policy restart, every change of side with reset.
func plannedStarts(order []string, policy string, warmup, crossover bool) int {
	if warmup {
		order = append([]string{"baseline", "candidate"}, order...)
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

func shortOrder(order []string) []string {
	out := make([]string, len(order))
	for i, s := range order {
		out[i] = strings.ToUpper(s[:1])
	}
	return out
}

// vllmTrialer runs a scenario's trials against vllm serve from each side's
// environment: a fresh engine per trial (trial_policy restart), or one per
// run of consecutive trials of a side with its prefix cache reset between
// them (reset). It counts starts and engine time per side.
type vllmTrialer struct {
	env   Env
	log   *slog.Logger
	s     *scenario.Scenario
	o     abOpts
	sides map[string]*side

	policy       string
	notes        []string
	running      engine.Engine
	runningSide  string
	runningStart time.Time
	gpuBaseline  float64
}

func newVLLMTrialer(env Env, log *slog.Logger, s *scenario.Scenario, o abOpts, base, cand *side) *vllmTrialer {
	return &vllmTrialer{env: env, log: log, s: s, o: o, sides: map[string]*side{ab.Baseline: base, ab.Candidate: cand},
		policy: s.Engine.TrialPolicy, gpuBaseline: gpuMemUsed()}
}

// stop closes the running engine and waits for its GPU memory to return.
func (t *vllmTrialer) stop() {
	if t.running == nil {
		return
	}
	t.running.Close()
	t.sides[t.runningSide].gpuTime += time.Since(t.runningStart)
	t.running = nil
	waitGPUMemory(t.gpuBaseline, t.log)
}

func (t *vllmTrialer) Trial(ctx context.Context, name string, n int, dir string) error {
	sd := t.sides[name]
	if t.running != nil && (t.runningSide != name || t.policy != scenario.TrialReset) {
		t.stop()
	}
	if t.running != nil {
		if err := engine.ResetPrefixCache(ctx, t.running.URL(), t.running.APIKey()); err != nil {
			// A warm cache would make this trial unlike the side's first:
			// start afresh, and for the rest of the scenario.
			fmt.Fprintf(t.env.Stderr, "perfgate: %v; restarting the engine for each trial instead\n", err)
			t.notes = append(t.notes, fmt.Sprintf("trial_policy reset: %v, so every trial had a fresh engine", err))
			t.policy = scenario.TrialRestart
			t.stop()
		}
	}
	if t.running == nil {
		sd.starts++
		began := time.Now()
		e, err := engine.Start(ctx, t.s, t.env.Getenv, engine.Options{LogPath: filepath.Join(dir, "engine.log"), PathPrefix: filepath.Join(sd.envDir, "bin"), EnvDir: sd.envDir})
		if err != nil {
			sd.gpuTime += time.Since(began)
			return fmt.Errorf("the %s's engine did not start: %w", sd.name, err)
		}
		t.running, t.runningSide, t.runningStart = e, name, began
	}
	eng := t.running
	te := trialEnv{eng: eng, git: map[string]string{"side": name, "ref": sd.ref, "sha": sd.sha}, versions: sd.versions}
	err := runTrial(ctx, t.env, t.log, t.s, t.s.File, dir, runOpts{grace: t.o.grace, tags: t.o.tags}, n, te)
	if p, ok := eng.(*engine.Process); ok {
		select {
		case <-p.Died():
			t.stop()
			if err == nil {
				err = errors.New("the engine died during the trial")
			}
		default:
		}
	}
	return err
}

// runABScenario runs one scenario's A/B: sequential or fixed (ab.Run), or
// on two GPUs at once (--crossover).
func runABScenario(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, outDir string, base, cand *side, o abOpts) (ab.Result, error) {
	d := abDesign(env, s, o)
	sdir := filepath.Join(outDir, s.Name)
	if o.crossover {
		return runCrossover(ctx, env, log, s, sdir, base, cand, o, d)
	}
	t := newVLLMTrialer(env, log, s, o, base, cand)
	defer t.stop()
	d.Notes = func() []string {
		t.stop() // the engine's time counts before the note says it
		return append(slices.Clone(t.notes), engineTimeNote(base, cand))
	}
	res, err := ab.Run(ctx, s, t, sdir, d)
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s: %s (%d + %d trials; %s)\n", res.Name, res.Headline, res.Trials[0], res.Trials[1], res.Stopped)
	}
	return res, err
}

func engineTimeNote(base, cand *side) string {
	return fmt.Sprintf("engine (GPU) time so far: baseline %s over %d start(s), candidate %s over %d start(s)",
		base.gpuTime.Round(time.Second), base.starts, cand.gpuTime.Round(time.Second), cand.starts)
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

// cloneScenario copies a scenario for one side's changes.
func cloneScenario(s *scenario.Scenario) *scenario.Scenario {
	c := *s
	c.Engine.Env = slices.Clone(s.Engine.Env)
	c.Engine.Args = slices.Clone(s.Engine.Args)
	return &c
}

// endpointTrialer runs trials against two running deployments: no source,
// no install, no restarts.
type endpointTrialer struct {
	env     Env
	log     *slog.Logger
	s       *scenario.Scenario
	o       abOpts
	urls    map[string]string
	refused map[string]bool
	notes   []string
}

func (t *endpointTrialer) Trial(ctx context.Context, name string, n int, dir string) error {
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
	return runTrial(ctx, t.env, t.log, ts, s.File, dir, runOpts{grace: t.o.grace, tags: t.o.tags}, n, trialEnv{git: map[string]string{"side": name, "url": t.urls[name]}})
}

// runABEndpoints benchmarks two running deployments with the same trial
// discipline.
func runABEndpoints(ctx context.Context, env Env, log *slog.Logger, scenarios []*scenario.Scenario, o abOpts) (*abPlan, error) {
	outDir, err := makeRunDir(o.out, "ab", "")
	if err != nil {
		return nil, err
	}
	plan := &abPlan{Dir: outDir, BaselineRef: o.baseURL, CandidateRef: o.candURL}
	write := func() error {
		if err := record.WriteJSONAtomic(filepath.Join(outDir, record.ABFile), plan); err != nil {
			return fmt.Errorf("writing ab.json: %w", err)
		}
		return nil
	}
	verdict := gate.Pass
	for _, s := range scenarios {
		d := abDesign(env, s, o)
		perSide := cmp.Or(d.Fixed, d.Rules.MaxTrials)
		if plan.Order == nil {
			plan.Order = balancedOrder(perSide)
		}
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s\n", s.Name, designWords(d, balancedOrder(perSide)))
		t := &endpointTrialer{env: env, log: log, s: s, o: o, refused: map[string]bool{},
			urls: map[string]string{ab.Baseline: o.baseURL, ab.Candidate: o.candURL}}
		d.Notes = func() []string { return t.notes }
		res, err := ab.Run(ctx, s, t, filepath.Join(outDir, s.Name), d)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), write())
		}
		fmt.Fprintf(env.Stdout, "%s: %s (%d + %d trials; %s)\n", res.Name, res.Headline, res.Trials[0], res.Trials[1], res.Stopped)
		if res.Verdict == gate.Fail || (o.failOnWarn && res.Verdict == gate.Warn) {
			verdict = gate.Fail
		}
	}
	if err := write(); err != nil {
		return plan, err
	}
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", outDir)
	if verdict == gate.Fail {
		return plan, &regressionError{"see the comparison of each scenario in " + outDir}
	}
	return plan, nil
}

// runCrossover runs baseline and candidate at the same time on two GPUs
// (CUDA_VISIBLE_DEVICES 0 and 1), swapping the GPUs every round, so that a
// difference between the devices cancels out and wall time halves.
//
// Crossover runs a fixed number of rounds (--trials, else the scenario's
// gate.max_trials): both sides run at once, so there is no pair to look
// after alone.
func runCrossover(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, sdir string, base, cand *side, o abOpts, d ab.Design) (ab.Result, error) {
	res := ab.Result{Name: s.Name, Dir: sdir}
	rounds := cmp.Or(d.Fixed, d.Rules.MaxTrials)
	for round := 1; round <= rounds; round++ {
		gpus := map[*side]string{base: "0", cand: "1"}
		if round%2 == 0 {
			gpus = map[*side]string{base: "1", cand: "0"}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, sd := range []*side{base, cand} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dir := ab.TrialDir(sdir, sd.name, round)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					errs[i] = err
					return
				}
				ts := cloneScenario(s)
				ts.Engine.Env = append(ts.Engine.Env, "CUDA_VISIBLE_DEVICES="+gpus[sd])
				began := time.Now()
				e, err := engine.Start(ctx, ts, env.Getenv, engine.Options{LogPath: filepath.Join(dir, "engine.log"), PathPrefix: filepath.Join(sd.envDir, "bin"), EnvDir: sd.envDir})
				if err != nil {
					errs[i] = fmt.Errorf("the %s's engine did not start on GPU %s: %w", sd.name, gpus[sd], err)
					return
				}
				defer func() { e.Close(); sd.gpuTime += time.Since(began) }()
				te := trialEnv{eng: e, git: map[string]string{"side": sd.name, "ref": sd.ref, "sha": sd.sha, "gpu": gpus[sd]}, versions: sd.versions}
				errs[i] = runTrial(ctx, env, log, ts, s.File, dir, runOpts{grace: o.grace, tags: o.tags}, round, te)
			}()
			sd.starts++
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
	}
	d.Fixed = rounds
	d.Notes = func() []string { return []string{engineTimeNote(base, cand)} }
	res, err := ab.Finish(sdir, d, res)
	if err == nil {
		fmt.Fprintf(env.Stdout, "%s: %s (%d + %d trials; %s)\n", res.Name, res.Headline, res.Trials[0], res.Trials[1], res.Stopped)
	}
	return res, err
}
