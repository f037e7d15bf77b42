package ab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/childenv"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/vllmsrc"
)

// BisectStep is one A/B of the search, as bisect.json records it.
type BisectStep struct {
	Step     int               `json:"step"`
	Commit   string            `json:"commit"`
	Subject  string            `json:"subject"`
	Position int               `json:"position"` // 1-based among the commits after good
	Verdict  metric.Verdict    `json:"verdict"`  // of the worst scenario: pass, warn, fail
	Dir      string            `json:"dir"`      // the step's A/B folder
	Headline map[string]string `json:"headline,omitempty"`
	Took     float64           `json:"seconds"`
}

// BisectRecord is bisect.json: the range, every step, and the answer.
type BisectRecord struct {
	Good     string       `json:"good"`
	Bad      string       `json:"bad"`
	Commits  []string     `json:"commits"` // first-parent, good (excluded) .. bad
	Steps    []BisectStep `json:"steps"`
	FirstBad string       `json:"first_bad,omitempty"`
	LastGood string       `json:"last_good,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// BisectRefs is perfgate bisect: a binary search (Bisect) over the
// first-parent commits after o.BaseRef (good) up to o.CandRef (bad), each
// step an A/B (RunRefs) of a commit against the good one, in its own folder
// under o.Out/<time>_bisect/ with bisect.json. The record has FirstBad set
// when it named one; a bad end that does not regress is a
// fault.RegressionError.
func BisectRefs(ctx context.Context, env Env, files []string, o Options) (*BisectRecord, error) {
	if o.Repo == "" || o.BaseRef == "" || o.CandRef == "" {
		return nil, fault.Usagef("bisect needs --vllm-repo, --good and --bad")
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, err
	}
	good, err := vllmsrc.Resolve(ctx, repo, o.BaseRef, "")
	if err != nil {
		return nil, fault.Usagef("--good: %v", err)
	}
	bad, err := vllmsrc.Resolve(ctx, repo, o.CandRef, "")
	if err != nil {
		return nil, fault.Usagef("--bad: %v", err)
	}
	if _, err := childenv.Git(ctx, repo, "merge-base", "--is-ancestor", good, bad); err != nil {
		return nil, fault.Usagef("--good %s is not an ancestor of --bad %s", o.BaseRef, o.CandRef)
	}
	list, err := childenv.Git(ctx, repo, "rev-list", "--first-parent", "--reverse", good+".."+bad)
	if err != nil {
		return nil, err
	}
	commits := strings.Fields(list)
	if len(commits) == 0 {
		return nil, fault.Usagef("no commits between --good and --bad")
	}
	if _, err := LoadScenarios(files, true); err != nil {
		return nil, err
	}
	dir, err := record.MakeRunDir(o.Out, "bisect", "")
	if err != nil {
		return nil, err
	}
	res := &BisectRecord{Good: good, Bad: bad, Commits: commits}
	save := func() error { return record.WriteJSONAtomic(filepath.Join(dir, "bisect.json"), res) }
	fmt.Fprintf(env.Stderr, "perfgate: bisect %d first-parent commit(s) after %.12s up to %.12s; about %d steps; output in %s\n",
		len(commits), good, bad, BisectSteps(len(commits)), dir)
	quiet := env
	quiet.Stdout = env.Stderr // each step's ab talks on stderr; stdout has bisect's answer
	// oracle benchmarks commits[i] against good.
	oracle := func(i int) (metric.Verdict, error) {
		start := time.Now()
		step := BisectStep{Step: len(res.Steps) + 1, Commit: commits[i], Position: i + 1}
		step.Subject, _ = childenv.Git(ctx, repo, "log", "-1", "--format=%s", commits[i])
		fmt.Fprintf(env.Stderr, "perfgate: bisect step %d: commit %d of %d, %.12s %q against the good %.12s\n",
			step.Step, i+1, len(commits), commits[i], step.Subject, good)
		so := o
		so.Out = filepath.Join(dir, fmt.Sprintf("step-%02d", step.Step))
		so.BaseRef, so.CandRef = good, commits[i]
		plan, err := RunRefs(ctx, quiet, files, so)
		var reg *fault.RegressionError
		if err != nil && !errors.As(err, &reg) {
			return "", err
		}
		step.Verdict = metric.Pass
		if plan != nil {
			step.Dir, _ = filepath.Rel(dir, plan.Dir)
			step.Headline = map[string]string{}
			for _, s := range plan.Scenarios {
				step.Headline[s.Name] = s.Headline
				step.Verdict = metric.Worst(step.Verdict, s.Verdict)
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
	sr, err := Bisect(len(commits), oracle)
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
	case NotRegressed:
		res.Error = "the bad end does not regress against the good one"
		if err := save(); err != nil {
			return res, err
		}
		return res, fault.Regression("%.12s is not slower than %.12s by the gate: nothing to bisect (see %s)", bad, good, dir)
	case BadEndUnclear:
		return res, fail(fmt.Errorf("the bad end's verdict is warn: the trials could not settle whether it regressed; give more with --max-trials (see %s)", dir))
	case StepUnclear:
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
			fmt.Fprintf(env.Stdout, "  evidence: step %d, %.12s %s: %s (%s)\n", s.Step, s.Commit, strings.ToUpper(string(s.Verdict)), headlines(s.Headline), filepath.Join(dir, s.Dir))
		}
	}
	if res.LastGood == good {
		fmt.Fprintf(env.Stdout, "  its parent on the first-parent line is the good commit %.12s\n", good)
	}
	fmt.Fprintf(env.Stdout, "%d steps; bisect.json in %s\n", len(res.Steps), dir)
	return res, nil
}

// headlines is each scenario's headline of a step, by scenario name:
// "chat: FAIL: …; batch: PASS: …".
func headlines(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, name+": "+m[name])
	}
	return strings.Join(parts, "; ")
}
