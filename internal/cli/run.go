package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/run"
	"github.com/perfgate/perfgate/internal/scenario"
)

type runOpts struct {
	out    string
	label  string
	grace  time.Duration
	trials int
	tags   map[string]string
}

var tagKeyRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// parseTags reads --tag key=value flags.
func parseTags(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, t := range in {
		k, v, ok := strings.Cut(t, "=")
		if !ok || !tagKeyRe.MatchString(k) || len(v) > 256 || strings.ContainsAny(v, "\n\r") {
			return nil, fault.Usagef("--tag %q: KEY=VALUE, the key of letters, digits, '.', '-', '_' (at most 64), the value one line of at most 256 bytes", t)
		}
		if _, dup := out[k]; dup {
			return nil, fault.Usagef("--tag %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func newRunCmd(env Env, log *slog.Logger) *cobra.Command {
	var o runOpts
	var tags []string
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario and write a run folder",
		Long: `run drives the scenario's engine (the embedded simulator or an HTTP endpoint)
through every load level — warm-up, then measurement — and writes a run folder
DIR/<UTC time>_<scenario>[_<label>]/ holding:

  scenario.yaml   the exact configuration used, defaults filled in
  meta.json       versions, host, engine, model, and the wall-clock anchor
  requests.jsonl  one record per request, written as requests finish
  result.json     per-level metrics (vllm bench serve's key names and meanings), written last

Progress goes to stderr (a bar on a terminal, a line every few seconds
otherwise); a per-level table goes to stdout at the end. Ctrl-C stops issuing,
lets requests in flight finish for a short grace period, and still writes
result.json, marked "interrupted": true.

Exit codes: 0 completed, 1 failed or interrupted, 2 bad scenario or usage.`,
		Example: `  perfgate run scenarios/quickstart.yaml
  perfgate run scenarios/quickstart.yaml --out /tmp/runs --label baseline`,
		Args: exactArgs(1, "one scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.tags, err = parseTags(tags); err != nil {
				return err
			}
			_, err = runScenario(cmd.Context(), env, log, args[0], o)
			return err
		},
	}
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "KEY=VALUE recorded in meta.json and shown by report and compare (repeatable), e.g. --tag gpu_clock=locked")
	cmd.Flags().StringVarP(&o.out, "out", "o", "runs", "directory under which the run folder is created")
	cmd.Flags().StringVarP(&o.label, "label", "l", "", "label added to the run folder name (letters, digits, '-', '_', '.')")
	cmd.Flags().DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish before they are canceled")
	cmd.Flags().IntVar(&o.trials, "trials", 1, "run the scenario this many times, each in its own trial-NN folder (against a fresh simulator); compare works per trial")
	return cmd
}

var labelRe = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// runScenario runs one scenario and returns its run folder.
func runScenario(ctx context.Context, env Env, log *slog.Logger, file string, o runOpts) (string, error) {
	if !labelRe.MatchString(o.label) {
		return "", fault.Usagef("--label %q: use letters, digits, '-', '_' or '.'", o.label)
	}
	if o.grace < 0 {
		return "", fault.Usagef("--grace must not be negative")
	}
	if o.trials < 1 {
		return "", fault.Usagef("--trials must be at least 1, got %d", o.trials)
	}
	s, err := scenario.LoadForRun(file)
	if err != nil {
		if scenario.IsValidation(err) {
			return "", err
		}
		return "", fault.Usagef("%v", err)
	}
	if o.trials == 1 {
		dir, err := record.MakeRunDir(o.out, s.Name, o.label)
		if err != nil {
			return "", err
		}
		err = runTrial(ctx, env, log, s, file, dir, o, 0, trialEnv{})
		if err != nil && removeIfEmpty(dir) {
			dir = "" // a run that never started leaves no folder
		}
		return dir, err
	}
	// Trials: one folder, a complete run folder per trial inside it, each
	// trial against a freshly started simulator (or the same endpoint).
	parent, err := record.MakeRunDir(o.out, s.Name, o.label)
	if err != nil {
		return "", err
	}
	for i := 1; i <= o.trials; i++ {
		ts, err := scenario.LoadForRun(file) // a fresh copy: model discovery fills it in
		if err != nil {
			return parent, err
		}
		if ts.Engine.Kind == scenario.EngineSim {
			// Each trial's simulator gets its own seed, so jitter differs
			// from trial to trial as run-to-run noise does on hardware.
			seed := ts.Seed
			if ts.Engine.Sim.Seed != nil {
				seed = *ts.Engine.Sim.Seed
			}
			seed += uint64(i)
			ts.Engine.Sim.Seed = &seed
		}
		dir := record.TrialDir(parent, i)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return parent, err
		}
		fmt.Fprintf(env.Stderr, "perfgate: trial %d of %d\n", i, o.trials)
		if err := runTrial(ctx, env, log, ts, file, dir, o, i, trialEnv{}); err != nil {
			if removeIfEmpty(dir) && removeIfEmpty(parent) {
				parent = ""
			}
			return parent, err
		}
	}
	fmt.Fprintf(env.Stdout, "\n%d trials in %s\n", o.trials, parent)
	return parent, nil
}

// removeIfEmpty removes dir when nothing was written into it, and says
// whether it is gone.
func removeIfEmpty(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) > 0 {
		return false
	}
	return os.Remove(dir) == nil
}

// trialEnv is what perfgate ab adds to a trial: an engine it started, the
// installed environment, and the side's commit and versions.
type trialEnv struct {
	eng        engine.Engine
	pathPrefix string            // an installed environment's bin/, first on PATH
	git        map[string]string // e.g. side, sha, ref
	versions   map[string]string
}

// runTrial runs the scenario once into dir (internal/run does the work),
// shows the progress and the level table, and turns what happened into
// perfgate's errors and exit codes.
func runTrial(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, file, dir string, o runOpts, trial int, te trialEnv) error {
	prog := newProgress(env)
	res, err := run.Trial(ctx, run.Config{Scenario: s, File: file, Dir: dir, Getenv: env.Getenv, Stderr: env.Stderr, Log: log,
		Engine: te.eng, PathPrefix: te.pathPrefix, N: trial, Label: o.label, Tags: o.tags, Git: te.git, Versions: te.versions,
		Grace: o.grace, CommandLine: env.Args, Version: Version(), Commit: Commit(), Progress: prog.update})
	prog.finish()
	var ce *run.ConfigError
	if errors.As(err, &ce) {
		return fault.Usage(ce.Err)
	}
	if err != nil {
		return err
	}
	sum := res.Summary
	printTable(env.Stdout, sum)
	fmt.Fprintf(env.Stdout, "\nrun folder: %s\n", dir)
	switch {
	case res.RunErr != nil:
		return fmt.Errorf("the run failed: %w (what was measured is in %s)", res.RunErr, dir)
	case sum.ClientErrors > 0:
		return fmt.Errorf("the run failed: %s (what was measured is in %s)", sum.Error, dir)
	case sum.Status == record.StatusFailed:
		// Ran to its end, and no measured request succeeded.
		return &fault.NoSuccessError{Dir: dir, Msg: sum.Error}
	case res.EngineDied:
		where := ""
		if res.EngineLog != "" {
			where = " (its log: " + res.EngineLog + ")"
		}
		return fmt.Errorf("the engine died mid-run%s; what was measured before is in %s", where, dir)
	case res.Interrupted:
		return &fault.InterruptedError{Dir: dir}
	}
	return nil
}
