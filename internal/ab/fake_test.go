package ab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// fakeYAML is the scenario the fake trials claim to have run: one
// closed-loop level against an endpoint.
const fakeYAML = `
name: fake
model: m
engine: {kind: endpoint, url: "http://127.0.0.1:1"}
workload: {prompt: token_ids, classes: [{input_tokens: 64, output_tokens: 16}]}
load: {concurrency: 2}
phases: {measure: {requests: 20}}
`

// trialSpec is what one fake trial measures: its step time (every
// latency scales with it) and whether every request failed.
type trialSpec struct {
	scale   float64
	failAll bool
}

// fakeTrialer writes canned run folders: no engine, no clock. spec says
// what a side's n-th trial (1-based) looks like; calls lists the trials
// asked for, in order.
type fakeTrialer struct {
	t     *testing.T
	spec  func(side string, n int) trialSpec
	calls []string
}

func (f *fakeTrialer) Trial(_ context.Context, side string, n int, dir string) error {
	f.calls = append(f.calls, fmt.Sprintf("%s-%d", side[:1], n))
	sp := f.spec(side, n)
	writeFakeTrial(f.t, dir, sp)
	if sp.failAll {
		return &fault.NoSuccessError{Dir: dir, Msg: "no measured request succeeded: 20 of 20 failed"}
	}
	return nil
}

func scenarioOf(t *testing.T) *scenario.Scenario {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake.yaml")
	if err := os.WriteFile(p, []byte(fakeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := scenario.LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFakeTrial writes a run folder of 20 measured requests, each with 16
// content chunks 10 ms × scale apart after a 50 ms × scale first token, or
// all failed with HTTP 500.
func writeFakeTrial(t *testing.T, dir string, sp trialSpec) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, record.ScenarioFile), []byte(fakeYAML), 0o644))
	must(record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), record.Meta{SchemaVersion: record.SchemaVersion, Scenario: "fake",
		Engine: record.Engine{Kind: "endpoint", Model: "m"}}))
	w, err := record.Create(filepath.Join(dir, record.RequestsFile))
	must(err)
	end := int64(0)
	for i := range 20 {
		r := &record.Record{ID: int64(i + 1), Level: 0, Phase: record.PhaseMeasure, Class: "c", ScheduledUS: int64(i) * 100_000,
			SentUS: int64(i) * 100_000, RequestedInput: 64, RequestedOutput: 16, PromptTokens: 64}
		if sp.failAll {
			r.EndUS, r.Status, r.Error, r.ErrorMsg = r.SentUS+1000, 500, record.ErrHTTP5xx, "HTTP 500: engine exploded"
		} else {
			first := int64(50_000 * sp.scale)
			for k := range 16 {
				r.ChunkUS = append(r.ChunkUS, first+int64(k)*int64(10_000*sp.scale))
			}
			r.FirstTokenUS = r.SentUS + first
			r.EndUS = r.SentUS + r.ChunkUS[15]
			r.DoneUS, r.OutputTokens, r.Status = r.EndUS, 16, 200
		}
		end = max(end, r.EndUS)
		must(w.Write(r))
	}
	must(w.Close())
	sum := record.Summary{SchemaVersion: record.SchemaVersion, Scenario: "fake", Status: record.StatusCompleted,
		Levels: []record.Level{{Level: 1, Mode: "closed", RequestedConcurrency: 2, MeasureStartUS: 0, MeasureEndUS: end}}}
	if sp.failAll {
		sum.Status, sum.Error = record.StatusFailed, "no measured request succeeded: 20 of 20 failed; the first: http_5xx: HTTP 500: engine exploded"
	}
	must(record.WriteJSONAtomic(filepath.Join(dir, record.SummaryFile), sum))
}
