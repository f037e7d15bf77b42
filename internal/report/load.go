package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
)

// Run is one run folder, read for a report.
type Run struct {
	Dir        string
	Name       string // the label, or the folder's name
	Meta       record.Meta
	Summary    record.Summary // recomputed from the records; telemetry and warnings from result.json when it has them
	outputFrom string         // output_tokens_from: which count TPOT uses
	Complete   bool           // result.json (or an older folder's summary.json) was there
	Notices    []string
	Saturation analysis.Saturation
	Knee       int                // index into Summary.Levels of the throughput–latency knee, or -1
	Scenario   *scenario.Scenario // the folder's scenario.yaml, nil when it cannot be read

	dists    map[int]*dists
	inflight []span
	ttftAt   []float64 // first-token time (s since the run began) of measured requests
	ttftVal  []float64
	samples  []telemetry.Sample
}

type dists struct{ ttft, tpot, e2el []float64 }

type span struct{ start, end int64 }

// NotRunFolderError means a path given as a run folder is not one.
type NotRunFolderError struct {
	Dir    string
	Reason string
}

func (e *NotRunFolderError) Error() string {
	return fmt.Sprintf("%s is not a run folder: %s", e.Dir, e.Reason)
}

// Load reads a run folder: complete, interrupted or killed (no result.json,
// a torn last line).
func Load(dir string) (*Run, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, &NotRunFolderError{dir, err.Error()}
	}
	if !fi.IsDir() {
		return nil, &NotRunFolderError{dir, "it is a file"}
	}
	r := &Run{Dir: dir, Name: filepath.Base(filepath.Clean(dir)), dists: map[int]*dists{}, Knee: -1}
	if err := record.ReadJSON(filepath.Join(dir, record.MetaFile), &r.Meta); err != nil {
		if os.IsNotExist(err) {
			return nil, &NotRunFolderError{dir, "it has no meta.json"}
		}
		return nil, &NotRunFolderError{dir, err.Error()}
	}
	if r.Meta.Label != "" {
		r.Name = r.Meta.Label
	}
	sum, err := r.readSummary()
	if err != nil {
		return nil, err
	}
	// Percentiles and SLOs: from the summary, else from the scenario snapshot.
	opts := analysis.Options{Percentiles: sum.Percentiles, SLO: sum.SLO, OutputFrom: sum.OutputTokensFrom, ModelTime: sum.ModelTime}
	s, serr := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile))
	if serr == nil {
		r.Scenario = s
		if !r.Complete {
			opts = analysis.Options{Percentiles: s.Percentiles, SLO: record.SLO{TTFTMs: s.SLO.TTFTMs, TPOTMs: s.SLO.TPOTMs, E2ELMs: s.SLO.E2ELMs}, OutputFrom: s.OutputTokensFrom}
			if k := s.ModelTimeScale(); k > 1 {
				opts.ModelTime = k
			}
			sum = record.Summary{SchemaVersion: record.SchemaVersion, Scenario: s.Name, Status: "unknown (no result.json)", Percentiles: s.Percentiles, SLO: opts.SLO,
				OutputTokensFrom: s.OutputTokensFrom, ModelTime: opts.ModelTime}
		}
	} else if !r.Complete {
		return nil, &NotRunFolderError{dir, "it has no result.json, and its scenario.yaml cannot be read: " + serr.Error()}
	}
	if len(opts.Percentiles) == 0 {
		opts.Percentiles = scenario.DefaultPercentiles
	}
	r.outputFrom = opts.OutputFrom
	windows := map[int]analysis.Window{}
	old := map[int]record.Level{}
	for _, l := range sum.Levels {
		windows[l.Level] = analysis.Window{StartUS: l.MeasureStartUS, EndUS: l.MeasureEndUS}
		old[l.Level] = l
	}
	if r.Complete && r.Meta.Tags[record.AggregateTag] == "true" {
		return r.aggregate(sum), nil
	}
	levels, st, err := analysis.ReadLevels(dir, windows, opts, r.collect)
	if err != nil {
		return nil, err
	}
	if st.TornTail {
		r.Notices = append(r.Notices, "the last line of requests.jsonl was incomplete (the run was killed while writing) and was skipped")
	}
	for i := range levels {
		l := &levels[i]
		if o, ok := old[l.Level]; ok {
			l.Mode, l.Arrival, l.RequestedRate, l.RequestedConcurrency = o.Mode, o.Arrival, o.RequestedRate, o.RequestedConcurrency
			l.StartUS, l.Telemetry, l.Warnings = o.StartUS, o.Telemetry, o.Warnings
			if o.DurationFrom != "" { // an import that kept the file's own duration
				l.SetDuration(o.Duration, o.DurationFrom)
			}
		} else if r.Scenario != nil {
			r.Scenario.SetLoad(l)
		}
	}
	if r.samples, err = telemetry.ReadAll(filepath.Join(dir, telemetry.File)); err != nil {
		return nil, err
	}
	if !r.Complete {
		telemetry.SummarizeLevelSamples(r.samples, levels, r.Meta.Engine.Kind == scenario.EngineSim, r.Meta.NumCPU)
	}
	sum.Levels = levels
	r.Summary = sum
	sorted := slices.Clone(levels)
	sort.SliceStable(sorted, func(i, j int) bool { return load(sorted[i]) < load(sorted[j]) })
	r.Saturation = analysis.SaturationPoint(sorted)
	var x, y []float64
	for _, l := range sorted {
		x = append(x, l.OutputThrough)
		y = append(y, l.Latency["p99_e2el_ms"])
	}
	if k := analysis.Knee(x, y); k >= 0 {
		r.Knee = slices.IndexFunc(levels, func(l record.Level) bool { return l.Level == sorted[k].Level })
	}
	return r, nil
}

// readSummary reads result.json (summary.json before schema 2) when the
// run wrote one, and says so in r.Complete; a folder without is noted.
func (r *Run) readSummary() (record.Summary, error) {
	var sum record.Summary
	err := record.ReadJSON(filepath.Join(r.Dir, record.SummaryFile), &sum)
	if os.IsNotExist(err) {
		err = record.ReadJSON(filepath.Join(r.Dir, record.LegacySummaryFile), &sum) // before schema 2
		if err == nil && record.LevelBase(r.Dir) == 0 {
			for i := range sum.Levels {
				sum.Levels[i].Level++ // its levels were numbered from 0
			}
		}
	}
	switch {
	case err == nil:
		r.Complete = true
	case os.IsNotExist(err):
		r.Notices = append(r.Notices, "no result.json: the run was interrupted or killed; levels are recomputed from the records")
	default:
		return sum, fmt.Errorf("%s: %w", r.Dir, err)
	}
	return sum, nil
}

// aggregate is a run imported from statistics alone: its levels are
// result.json's, with nothing to recompute them from.
func (r *Run) aggregate(sum record.Summary) *Run {
	r.Summary = sum
	r.Notices = append(r.Notices, "imported from statistics alone (no requests.jsonl): the levels are the source file's own numbers, with no distributions or timelines")
	return r
}

// load is a level's offered load: its rate (open loop) or concurrency.
func load(l record.Level) float64 {
	if l.Mode == scenario.ModeClosed {
		return float64(l.RequestedConcurrency)
	}
	return l.RequestedRate
}

// collect keeps, for the charts, each measured request's latencies, its span
// in flight and its first-token time.
func (r *Run) collect(rec *record.Record) {
	r.inflight = append(r.inflight, span{rec.SentUS, max(rec.EndUS, rec.DoneUS)})
	if rec.Phase != record.PhaseMeasure || !rec.OK() || len(rec.ChunkUS) == 0 {
		return
	}
	d := r.dists[rec.Level]
	if d == nil {
		d = &dists{}
		r.dists[rec.Level] = d
	}
	ttft := float64(rec.TTFTUS()) / 1000
	e2el := float64(rec.E2ELUS()) / 1000
	d.ttft = append(d.ttft, ttft)
	d.e2el = append(d.e2el, e2el)
	if out := rec.CountOutput(r.outputFrom); out > 1 {
		d.tpot = append(d.tpot, (e2el-ttft)/float64(out-1))
	}
	r.ttftAt = append(r.ttftAt, float64(rec.SentUS+rec.TTFTUS())/1e6)
	r.ttftVal = append(r.ttftVal, ttft)
}

// LoadAll loads several run folders, all or none.
func LoadAll(dirs []string) ([]*Run, error) {
	var runs []*Run
	var errs []error
	names := map[string]int{}
	for _, d := range dirs {
		r, err := Load(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n := names[r.Name]; n > 0 { // keep legends apart
			r.Name = fmt.Sprintf("%s (%d)", r.Name, n+1)
		}
		names[r.Name]++
		runs = append(runs, r)
	}
	return runs, errors.Join(errs...)
}
