// Package comparison is comparison.json: the types perfgate compare and ab
// write, and the strict reading of an untrusted one (what the GitHub
// Action's report mode does with an artifact). It draws nothing, so a
// reporter reads comparisons without linking the charts.
package comparison

import (
	"fmt"
	"math"

	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/record"
)

// Comparison is comparison.json.
type Comparison struct {
	SchemaVersion int      `json:"schema_version"`
	Scenario      string   `json:"scenario"`
	Baseline      []string `json:"baseline"`
	Candidate     []string `json:"candidate"`
	Environment   string   `json:"environment"`
	EnvMismatch   string   `json:"environment_mismatch,omitempty"`
	// Commits are the vLLM commits of each side (perfgate ab), when every
	// trial of the side names the same one.
	Commits map[string]string `json:"commits,omitempty"`
	// Tags are each side's --tag values (values that differ between a
	// side's trials are joined with "|").
	Tags    map[string]map[string]string `json:"tags,omitempty"`
	Rules   gate.Rules                   `json:"rules"`
	Outcome gate.Outcome                 `json:"outcome"`
	Explain []Change                     `json:"explain"`
	Notes   []string                     `json:"notes,omitempty"`
	// Run says how the trials came to be: how many, and why they stopped.
	Run *RunInfo `json:"run,omitempty"`
	// Outliers are trials whose gating metrics together sit far from their
	// side's others (kept in a fixed comparison; re-run by a sequential ab).
	Outliers []gate.Outlier `json:"outliers,omitempty"`
}

// RunInfo is how a comparison's trials were run.
type RunInfo struct {
	Sequential bool     `json:"sequential"`       // perfgate ab's sequential design
	Trials     [2]int   `json:"trials"`           // per side: baseline, candidate
	MaxTrials  int      `json:"max_trials"`       // the design's maximum per side
	StopReason string   `json:"stop_reason"`      // gate.Stop*
	Stopped    string   `json:"stopped"`          // in words
	Reruns     []string `json:"reruns,omitempty"` // outlier trials re-run, and why
}

// Change is one telemetry value of both sides, for the explain section.
type Change struct {
	Level     int          `json:"level"`
	What      string       `json:"what"`
	Baseline  float64      `json:"baseline"`
	Candidate float64      `json:"candidate"`
	Factor    record.Float `json:"factor"` // candidate / baseline (Inf from zero)
	// Score is the change's size against its own trial-to-trial noise (a
	// t-like ratio; Inf when neither side varies); Clear when it is large
	// enough to name as a cause.
	Score record.Float `json:"score"`
	Clear bool         `json:"clear"`
}

// ClearScore is the smallest Score a telemetry change needs to be named as a
// cause: about a two-sided 1 % test for the trial counts perfgate runs.
const ClearScore = 3

func (ch Change) String() string {
	switch {
	case math.IsInf(float64(ch.Factor), 0):
		return fmt.Sprintf("%s from 0 to %.3g", ch.What, ch.Candidate)
	case ch.Factor >= 2 || ch.Factor <= 0.5:
		return fmt.Sprintf("%s %.3g× (%.3g → %.3g)", ch.What, ch.Factor, ch.Baseline, ch.Candidate)
	}
	return fmt.Sprintf("%s %+.1f %% (%.3g → %.3g)", ch.What, 100*(ch.Factor-1), ch.Baseline, ch.Candidate)
}
