package ab

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
	"github.com/perfgate/perfgate/internal/compare"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/gatesim"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// Options are an A/B's choices, from perfgate ab's flags or the Action's
// inputs: two refs of a vLLM checkout (or two running deployments), how
// many trials, and where things go.
type Options struct {
	Repo, BaseRef, CandRef string
	// Trials > 0 is a fixed number of trials per side (TrialsSet: given
	// explicitly; the release profile's 10 otherwise).
	Trials    int
	TrialsSet bool
	// MinTrials and MaxTrials override the scenarios' gate.min_trials and
	// gate.max_trials (0: keep them).
	MinTrials, MaxTrials  int
	Out, WorkDir, Install string
	Clean, FailOnWarn     bool
	WarmupTrial           bool
	// BaseURL and CandURL: endpoint mode, two running deployments.
	BaseURL, CandURL string
	Crossover        bool
	// Profile is "pr" (or empty) or "release".
	Profile string
	// Trust keys the work dir's worktrees and environments (the Action:
	// by whose code ran, so a fork's install is never reused by a trusted
	// run).
	Trust string
	// EvictAfter removes the work dir's worktrees and environments that no
	// run has used for this long, before the run (0: keep them all).
	EvictAfter time.Duration
}

// LoadScenarios reads the scenario files; vllm: each must start vllm serve.
func LoadScenarios(files []string, vllm bool) ([]*scenario.Scenario, error) {
	var scenarios []*scenario.Scenario
	for _, f := range files {
		s, err := scenario.LoadForRun(f)
		if err != nil {
			if scenario.IsValidation(err) {
				return nil, err
			}
			return nil, fault.Usage(err)
		}
		if vllm && s.Engine.Kind != scenario.EngineVLLM {
			return nil, fault.Usagef("%s: perfgate ab starts vllm serve itself; set engine: {kind: vllm} (got kind %s)", f, s.Engine.Kind)
		}
		scenarios = append(scenarios, s)
	}
	return scenarios, nil
}

// PrepareWork finds the work dir (worktrees and environments), cleans it
// when asked, and settles the install command.
func PrepareWork(ctx context.Context, env Env, repo string, scenarios []*scenario.Scenario, o Options) (work, install string, err error) {
	engine.StopOrphans(env.Stderr)
	work = o.WorkDir
	if work == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		sum := sha256.Sum256([]byte(repo))
		work = filepath.Join(cache, "perfgate", hex.EncodeToString(sum[:6]))
	}
	if o.Trust != "" {
		work = filepath.Join(work, o.Trust)
	}
	// The install runs in the worktree and the engine elsewhere: a relative
	// work dir would name a different folder for each.
	if work, err = filepath.Abs(work); err != nil {
		return "", "", err
	}
	if o.EvictAfter > 0 && !o.Clean {
		unlock, err := lockWork(ctx, env, work)
		if err != nil {
			return "", "", err
		}
		gone, err := vllmsrc.Evict(ctx, repo, work, o.EvictAfter)
		unlock()
		if err != nil {
			return "", "", fmt.Errorf("evicting unused worktrees and environments from %s: %w", work, err)
		}
		if len(gone) > 0 {
			fmt.Fprintf(env.Stderr, "perfgate: removed %d worktrees and environments unused for %s from %s\n", len(gone), o.EvictAfter, work)
		}
	}
	if o.Clean {
		unlock, err := lockWork(ctx, env, work)
		if err != nil {
			return "", "", err
		}
		err = vllmsrc.Clean(ctx, repo, work)
		unlock()
		if err != nil {
			return "", "", err
		}
	}
	install = o.Install
	for _, s := range scenarios {
		if install == "" && s.Engine.InstallCommand != "" {
			install = s.Engine.InstallCommand
		} else if o.Install == "" && s.Engine.InstallCommand != "" && s.Engine.InstallCommand != install {
			return "", "", fault.Usagef("the scenarios name different install commands; give one with --install-command")
		}
	}
	if install == "" {
		install = vllmsrc.DefaultInstall
	}
	return work, install, nil
}

// RunRefs is perfgate ab: it checks the options, resolves and installs both
// refs (or takes two endpoints), runs every scenario's trials and writes
// ab.json. The plan comes back whenever the A/B folder exists, also with an
// error; a fail (or a warn with FailOnWarn) is a fault.RegressionError.
func RunRefs(ctx context.Context, env Env, files []string, o Options) (*Plan, error) {
	endpoints := o.BaseURL != "" || o.CandURL != ""
	switch {
	case endpoints && (o.BaseURL == "" || o.CandURL == ""):
		return nil, fault.Usagef("endpoint mode needs both --baseline-url and --candidate-url")
	case endpoints && (o.Repo != "" || o.Crossover):
		return nil, fault.Usagef("endpoint mode benchmarks running deployments: --vllm-repo and --crossover do not apply")
	case !endpoints && (o.Repo == "" || o.BaseRef == "" || o.CandRef == ""):
		return nil, fault.Usagef("ab needs --vllm-repo, --baseline and --candidate (or --baseline-url and --candidate-url)")
	}
	switch o.Profile {
	case "", "pr":
	case "release":
		if !o.TrialsSet {
			o.Trials = 10
		}
	default:
		return nil, fault.Usagef("--profile is pr or release, got %q", o.Profile)
	}
	if o.TrialsSet && o.Trials < 1 {
		return nil, fault.Usagef("--trials must be at least 1")
	}
	if o.MinTrials != 0 && o.MinTrials < 2 || o.MaxTrials != 0 && o.MaxTrials < max(2, o.MinTrials) || o.MaxTrials > 99 {
		return nil, fault.Usagef("--min-trials must be ≥ 2 and --max-trials from --min-trials to 99, got %d and %d", o.MinTrials, o.MaxTrials)
	}
	scenarios, err := LoadScenarios(files, !endpoints)
	if err != nil {
		return nil, err
	}
	for _, s := range scenarios {
		if o.Trials > 0 {
			if ok, why := gate.CanFail(o.Trials, gateRules(s, o)); !ok {
				fmt.Fprintf(env.Stderr, "perfgate: %s: %s\n", s.Name, why)
			}
		}
	}
	if endpoints {
		return runEndpoints(ctx, env, scenarios, o)
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	cand := &Side{Name: Candidate, Ref: o.CandRef}
	base := &Side{Name: Baseline, Ref: o.BaseRef}
	if cand.SHA, err = vllmsrc.Resolve(ctx, repo, o.CandRef, ""); err != nil {
		return nil, fault.Usagef("--candidate: %v", err)
	}
	if base.SHA, err = vllmsrc.Resolve(ctx, repo, o.BaseRef, cand.SHA); err != nil {
		return nil, fault.Usagef("--baseline: %v", err)
	}
	work, install, err := PrepareWork(ctx, env, repo, scenarios, o)
	if err != nil {
		return nil, err
	}
	outDir, err := record.MakeRunDir(o.Out, "ab", "")
	if err != nil {
		return nil, err
	}
	plan := &Plan{Dir: outDir, Baseline: base.SHA, Candidate: cand.SHA, BaselineRef: base.Ref, CandidateRef: cand.Ref}
	write := func() error { plan.Account(base, cand); return plan.Write() }
	fmt.Fprintf(env.Stderr, "perfgate: baseline %s = %.12s, candidate %s = %.12s; output in %s\n", base.Ref, base.SHA, cand.Ref, cand.SHA, outDir)
	for _, sd := range []*Side{base, cand} {
		if err := InstallSide(ctx, env, repo, work, install, outDir, sd); err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(err, write())
		}
	}
	for _, s := range scenarios {
		d := DesignFor(env, s, o)
		order := d.PlanOrder()
		if plan.Order == nil {
			plan.Order = order
		}
		n := PlannedStarts(order, s.Engine.TrialPolicy, o.WarmupTrial, o.Crossover)
		plan.PlannedStarts += n
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s; at most %d engine starts (trial_policy %s)\n",
			s.Name, d.Words(order), n, cmp.Or(s.Engine.TrialPolicy, scenario.TrialRestart))
	}
	for _, s := range scenarios {
		res, err := runScenario(ctx, env, s, outDir, base, cand, o)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), write())
		}
	}
	return finishPlan(env, plan, o, write)
}

// finishPlan writes ab.json and says where the results are; a scenario's
// fail (or warn, with FailOnWarn) is a fault.RegressionError.
func finishPlan(env Env, plan *Plan, o Options, write func() error) (*Plan, error) {
	if err := write(); err != nil {
		return plan, err
	}
	fmt.Fprintf(env.Stdout, "\nA/B results in %s\n", plan.Dir)
	for _, r := range plan.Scenarios {
		if r.Verdict == metric.Fail || o.FailOnWarn && r.Verdict == metric.Warn {
			return plan, &fault.RegressionError{Headline: "see the comparison of each scenario in " + plan.Dir}
		}
	}
	return plan, nil
}

// InstallSide installs a side (Install) and says when an environment from
// an earlier install is reused.
//
// Two perfgates sharing a work dir take turns here: a worktree or an
// environment is made by one at a time (lockWork).
func InstallSide(ctx context.Context, env Env, repo, work, install, outDir string, sd *Side) error {
	unlock, err := lockWork(ctx, env, work)
	if err != nil {
		return err
	}
	defer unlock()
	reused, err := Install(ctx, repo, work, install, outDir, sd)
	if err == nil && reused {
		fmt.Fprintf(env.Stderr, "perfgate: the %s's environment is installed already (%s)\n", sd.Name, sd.EnvDir)
	}
	return err
}

// lockWork holds the work dir's lock (WORK/.perfgate.lock) until unlock is
// called, saying so when another perfgate holds it and waiting for it (or
// for ctx to end). Checkouts, installs and --clean take it: two A/Bs sharing a
// work dir raced over the same worktree and environment.
func lockWork(ctx context.Context, env Env, work string) (unlock func(), err error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	l := flock.New(filepath.Join(work, ".perfgate.lock"))
	ok, err := l.TryLock()
	if err == nil && !ok {
		fmt.Fprintf(env.Stderr, "perfgate: another perfgate is checking out or installing in %s; waiting for it\n", work)
		ok, err = l.TryLockContext(ctx, 250*time.Millisecond)
	}
	if err != nil || !ok {
		return nil, fmt.Errorf("locking the work dir %s: %w", work, cmp.Or(err, ctx.Err()))
	}
	return func() { l.Unlock() }, nil
}

// gateRules are a scenario's gate settings with the options' trial bounds.
func gateRules(s *scenario.Scenario, o Options) gate.Rules {
	r := gate.Rules{Alpha: s.Gate.Alpha, MinTrials: cmp.Or(o.MinTrials, s.Gate.MinTrials), MaxTrials: cmp.Or(o.MaxTrials, s.Gate.MaxTrials)}
	r.MaxTrials = max(r.MaxTrials, r.MinTrials)
	return r
}

// DesignFor is how a scenario's trials run: fixed with Trials (or the release
// profile), else sequential. An interrupt ends the run at once.
func DesignFor(env Env, s *scenario.Scenario, o Options) Design {
	d := Design{Rules: gateRules(s, o), Warmup: o.WarmupTrial, Release: o.Profile == "release", Log: env.Stderr,
		Fatal: func(err error) bool { var intr *fault.InterruptedError; return errors.As(err, &intr) }}
	if s.Gate.OutlierReruns != nil {
		d.Reruns = *s.Gate.OutlierReruns
	}
	if o.Trials > 0 {
		d.Fixed = o.Trials
	}
	if n := s.Gate.NoisePct; n > 0 && d.sequential() && !o.Crossover {
		levels := len(s.Gate.Levels)
		if levels == 0 {
			levels = len(s.LevelSpecs())
		}
		r := compare.GateRules(s, compare.Options{MinTrials: o.MinTrials, MaxTrials: o.MaxTrials})
		d.NoisePct = n
		d.Expected[0], d.Expected[1] = gatesim.Estimate(r, levels, d.Reruns, n, estimateSims, 1)
	}
	return d
}

// estimateSims is how many simulated A/Bs the plan's estimate averages
// (about a second).
const estimateSims = 200

// runScenario runs one scenario's A/B: sequential or fixed (Run), or on
// two GPUs at once (Crossover).
func runScenario(ctx context.Context, env Env, s *scenario.Scenario, outDir string, base, cand *Side, o Options) (Result, error) {
	d := DesignFor(env, s, o)
	sdir := filepath.Join(outDir, s.Name)
	var res Result
	var err error
	if o.Crossover {
		res, err = Crossover(ctx, env, s, sdir, base, cand, d)
	} else {
		t := NewVLLMTrialer(env, s, base, cand)
		defer t.Stop()
		order := d.PlanOrder()
		trials := len(order) + 2*d.Reruns
		if o.WarmupTrial {
			trials += 2
		}
		t.Plan(trials, PlannedStarts(order, s.Engine.TrialPolicy, o.WarmupTrial, false))
		t.Expect(d.Expected[0])
		d.Notes = t.Notes
		res, err = Run(ctx, s, t, sdir, d)
	}
	if err == nil {
		printResult(env, res)
	}
	return res, err
}

func printResult(env Env, res Result) {
	fmt.Fprintf(env.Stdout, "%s: %s (%d + %d trials; %s)\n", res.Name, res.Headline, res.Trials[0], res.Trials[1], res.Stopped)
}

// runEndpoints benchmarks two running deployments with the same trial
// discipline.
func runEndpoints(ctx context.Context, env Env, scenarios []*scenario.Scenario, o Options) (*Plan, error) {
	outDir, err := record.MakeRunDir(o.Out, "ab", "")
	if err != nil {
		return nil, err
	}
	plan := &Plan{Dir: outDir, BaselineRef: o.BaseURL, CandidateRef: o.CandURL}
	for _, s := range scenarios {
		d := DesignFor(env, s, o)
		order := d.PlanOrder()
		if plan.Order == nil {
			plan.Order = order
		}
		fmt.Fprintf(env.Stderr, "perfgate: plan for %s: %s\n", s.Name, d.Words(order))
		t := NewEndpointTrialer(env, s, o.BaseURL, o.CandURL)
		d.Notes = t.Notes
		res, err := Run(ctx, s, t, filepath.Join(outDir, s.Name), d)
		plan.Scenarios = append(plan.Scenarios, res)
		if err != nil {
			plan.Error = err.Error()
			return plan, errors.Join(fmt.Errorf("scenario %s: verdict error: %w", s.Name, err), plan.Write())
		}
		printResult(env, res)
	}
	return finishPlan(env, plan, o, plan.Write)
}
