package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/ab"
	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// bisectStep is one A/B of the search, as bisect.json records it.
type bisectStep struct {
	Step     int               `json:"step"`
	Commit   string            `json:"commit"`
	Subject  string            `json:"subject"`
	Position int               `json:"position"` // 1-based among the commits after good
	Verdict  gate.Verdict      `json:"verdict"`  // of the worst scenario: pass, warn, fail
	Dir      string            `json:"dir"`      // the step's A/B folder
	Headline map[string]string `json:"headline,omitempty"`
	Took     float64           `json:"seconds"`
}

type bisectResult struct {
	Good     string       `json:"good"`
	Bad      string       `json:"bad"`
	Commits  []string     `json:"commits"` // first-parent, good (excluded) .. bad
	Steps    []bisectStep `json:"steps"`
	FirstBad string       `json:"first_bad,omitempty"`
	LastGood string       `json:"last_good,omitempty"`
	Error    string       `json:"error,omitempty"`
}

func newBisectCmd(env Env, log *slog.Logger) *cobra.Command {
	var o abOpts
	var good, bad string
	cmd := &cobra.Command{
		Use:   "bisect SCENARIO... --vllm-repo PATH --good A --bad B",
		Short: "Name the commit that made vLLM slower: a binary search with the A/B gate as the oracle",
		Long: `bisect searches the first-parent commits after --good up to --bad for the first
one that regressed, with 'perfgate ab' as the oracle: each step benchmarks a
commit of the range against the known-good commit (sequential trials,
interleaved, as ab runs them); fail means the commit is bad, pass that it is
good. The bad end is checked first, so a range that does not regress says so
instead of naming a culprit. A step whose verdict is warn (a change the trials
could not settle) stops the search and names the range that is left.

Every step is an ab folder of its own under DIR/<UTC time>_bisect/, and
bisect.json records the commits, each step's verdict and the result. The
known-good commit is installed once and reused by every step (as is every
commit's environment, by ab's work dir); about log2(N) + 1 steps for N commits.

Exit codes: 0 a first bad commit was named, 3 the bad end does not regress,
1 an error or an inconclusive step, 2 bad usage.`,
		Example: `  perfgate bisect scenarios/nightly.yaml --vllm-repo ~/vllm --good 3f2a9c1 --bad main
  perfgate bisect s.yaml --vllm-repo ~/vllm --good v0.10.0 --bad v0.10.1 --max-trials 6`,
		Args: atLeastOneArg("scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.trialsSet = cmd.Flags().Changed("trials")
			o.baseRef, o.candRef = good, bad
			return runBisect(cmd.Context(), env, log, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "vllm-repo", "", "the vLLM git checkout (required)")
	f.StringVar(&good, "good", "", "a commit known to be good (required)")
	f.StringVar(&bad, "bad", "", "a later commit known (or thought) to be bad (required)")
	f.IntVar(&o.trials, "trials", 0, "a fixed number of trials per side at each step (default: sequential)")
	f.IntVar(&o.minTrials, "min-trials", 0, "sequential: the first look (default: the scenario's gate.min_trials)")
	f.IntVar(&o.maxTrials, "max-trials", 0, "sequential: the most trials per side at each step (default: the scenario's gate.max_trials)")
	f.StringVarP(&o.out, "out", "o", "runs", "directory under which the bisect folder is created")
	f.StringVar(&o.workDir, "work-dir", "", "where worktrees and environments live (default: the user cache dir, perfgate/<repo>)")
	f.StringVar(&o.install, "install-command", "", "shell command that installs the worktree into $PERFGATE_ENV_DIR (as for ab)")
	f.DurationVar(&o.grace, "grace", 5*time.Second, "after Ctrl-C, how long requests in flight may finish")
	return cmd
}

func runBisect(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) error {
	_, err := runBisectResult(ctx, env, log, files, o)
	return err
}

// runBisectResult is bisect, returning its record (FirstBad set when it
// named one).
func runBisectResult(ctx context.Context, env Env, log *slog.Logger, files []string, o abOpts) (*bisectResult, error) {
	if o.repo == "" || o.baseRef == "" || o.candRef == "" {
		return nil, usagef("bisect needs --vllm-repo, --good and --bad")
	}
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return nil, err
	}
	good, err := vllmsrc.Resolve(ctx, repo, o.baseRef, "")
	if err != nil {
		return nil, usagef("--good: %v", err)
	}
	bad, err := vllmsrc.Resolve(ctx, repo, o.candRef, "")
	if err != nil {
		return nil, usagef("--bad: %v", err)
	}
	if _, err := childenv.Git(ctx, repo, "merge-base", "--is-ancestor", good, bad); err != nil {
		return nil, usagef("--good %s is not an ancestor of --bad %s", o.baseRef, o.candRef)
	}
	list, err := childenv.Git(ctx, repo, "rev-list", "--first-parent", "--reverse", good+".."+bad)
	if err != nil {
		return nil, err
	}
	commits := strings.Fields(list)
	if len(commits) == 0 {
		return nil, usagef("no commits between --good and --bad")
	}
	if _, err := loadABScenarios(files, true); err != nil {
		return nil, err
	}
	dir, err := makeRunDir(o.out, "bisect", "")
	if err != nil {
		return nil, err
	}
	res := &bisectResult{Good: good, Bad: bad, Commits: commits}
	save := func() error { return record.WriteJSONAtomic(filepath.Join(dir, "bisect.json"), res) }
	fmt.Fprintf(env.Stderr, "perfgate: bisect %d first-parent commit(s) after %.12s up to %.12s; about %d steps; output in %s\n",
		len(commits), good, bad, ab.BisectSteps(len(commits)), dir)
	quiet := env
	quiet.Stdout = env.Stderr // each step's ab talks on stderr; stdout has bisect's answer
	// oracle benchmarks commits[i] against good.
	oracle := func(i int) (gate.Verdict, error) {
		start := time.Now()
		step := bisectStep{Step: len(res.Steps) + 1, Commit: commits[i], Position: i + 1}
		step.Subject, _ = childenv.Git(ctx, repo, "log", "-1", "--format=%s", commits[i])
		fmt.Fprintf(env.Stderr, "perfgate: bisect step %d: commit %d of %d, %.12s %q against the good %.12s\n",
			step.Step, i+1, len(commits), commits[i], step.Subject, good)
		so := o
		so.out = filepath.Join(dir, fmt.Sprintf("step-%02d", step.Step))
		so.baseRef, so.candRef = good, commits[i]
		plan, err := runAB(ctx, quiet, log, files, so)
		var reg *regressionError
		if err != nil && !errors.As(err, &reg) {
			return "", err
		}
		step.Verdict = gate.Pass
		if plan != nil {
			step.Dir, _ = filepath.Rel(dir, plan.Dir)
			step.Headline = map[string]string{}
			for _, s := range plan.Scenarios {
				step.Headline[s.Name] = s.Headline
				step.Verdict = gate.Worst(step.Verdict, s.Verdict)
			}
		}
		step.Took = time.Since(start).Seconds()
		res.Steps = append(res.Steps, step)
		fmt.Fprintf(env.Stdout, "step %d: %.12s (%d of %d) %s: %s\n", step.Step, commits[i], i+1, len(commits), strings.ToUpper(string(step.Verdict)), step.Subject)
		return step.Verdict, save()
	}
	fail := func(err error) error {
		res.Error = err.Error()
		return errors.Join(err, save())
	}
	sr, err := ab.Bisect(len(commits), oracle)
	if err != nil {
		return res, fail(err)
	}
	commit := func(i int) string { // -1 is the good end
		if i < 0 {
			return good
		}
		return commits[i]
	}
	switch sr.End {
	case ab.NotRegressed:
		res.Error = "the bad end does not regress against the good one"
		if err := save(); err != nil {
			return res, err
		}
		return res, &regressionError{fmt.Sprintf("%.12s is not slower than %.12s by the gate: nothing to bisect (see %s)", bad, good, dir)}
	case ab.BadEndUnclear:
		return res, fail(fmt.Errorf("the bad end's verdict is warn: the trials could not settle whether it regressed; give more with --max-trials (see %s)", dir))
	case ab.StepUnclear:
		return res, fail(fmt.Errorf("step %d (%.12s) is inconclusive (warn): the first bad commit is in %.12s..%.12s; give more trials with --max-trials (see %s)",
			len(res.Steps), commits[sr.Unclear], commit(sr.LastGood), commits[sr.FirstBad], dir))
	}
	hi := sr.FirstBad
	res.FirstBad, res.LastGood = commits[hi], commit(sr.LastGood)
	if err := save(); err != nil {
		return res, err
	}
	subject, _ := childenv.Git(ctx, repo, "log", "-1", "--format=%s", res.FirstBad)
	fmt.Fprintf(env.Stdout, "\nfirst bad commit: %s %q (commit %d of %d after %.12s)\n", res.FirstBad, subject, hi+1, len(commits), good)
	for _, s := range res.Steps {
		if s.Commit == res.FirstBad || s.Commit == res.LastGood {
			fmt.Fprintf(env.Stdout, "  evidence: step %d, %.12s %s: %v (%s)\n", s.Step, s.Commit, strings.ToUpper(string(s.Verdict)), s.Headline, filepath.Join(dir, s.Dir))
		}
	}
	if res.LastGood == good {
		fmt.Fprintf(env.Stdout, "  its parent on the first-parent line is the good commit %.12s\n", good)
	}
	fmt.Fprintf(env.Stdout, "%d steps; bisect.json in %s\n", len(res.Steps), dir)
	return res, nil
}
