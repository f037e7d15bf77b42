package comparison

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/numfmt"
)

// FirstErrorSep joins a headline and the first error a broken side's
// trials recorded.
const FirstErrorSep = "; the first error: "

// MaxComparisonBytes bounds a comparison.json a reporter accepts.
const MaxComparisonBytes = 8 << 20

var shaRe = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// ValidComparison is what ValidateComparison accepts: the fields a reporter
// (the GitHub Action's report mode) reads from an untrusted artifact.
type ValidComparison struct {
	SchemaVersion int               `json:"schema_version"`
	Scenario      string            `json:"scenario"`
	Baseline      []string          `json:"baseline"`
	Candidate     []string          `json:"candidate"`
	Environment   string            `json:"environment"`
	Commits       map[string]string `json:"commits"`
	Outcome       struct {
		Verdict  metric.Verdict `json:"verdict"`
		Headline string         `json:"headline"`
		Results  []ValidResult  `json:"results"`
	} `json:"outcome"`
	Run *ValidRun `json:"run"`
	// Rules are the rules the comparison was decided by, for a reporter
	// to hold against its own (the base branch's scenarios).
	Rules gate.Rules `json:"rules"`
	// Rechecked is the whole comparison with the recheck's outcome, for a
	// reporter that draws its charts itself.
	Rechecked *Comparison `json:"-"`
}

// trialCounts is the most trials per side any result holds.
func trialCounts(rs []gate.Result) (n [2]int) {
	for _, r := range rs {
		n[0], n[1] = max(n[0], len(r.Baseline)), max(n[1], len(r.Candidate))
	}
	return n
}

// ValidRun is how the trials ran, as a reporter reads it.
type ValidRun struct {
	Sequential bool     `json:"sequential"`
	Trials     [2]int   `json:"trials"`
	MaxTrials  int      `json:"max_trials"`
	StopReason string   `json:"stop_reason"`
	Stopped    string   `json:"stopped"`
	Reruns     []string `json:"reruns"`
}

// ValidResult is one gate result as a reporter reads it.
type ValidResult struct {
	Level          int            `json:"level"`
	Metric         string         `json:"metric"`
	Verdict        metric.Verdict `json:"verdict"`
	BaselineMedian float64        `json:"baseline_median"`
	CandMedian     float64        `json:"candidate_median"`
	ChangePct      *float64       `json:"change_pct"`
	CILowPct       *float64       `json:"ci_low_pct"`
	CIHighPct      *float64       `json:"ci_high_pct"`
	P              float64        `json:"p"`
	Q              *float64       `json:"q"` // null for metrics that do not gate
	Gating         bool           `json:"gating"`
	Improved       bool           `json:"improved"`
	CanBeSignif    bool           `json:"can_be_signif"` // enough trials for a fail to be possible
	// Baseline and Candidate are the per-trial values decided on.
	Baseline  []float64 `json:"baseline"`
	Candidate []float64 `json:"candidate"`
}

// checkTrials bounds the per-trial data a recheck decides on.
func checkTrials(c *Comparison) error {
	if len(c.Rules.Metrics) > 100 || c.Rules.Alpha < 0 || c.Rules.Alpha > 0.5 || c.Rules.MinTrials < 0 || c.Rules.MinTrials > 1000 || c.Rules.MaxTrials < 0 || c.Rules.MaxTrials > 1000 {
		return fmt.Errorf("rules out of range")
	}
	for i, r := range c.Outcome.Results {
		if len(r.Baseline) > 1000 || len(r.Candidate) > 1000 || len(r.BaselineCounts) > 1000 || len(r.CandidateCounts) > 1000 {
			return fmt.Errorf("result %d has too many trials", i)
		}
		for _, v := range append(slices.Clone(r.Baseline), r.Candidate...) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("result %d has a trial value that is not a number", i)
			}
		}
		for _, n := range append(slices.Clone(r.BaselineCounts), r.CandidateCounts...) {
			if n.Failed < 0 || n.Issued < 0 || n.Failed > n.Issued || n.Issued > 1e9 {
				return fmt.Errorf("result %d has impossible request counts", i)
			}
		}
	}
	return nil
}

// ValidateComparison checks an untrusted comparison.json strictly: its size,
// that it is one JSON object of the expected schema version, that verdicts and
// metrics are ones perfgate writes, that numbers are finite and in range, and
// that every text is bounded. expectSHAs, when given, must each appear in the
// environment or trial paths (the commits the trusted event names).
func ValidateComparison(data []byte, expectSHAs ...string) (*ValidComparison, error) {
	if len(data) > MaxComparisonBytes {
		return nil, fmt.Errorf("comparison.json is %d bytes, over the %d limit", len(data), MaxComparisonBytes)
	}
	// Strictly: every field must be one perfgate writes.
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	var full Comparison
	if err := strict.Decode(&full); err != nil {
		return nil, fmt.Errorf("comparison.json: %w", err)
	}
	if strict.More() {
		return nil, fmt.Errorf("comparison.json: trailing data after the object")
	}
	// The verdicts must follow from the comparison's own trial data: a job
	// that ran pull-request code wrote this file.
	if err := checkTrials(&full); err != nil {
		return nil, fmt.Errorf("comparison.json: %w", err)
	}
	again, err := gate.Recheck(full.Outcome, full.Rules)
	if err != nil {
		return nil, fmt.Errorf("comparison.json's verdicts do not follow from its trial data: %w", err)
	}
	// What is published is what the recheck computed — every change,
	// interval, trial count and the headline — not the file's numbers,
	// of which only the trial values and the rules were read.
	full.Outcome.Results = again.Results
	headline := full.MakeHeadline()
	if _, first, ok := strings.Cut(full.Outcome.Headline, FirstErrorSep); ok {
		// the broken side's first error: words from its trials, kept
		headline += FirstErrorSep + numfmt.Clip(first, 120)
	}
	full.Outcome.Headline = headline
	if full.Run != nil {
		full.Run.Trials = trialCounts(again.Results)
	}
	rechecked, err := json.Marshal(full)
	if err != nil {
		return nil, fmt.Errorf("comparison.json: %w", err)
	}
	var c ValidComparison
	if err := json.Unmarshal(rechecked, &c); err != nil {
		return nil, fmt.Errorf("comparison.json: %w", err)
	}
	c.Rechecked = &full
	if c.SchemaVersion != 1 {
		return nil, fmt.Errorf("comparison.json: schema_version %d, want 1", c.SchemaVersion)
	}
	okVerdict := map[metric.Verdict]bool{metric.Pass: true, metric.Warn: true, metric.Fail: true}
	if !okVerdict[c.Outcome.Verdict] {
		return nil, fmt.Errorf("comparison.json: verdict %q", c.Outcome.Verdict)
	}
	if len(c.Scenario) > 200 || len(c.Outcome.Headline) > 4000 || len(c.Environment) > 4000 || len(c.Outcome.Results) > 10000 {
		return nil, fmt.Errorf("comparison.json: a field is too long")
	}
	metricRe := regexp.MustCompile(`^[a-z0-9_.]{1,64}$`)
	for i, r := range c.Outcome.Results {
		if !okVerdict[r.Verdict] || !metricRe.MatchString(r.Metric) || r.Level < 1 || r.Level > 10000 {
			return nil, fmt.Errorf("comparison.json: result %d is not a valid result", i)
		}
		bad := func(p *float64) bool { return p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) }
		if bad(r.ChangePct) || bad(r.CILowPct) || bad(r.CIHighPct) || bad(&r.BaselineMedian) || bad(&r.CandMedian) || r.P < 0 || r.P > 1 || math.IsNaN(r.P) || (r.Q != nil && !(*r.Q >= 0 && *r.Q <= 1)) {
			return nil, fmt.Errorf("comparison.json: result %d has numbers out of range", i)
		}
	}
	if r := c.Run; r != nil {
		okStop := map[string]bool{"fail": true, "within": true, "max-trials": true, "fixed": true, "futile": true}
		if !okStop[r.StopReason] || len(r.Stopped) > 300 || len(r.Reruns) > 100 || r.Trials[0] < 0 || r.Trials[1] < 0 || r.Trials[0] > 1000 || r.Trials[1] > 1000 || r.MaxTrials < 0 || r.MaxTrials > 1000 {
			return nil, fmt.Errorf("comparison.json: run is not a valid record of trials")
		}
		for _, x := range r.Reruns {
			if len(x) > 500 {
				return nil, fmt.Errorf("comparison.json: a rerun note is too long")
			}
		}
	}
	for side, sha := range c.Commits {
		if (side != "baseline" && side != "candidate") || !shaRe.MatchString(sha) {
			return nil, fmt.Errorf("comparison.json: commits: %q is not a side and a SHA", side)
		}
	}
	for _, sha := range expectSHAs {
		if !shaRe.MatchString(sha) {
			return nil, fmt.Errorf("expected commit %q is not a SHA", sha)
		}
		if !bytes.Contains(data, []byte(sha)) {
			return nil, fmt.Errorf("comparison.json does not name commit %s", sha)
		}
	}
	return &c, nil
}
