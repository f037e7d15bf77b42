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
	good, bad, commits, err := bisectRange(ctx, repo, o)
	if err != nil {
		return nil, err
	}
	if _, err := LoadScenarios(files, true); err != nil {
		return nil, err
	}
	dir, err := record.MakeRunDir(o.Out, "bisect", "")
	if err != nil {
		return nil, err
	}
	bs := &bisection{env: env, files: files, o: o, repo: repo, dir: dir,
		res: &BisectRecord{Good: good, Bad: bad, Commits: commits}}
	fmt.Fprintf(env.Stderr, "perfgate: bisect %d first-parent commit(s) after %.12s up to %.12s; about %d steps; output in %s\n",
		len(commits), good, bad, bisectSteps(len(commits)), dir)
	res := bs.res
	fail := func(err error) error {
		res.Error = err.Error()
		return errors.Join(err, bs.save())
	}
	sr, err := Bisect(len(commits), func(i int) (metric.Verdict, error) { return bs.step(ctx, i) })
	if err != nil {
		return res, fail(err)
	}
	switch sr.End {
	case NotRegressed:
		res.Error = "the bad end does not regress against the good one"
		if err := bs.save(); err != nil {
			return res, err
		}
		return res, fault.Regression("%.12s is not slower than %.12s by the gate: nothing to bisect (see %s)", bad, good, dir)
	case BadEndUnclear:
		return res, fail(fmt.Errorf("the bad end's verdict is warn: the trials could not settle whether it regressed; give more with --max-trials (see %s)", dir))
	case StepUnclear:
		return res, fail(fmt.Errorf("step %d (%.12s) is inconclusive (warn): the first bad commit is in %.12s..%.12s; give more trials with --max-trials (see %s)",
			len(res.Steps), commits[sr.Unclear], bs.commit(sr.LastGood), commits[sr.FirstBad], dir))
	}
	res.FirstBad, res.LastGood = commits[sr.FirstBad], bs.commit(sr.LastGood)
	if err := bs.save(); err != nil {
		return res, err
	}
	bs.printAnswer(ctx, sr.FirstBad)
	return res, nil
}

// bisectRange resolves --good and --bad, checks that good is an ancestor
// of bad, and lists the first-parent commits after good up to bad, oldest
// first.
func bisectRange(ctx context.Context, repo string, o Options) (good, bad string, commits []string, err error) {
	if good, err = vllmsrc.Resolve(ctx, repo, o.BaseRef, ""); err != nil {
		return "", "", nil, fault.Usagef("--good: %v", err)
	}
	if bad, err = vllmsrc.Resolve(ctx, repo, o.CandRef, ""); err != nil {
		return "", "", nil, fault.Usagef("--bad: %v", err)
	}
	if _, err := childenv.Git(ctx, repo, "merge-base", "--is-ancestor", "--end-of-options", good, bad); err != nil {
		return "", "", nil, fault.Usagef("--good %s is not an ancestor of --bad %s", o.BaseRef, o.CandRef)
	}
	list, err := childenv.Git(ctx, repo, "rev-list", "--first-parent", "--reverse", "--end-of-options", good+".."+bad)
	if err != nil {
		return "", "", nil, err
	}
	if commits = strings.Fields(list); len(commits) == 0 {
		return "", "", nil, fault.Usagef("no commits between --good and --bad")
	}
	return good, bad, commits, nil
}

// bisection is one perfgate bisect: its record, saved as bisect.json after
// every step.
type bisection struct {
	env       Env
	files     []string
	o         Options
	repo, dir string
	res       *BisectRecord
}

func (bs *bisection) save() error {
	return record.WriteJSONAtomic(filepath.Join(bs.dir, "bisect.json"), bs.res)
}

// commit is the i-th commit of the range; -1 is the good end.
func (bs *bisection) commit(i int) string {
	if i < 0 {
		return bs.res.Good
	}
	return bs.res.Commits[i]
}

// step is the search's oracle: an A/B of commits[i] against good (its ab
// talks on stderr; stdout has bisect's answer), recorded as a step.
func (bs *bisection) step(ctx context.Context, i int) (metric.Verdict, error) {
	res, env, commits := bs.res, bs.env, bs.res.Commits
	start := time.Now()
	step := BisectStep{Step: len(res.Steps) + 1, Commit: commits[i], Position: i + 1}
	step.Subject, _ = childenv.Git(ctx, bs.repo, "log", "-1", "--format=%s", "--end-of-options", commits[i])
	fmt.Fprintf(env.Stderr, "perfgate: bisect step %d: commit %d of %d, %.12s %q against the good %.12s\n",
		step.Step, i+1, len(commits), commits[i], step.Subject, res.Good)
	so := bs.o
	so.Out = filepath.Join(bs.dir, fmt.Sprintf("step-%02d", step.Step))
	so.BaseRef, so.CandRef = res.Good, commits[i]
	quiet := env
	quiet.Stdout = env.Stderr
	plan, err := RunRefs(ctx, quiet, bs.files, so)
	var reg *fault.RegressionError
	if err != nil && !errors.As(err, &reg) {
		return "", err
	}
	step.Verdict = metric.Pass
	if plan != nil {
		step.Dir, _ = filepath.Rel(bs.dir, plan.Dir)
		step.Headline = map[string]string{}
		for _, s := range plan.Scenarios {
			step.Headline[s.Name] = s.Headline
			step.Verdict = metric.Worst(step.Verdict, s.Verdict)
		}
	}
	step.Took = time.Since(start).Seconds()
	res.Steps = append(res.Steps, step)
	fmt.Fprintf(env.Stdout, "step %d: %.12s (%d of %d) %s: %s\n", step.Step, commits[i], i+1, len(commits), strings.ToUpper(string(step.Verdict)), step.Subject)
	return step.Verdict, bs.save()
}

// printAnswer names the first bad commit on stdout, with the steps that
// are its evidence.
func (bs *bisection) printAnswer(ctx context.Context, hi int) {
	res, out := bs.res, bs.env.Stdout
	subject, _ := childenv.Git(ctx, bs.repo, "log", "-1", "--format=%s", "--end-of-options", res.FirstBad)
	fmt.Fprintf(out, "\nfirst bad commit: %s %q (commit %d of %d after %.12s)\n", res.FirstBad, subject, hi+1, len(res.Commits), res.Good)
	for _, s := range res.Steps {
		if s.Commit == res.FirstBad || s.Commit == res.LastGood {
			fmt.Fprintf(out, "  evidence: step %d, %.12s %s: %s (%s)\n", s.Step, s.Commit, strings.ToUpper(string(s.Verdict)), headlines(s.Headline), filepath.Join(bs.dir, s.Dir))
		}
	}
	if res.LastGood == res.Good {
		fmt.Fprintf(out, "  its parent on the first-parent line is the good commit %.12s\n", res.Good)
	}
	fmt.Fprintf(out, "%d steps; bisect.json in %s\n", len(res.Steps), bs.dir)
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
