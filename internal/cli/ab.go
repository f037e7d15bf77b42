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
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/run"
	"github.com/perfgate/perfgate/internal/scenario"
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

func runAB(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) (*ab.Plan, error) {
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
	cand := &ab.Side{Name: ab.Candidate, Ref: o.candRef}
	base := &ab.Side{Name: ab.Baseline, Ref: o.baseRef}
	if cand.SHA, err = vllmsrc.Resolve(ctx, repo, o.candRef, ""); err != nil {
		return nil, usagef("--candidate: %v", err)
	}
	if base.SHA, err = vllmsrc.Resolve(ctx, repo, o.baseRef, cand.SHA); err != nil {
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
	plan := &ab.Plan{Dir: outDir, Baseline: base.SHA, Candidate: cand.SHA, BaselineRef: base.Ref, CandidateRef: cand.Ref}
	write := func() error { plan.Account(base, cand); return plan.Write() }
	fmt.Fprintf(env.Stderr, "perfgate: baseline %s = %.12s, candidate %s = %.12s; output in %s\n", base.Ref, base.SHA, cand.Ref, cand.SHA, outDir)
	for _, sd := range []*ab.Side{base, cand} {
		if err := installSide(ctx, env, repo, work, install, outDir, sd); err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(err, write())
		}
	}
	for _, s := range scenarios {
		d := abDesign(env, s, o)
		perSide := d.Fixed
		if perSide == 0 {
			perSide = d.Rules.MaxTrials
		}
		order := ab.BalancedOrder(perSide)
		if plan.Order == nil {
			plan.Order = order
		}
		n := ab.PlannedStarts(order, s.Engine.TrialPolicy, o.warmupTrial, o.crossover)
		plan.PlannedStarts += n
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s; at most %d engine starts (trial_policy %s)\n",
			s.Name, d.Words(order), n, cmp.Or(s.Engine.TrialPolicy, scenario.TrialRestart))
	}
	verdict := gate.Pass
	for _, s := range scenarios {
		res, err := runABScenario(ctx, env, log, s, outDir, base, cand, o)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), write())
		}
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

// installSide installs a side (ab.Install) and says when an environment
// from an earlier install is reused.
func installSide(ctx context.Context, env Env, repo, work, install, outDir string, sd *ab.Side) error {
	reused, err := ab.Install(ctx, repo, work, install, outDir, sd)
	if err == nil && reused {
		fmt.Fprintf(env.Stderr, "perfgate: the %s's environment is installed already (%s)\n", sd.Name, sd.EnvDir)
	}
	return err
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

// abEnv is what ab's engines need: each trial runs as 'perfgate run' runs
// one, with its progress and level table.
func abEnv(env Env, log *slog.Logger, o abOpts) ab.Env {
	return ab.Env{Getenv: env.Getenv, Stderr: env.Stderr, Log: log,
		Trial: func(ctx context.Context, s *scenario.Scenario, dir string, n int, eng engine.Engine, git, versions map[string]string) error {
			return runTrial(ctx, env, log, s, s.File, dir, runOpts{grace: o.grace, tags: o.tags}, n, trialEnv{eng: eng, git: git, versions: versions})
		}}
}

// runABScenario runs one scenario's A/B: sequential or fixed (ab.Run), or
// on two GPUs at once (--crossover).
func runABScenario(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, outDir string, base, cand *ab.Side, o abOpts) (ab.Result, error) {
	d := abDesign(env, s, o)
	sdir := filepath.Join(outDir, s.Name)
	var res ab.Result
	var err error
	if o.crossover {
		res, err = ab.Crossover(ctx, abEnv(env, log, o), s, sdir, base, cand, d)
	} else {
		t := ab.NewVLLMTrialer(abEnv(env, log, o), s, base, cand)
		defer t.Stop()
		d.Notes = t.Notes
		res, err = ab.Run(ctx, s, t, sdir, d)
	}
	if err == nil {
		printABResult(env, res)
	}
	return res, err
}

func printABResult(env Env, res ab.Result) {
	fmt.Fprintf(env.Stdout, "%s: %s (%d + %d trials; %s)\n", res.Name, res.Headline, res.Trials[0], res.Trials[1], res.Stopped)
}

// runABEndpoints benchmarks two running deployments with the same trial
// discipline.
func runABEndpoints(ctx context.Context, env Env, log *slog.Logger, scenarios []*scenario.Scenario, o abOpts) (*ab.Plan, error) {
	outDir, err := makeRunDir(o.out, "ab", "")
	if err != nil {
		return nil, err
	}
	plan := &ab.Plan{Dir: outDir, BaselineRef: o.baseURL, CandidateRef: o.candURL}
	verdict := gate.Pass
	for _, s := range scenarios {
		d := abDesign(env, s, o)
		order := ab.BalancedOrder(cmp.Or(d.Fixed, d.Rules.MaxTrials))
		if plan.Order == nil {
			plan.Order = order
		}
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s\n", s.Name, d.Words(order))
		t := ab.NewEndpointTrialer(abEnv(env, log, o), s, o.baseURL, o.candURL)
		d.Notes = t.Notes
		res, err := ab.Run(ctx, s, t, filepath.Join(outDir, s.Name), d)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), plan.Write())
		}
		printABResult(env, res)
		if res.Verdict == gate.Fail || (o.failOnWarn && res.Verdict == gate.Warn) {
			verdict = gate.Fail
		}
	}
	if err := plan.Write(); err != nil {
		return plan, err
	}
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", outDir)
	if verdict == gate.Fail {
		return plan, &regressionError{"see the comparison of each scenario in " + outDir}
	}
	return plan, nil
}
