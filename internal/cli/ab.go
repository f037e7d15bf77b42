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

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report"
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
	// set by callers in this package
	tags    map[string]string
	dirOut  *string // receives the A/B folder once it exists
	oneSide bool    // run only the order's trials, without a comparison
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
starts, GPU time), and per scenario baseline/ and candidate/ trials with their
engine.log, comparison.json, comparison.md and plots.

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
			return runAB(cmd.Context(), env, log, args, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&tags, "tag", nil, "KEY=VALUE recorded in every trial's meta.json and shown in the comparison (repeatable)")
	f.StringVar(&o.repo, "vllm-repo", "", "the vLLM git checkout (required)")
	f.StringVar(&o.baseRef, "baseline", "", "baseline ref or SHA, or merge-base:BRANCH (required)")
	f.StringVar(&o.candRef, "candidate", "", "candidate ref or SHA (required)")
	f.IntVar(&o.trials, "trials", 6, "trials per side (at least 4 for the gate to be able to fail)")
	f.StringVarP(&o.out, "out", "o", "runs", "directory under which the A/B folder is created")
	f.StringVar(&o.workDir, "work-dir", "", "where worktrees and environments live (default: the user cache dir, perfgate/<repo>)")
	f.StringVar(&o.install, "install-command", "", "shell command that installs the worktree into $PERFGATE_ENV_DIR (default: uv pip install -e ., else python -m pip)")
	f.BoolVar(&o.clean, "clean", false, "remove the work dir's worktrees and environments first")
	f.BoolVar(&o.warmupTrial, "warmup-trial", false, "run one uncounted trial per side first")
	f.BoolVar(&o.failOnWarn, "fail-on-warn", false, "exit 3 on warn too")
	f.DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish")
	f.StringVar(&o.baseURL, "baseline-url", "", "endpoint mode: the baseline deployment's base address (no source, no install)")
	f.StringVar(&o.candURL, "candidate-url", "", "endpoint mode: the candidate deployment's base address")
	f.StringVar(&o.profile, "profile", "pr", "pr, or release: 10 trials per side unless --trials, alpha 0.01, two-sided review of large improvements")
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
func prepareWork(ctx context.Context, repo string, scenarios []*scenario.Scenario, o abOpts) (work, install string, err error) {
	work = o.workDir
	if work == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		sum := sha256.Sum256([]byte(repo))
		work = filepath.Join(cache, "perfgate", hex.EncodeToString(sum[:6]))
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

// balancedOrder interleaves n trials per side as B C C B B C C B …, so that
// each side is as often first as second in every pair of pairs.
func balancedOrder(n int) []string {
	var out []string
	for i := 0; len(out) < 2*n; i++ {
		if i%2 == 0 {
			out = append(out, "baseline", "candidate")
		} else {
			out = append(out, "candidate", "baseline")
		}
	}
	return out
}

func runAB(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) error {
	endpoints := o.baseURL != "" || o.candURL != ""
	switch {
	case endpoints && (o.baseURL == "" || o.candURL == ""):
		return usagef("endpoint mode needs both --baseline-url and --candidate-url")
	case endpoints && (o.repo != "" || o.crossover):
		return usagef("endpoint mode benchmarks running deployments: --vllm-repo and --crossover do not apply")
	case !endpoints && (o.repo == "" || o.baseRef == "" || o.candRef == ""):
		return usagef("ab needs --vllm-repo, --baseline and --candidate (or --baseline-url and --candidate-url)")
	}
	switch o.profile {
	case "", "pr":
	case "release":
		if !o.trialsSet {
			o.trials = 10
		}
	default:
		return usagef("--profile is pr or release, got %q", o.profile)
	}
	if o.trials < 1 {
		return usagef("--trials must be at least 1")
	}
	scenarios, err := loadABScenarios(files, !endpoints)
	if err != nil {
		return err
	}
	if endpoints {
		return runABEndpoints(ctx, env, log, scenarios, o)
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	cand := &side{name: "candidate", ref: o.candRef}
	base := &side{name: "baseline", ref: o.baseRef}
	if cand.sha, err = vllmsrc.Resolve(ctx, repo, o.candRef, ""); err != nil {
		return usagef("--candidate: %v", err)
	}
	if base.sha, err = vllmsrc.Resolve(ctx, repo, o.baseRef, cand.sha); err != nil {
		return usagef("--baseline: %v", err)
	}
	work, install, err := prepareWork(ctx, repo, scenarios, o)
	if err != nil {
		return err
	}
	outDir, err := makeRunDir(o.out, "ab", "")
	if err != nil {
		return err
	}
	if o.dirOut != nil {
		*o.dirOut = outDir
	}
	fmt.Fprintf(env.Stderr, "perfgate: baseline %s = %.12s, candidate %s = %.12s; output in %s\n", base.ref, base.sha, cand.ref, cand.sha, outDir)
	for _, sd := range []*side{base, cand} {
		if err := installSide(ctx, env, repo, work, install, outDir, sd); err != nil {
			return err
		}
	}
	order := balancedOrder(o.trials)
	plan := abPlan{Baseline: base.sha, Candidate: cand.sha, BaselineRef: base.ref, CandidateRef: cand.ref, Order: order}
	for _, s := range scenarios {
		n := plannedStarts(order, s.Engine.TrialPolicy, o.warmupTrial, o.crossover)
		plan.PlannedStarts += n
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %d trials per side in the order %s; %d engine starts (trial_policy %s)\n",
			s.Name, o.trials, strings.Join(shortOrder(order), " "), n, cmp.Or(s.Engine.TrialPolicy, scenario.TrialRestart))
	}
	verdict := gate.Pass
	for _, s := range scenarios {
		res, err := runABScenario(ctx, env, log, s, outDir, base, cand, order, o)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			writePlan(outDir, plan, base, cand)
			return fmt.Errorf("scenario %s: verdict error: %w", s.Name, err)
		}
		if res.Verdict == gate.Fail || (o.failOnWarn && res.Verdict == gate.Warn) {
			verdict = gate.Fail
		}
	}
	writePlan(outDir, plan, base, cand)
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", outDir)
	if verdict == gate.Fail {
		return &regressionError{"see the comparison of each scenario in " + outDir}
	}
	return nil
}

type abPlan struct {
	PlannedStarts             int
	Baseline, Candidate       string
	BaselineRef, CandidateRef string
	Order                     []string
	Scenarios                 []abScenario
	Starts                    map[string]int
	GPUSeconds                map[string]float64
	Versions                  map[string]map[string]string
	Error                     string `json:",omitempty"`
}

type abScenario struct {
	Name     string
	Verdict  string
	Headline string
	Retries  []string
	Notes    []string `json:",omitempty"`
}

func writePlan(dir string, p abPlan, base, cand *side) {
	p.Starts = map[string]int{"baseline": base.starts, "candidate": cand.starts}
	p.GPUSeconds = map[string]float64{"baseline": base.gpuTime.Seconds(), "candidate": cand.gpuTime.Seconds()}
	p.Versions = map[string]map[string]string{"baseline": base.versions, "candidate": cand.versions}
	_ = record.WriteJSONAtomic(filepath.Join(dir, "ab.json"), p)
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

func runABScenario(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, outDir string, base, cand *side, order []string, o abOpts) (abScenario, error) {
	if o.crossover {
		return runCrossover(ctx, env, log, s, outDir, base, cand, o)
	}
	res := abScenario{Name: s.Name}
	sdir := filepath.Join(outDir, s.Name)
	sides := map[string]*side{"baseline": base, "candidate": cand}
	counts := map[string]int{}
	policy := s.Engine.TrialPolicy
	var running engine.Engine
	var runningSide string
	var runningStart time.Time
	gpuBaseline := gpuMemUsed()
	stop := func() {
		if running == nil {
			return
		}
		running.Close()
		sides[runningSide].gpuTime += time.Since(runningStart)
		running = nil
		waitGPUMemory(gpuBaseline, log)
	}
	defer stop()
	start := func(sd *side, logPath string) (engine.Engine, error) {
		sd.starts++
		began := time.Now()
		e, err := engine.Start(ctx, s, env.Getenv, engine.Options{LogPath: logPath, PathPrefix: filepath.Join(sd.envDir, "bin"), EnvDir: sd.envDir})
		if err != nil {
			sd.gpuTime += time.Since(began)
			return nil, fmt.Errorf("the %s's engine did not start: %w", sd.name, err)
		}
		running, runningSide, runningStart = e, sd.name, began
		return e, nil
	}
	steps := order
	if o.warmupTrial {
		steps = append([]string{"warmup:baseline", "warmup:candidate"}, order...)
	}
	for _, step := range steps {
		name, warm := strings.CutPrefix(step, "warmup:")
		sd := sides[name]
		var dir string
		if warm {
			dir = filepath.Join(sdir, "warmup", name)
		} else {
			counts[name]++
			dir = filepath.Join(sdir, name, fmt.Sprintf("trial-%02d", counts[name]))
		}
		for attempt := 1; ; attempt++ {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return res, err
			}
			if running != nil && (runningSide != name || policy != scenario.TrialReset) {
				stop()
			}
			if running != nil {
				if err := engine.ResetPrefixCache(ctx, running.URL(), running.APIKey()); err != nil {
					// A warm cache would make this trial unlike the side's
					// first: start afresh, and for the rest of the scenario.
					fmt.Fprintf(env.Stderr, "perfgate: %v; restarting the engine for each trial instead\n", err)
					res.Notes = append(res.Notes, fmt.Sprintf("trial_policy reset: %v, so every trial had a fresh engine", err))
					policy = scenario.TrialRestart
					stop()
				}
			}
			eng := running
			if eng == nil {
				var err error
				if eng, err = start(sd, filepath.Join(dir, "engine.log")); err != nil {
					return res, err
				}
			}
			trial := counts[name]
			fmt.Fprintf(env.Stderr, "perfgate: %s: %s trial %d (attempt %d)\n", s.Name, name, trial, attempt)
			te := trialEnv{eng: eng, git: map[string]string{"side": name, "ref": sd.ref, "sha": sd.sha}, versions: sd.versions}
			err := runTrial(ctx, env, log, s, s.File, dir, runOpts{grace: o.grace, tags: o.tags}, trial, te)
			died := false
			if p, ok := eng.(*engine.Process); ok {
				select {
				case <-p.Died():
					died = true
				default:
				}
			}
			if died {
				stop()
			}
			var intr *interruptedError
			if errors.As(err, &intr) {
				return res, err
			}
			if err == nil && !died {
				break
			}
			why := "the engine died during the trial"
			if err != nil {
				why = err.Error()
			}
			res.Retries = append(res.Retries, fmt.Sprintf("%s %s: %s", name, filepath.Base(dir), why))
			if attempt == 2 {
				return res, fmt.Errorf("the %s's trial %d failed twice: %s", name, trial, why)
			}
			failed := dir + "-failed"
			os.RemoveAll(failed)
			if err := os.Rename(dir, failed); err != nil {
				return res, err
			}
			fmt.Fprintf(env.Stderr, "perfgate: %s trial %d failed (%s); kept in %s, retrying once\n", name, trial, why, failed)
		}
	}
	stop()
	res.Notes = append(res.Notes, engineTimeNote(base, cand))
	if o.oneSide {
		return res, nil // tracking: trials of one commit, nothing to compare
	}
	return finishAB(env, sdir, res, o.profile == "release")
}

func engineTimeNote(base, cand *side) string {
	return fmt.Sprintf("engine (GPU) time so far: baseline %s over %d start(s), candidate %s over %d start(s)",
		base.gpuTime.Round(time.Second), base.starts, cand.gpuTime.Round(time.Second), cand.starts)
}

// finishAB compares a scenario's baseline and candidate trials and writes
// the comparison beside them.
func finishAB(env Env, sdir string, res abScenario, release bool) (abScenario, error) {
	bt, err := report.LoadTrials([]string{filepath.Join(sdir, "baseline")})
	if err != nil {
		return res, err
	}
	ct, err := report.LoadTrials([]string{filepath.Join(sdir, "candidate")})
	if err != nil {
		return res, err
	}
	c, err := report.Compare(bt, ct, report.CompareOptions{Release: release})
	if err != nil {
		return res, err
	}
	for _, r := range res.Retries {
		c.Notes = append(c.Notes, "retried: "+r)
	}
	c.Notes = append(c.Notes, res.Notes...)
	if err := report.WriteComparison(c, bt, ct, sdir); err != nil {
		return res, err
	}
	res.Verdict, res.Headline = c.Outcome.Verdict, c.Outcome.Headline
	fmt.Fprintf(env.Stdout, "%s: %s\n", res.Name, c.Outcome.Headline)
	return res, nil
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

// runABEndpoints benchmarks two running deployments with the same trial
// discipline: no source, no install, no restarts.
func runABEndpoints(ctx context.Context, env Env, log *slog.Logger, scenarios []*scenario.Scenario, o abOpts) error {
	outDir, err := makeRunDir(o.out, "ab", "")
	if err != nil {
		return err
	}
	if o.dirOut != nil {
		*o.dirOut = outDir
	}
	urls := map[string]string{"baseline": o.baseURL, "candidate": o.candURL}
	order := balancedOrder(o.trials)
	plan := abPlan{BaselineRef: o.baseURL, CandidateRef: o.candURL, Order: order}
	verdict := gate.Pass
	for _, s := range scenarios {
		res := abScenario{Name: s.Name}
		sdir := filepath.Join(outDir, s.Name)
		counts := map[string]int{}
		refused := map[string]bool{}
		for _, name := range order {
			counts[name]++
			dir := filepath.Join(sdir, name, fmt.Sprintf("trial-%02d", counts[name]))
			ts := cloneScenario(s)
			ts.Engine = scenario.Engine{Kind: scenario.EngineEndpoint, URL: urls[name], APIKeyEnv: s.Engine.APIKeyEnv}
			for attempt := 1; ; attempt++ {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				if s.Engine.TrialPolicy == scenario.TrialReset && !refused[name] {
					if err := engine.ResetPrefixCache(ctx, strings.TrimSuffix(urls[name], "/v1"), env.Getenv(s.Engine.APIKeyEnv)); err != nil {
						// An endpoint cannot be restarted: say that its trials ran warm.
						refused[name] = true
						fmt.Fprintf(env.Stderr, "perfgate: the %s: %v; its trials share a warm prefix cache\n", name, err)
						res.Notes = append(res.Notes, fmt.Sprintf("trial_policy reset: the %s's %v, so its trials shared a warm prefix cache", name, err))
					}
				}
				err := runTrial(ctx, env, log, ts, s.File, dir, runOpts{grace: o.grace, tags: o.tags}, counts[name], trialEnv{git: map[string]string{"side": name, "url": urls[name]}})
				var intr *interruptedError
				if err == nil || errors.As(err, &intr) {
					if err != nil {
						return err
					}
					break
				}
				res.Retries = append(res.Retries, fmt.Sprintf("%s %s: %v", name, filepath.Base(dir), err))
				if attempt == 2 {
					plan.Error = err.Error()
					record.WriteJSONAtomic(filepath.Join(outDir, "ab.json"), plan)
					return fmt.Errorf("scenario %s: verdict error: the %s's trial %d failed twice: %w", s.Name, name, counts[name], err)
				}
				os.RemoveAll(dir + "-failed")
				if err := os.Rename(dir, dir+"-failed"); err != nil {
					return err
				}
			}
		}
		res, err := finishAB(env, sdir, res, o.profile == "release")
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			return err
		}
		if res.Verdict == gate.Fail || (o.failOnWarn && res.Verdict == gate.Warn) {
			verdict = gate.Fail
		}
	}
	record.WriteJSONAtomic(filepath.Join(outDir, "ab.json"), plan)
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", outDir)
	if verdict == gate.Fail {
		return &regressionError{"see the comparison of each scenario in " + outDir}
	}
	return nil
}

// runCrossover runs baseline and candidate at the same time on two GPUs
// (CUDA_VISIBLE_DEVICES 0 and 1), swapping the GPUs every round, so that a
// difference between the devices cancels out and wall time halves.
func runCrossover(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, outDir string, base, cand *side, o abOpts) (abScenario, error) {
	res := abScenario{Name: s.Name}
	sdir := filepath.Join(outDir, s.Name)
	for round := 1; round <= o.trials; round++ {
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
				dir := filepath.Join(sdir, sd.name, fmt.Sprintf("trial-%02d", round))
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
	res.Notes = append(res.Notes, engineTimeNote(base, cand))
	return finishAB(env, sdir, res, o.profile == "release")
}
