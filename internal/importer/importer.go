// Package importer turns results made by other tools — `vllm bench serve
// --save-result --save-detailed` files and AIPerf's profile_export.jsonl —
// into perfgate run folders, so that report, compare and the gate work on
// them. Each input file is one load level; every file of one import goes
// into one run folder, levels in the order given.
package importer

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Formats that can be imported.
const (
	FormatVLLM   = "vllm"
	FormatAIPerf = "aiperf"
)

// Formats lists them for help and errors.
var Formats = []string{FormatVLLM, FormatAIPerf}

// Level is one imported load level: its requests with send times relative
// to the level's first send, and what the file says of its load.
type Level struct {
	Source      string // the file (and line, for an appended vLLM file)
	Records     []record.Record
	Mode        string  // scenario.ModeOpen or ModeClosed
	Rate        float64 // open loop: the requested rate (0: unknown, the achieved rate is used)
	Concurrency int     // closed loop
	Model, API  string
	Start       time.Time // when the level ran, when the file says
	// Duration is the file's own duration in seconds (0: not said): the
	// level's throughputs are the file's, divided by it.
	Duration float64
	// Tool, Version and Command say what wrote the file, as far as it says.
	Tool, Version, Command string
	// Aggregate is a level the file gives only as statistics (a vLLM
	// result saved without --save-detailed): no records.
	Aggregate *record.Level
	// Lacks says what an aggregate level cannot give.
	Lacks []string
	// Reported holds numbers the file itself states (vLLM's own summary),
	// checked against perfgate's recomputation.
	Reported map[string]float64
	Notices  []string
}

// Options of an import.
type Options struct {
	Scenario string // the scenario name compare matches trials by (default: imported-FORMAT)
	Label    string
	Format   string
	// Rates or Concurrencies override each level's load (one per input) for
	// files that do not say it (AIPerf's profile_export.jsonl).
	Rates         []float64
	Concurrencies []int
	// SLO, when set, gives each level a goodput (and checks the file's).
	SLO record.SLO
}

// What one imported request may hold: beyond these a file is not a
// benchmark's result, and taking it would exhaust memory or overflow the
// run clock (microseconds in an int64).
const (
	maxTokens  = scenario.MaxTokens // an input or output length, and the chunk times of one request
	maxSeconds = 7 * 24 * 3600.0    // a request's latency, TTFT or gap
	// maxEpoch bounds an absolute send time in seconds (year 5138): vLLM
	// writes them from the Unix epoch.
	maxEpoch = 1e11
	// maxErrorText is the most of a file's error message a record keeps.
	maxErrorText = 300
)

// checkSeconds says what is wrong with a time in seconds (a latency, TTFT or
// gap), "" when nothing.
func checkSeconds(name string, x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return fmt.Sprintf("%s is %v: a time must be a finite number", name, x)
	case x < 0:
		return fmt.Sprintf("%s is %g s: a time must be ≥ 0", name, x)
	case x > maxSeconds:
		return fmt.Sprintf("%s is %g s: over a week, not a request's time", name, x)
	}
	return ""
}

// checkLength says what is wrong with a token count, "" when nothing.
func checkLength(name string, x float64) string {
	if math.IsNaN(x) || x < 0 || x > maxTokens || x != math.Trunc(x) {
		return fmt.Sprintf("%s is %g: a length must be a whole number from 0 to %d", name, x, maxTokens)
	}
	return ""
}

// gap separates levels on the imported run's clock.
const gap = int64(time.Second / time.Microsecond)

// Read reads one file of the given format into its levels.
func Read(format, path string) ([]Level, error) {
	switch format {
	case FormatVLLM:
		return readVLLM(path)
	case FormatAIPerf:
		l, err := readAIPerf(path)
		if err != nil {
			return nil, err
		}
		return []Level{l}, nil
	}
	return nil, fmt.Errorf("unknown import format %q (formats: %s)", format, strings.Join(Formats, ", "))
}

// Write makes a run folder at dir from the levels: scenario.yaml (a
// description of the load, not a scenario perfgate ran), meta.json,
// requests.jsonl and result.json. dir must not exist or be empty.
// A failed import leaves no folder behind (nor its files in a folder that
// was empty).
func Write(dir string, levels []Level, o Options) (sum record.Summary, err error) {
	if len(levels) == 0 {
		return sum, errors.New("nothing to import")
	}
	ents, rerr := os.ReadDir(dir)
	if rerr == nil && len(ents) > 0 {
		return sum, fmt.Errorf("%s is not empty: an import writes a new run folder", dir)
	}
	existed := rerr == nil
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, err
	}
	defer func() {
		if err != nil {
			removeImport(dir, existed)
		}
	}()
	if o.Scenario == "" {
		o.Scenario = "imported-" + o.Format
	}
	if err := labelLevels(levels, o); err != nil {
		return sum, err
	}
	aggregate := levels[0].Aggregate != nil
	for _, l := range levels[1:] {
		if (l.Aggregate != nil) != aggregate {
			return sum, fmt.Errorf("%s has per-request data and %s only statistics (or the other way round): one run folder holds levels of one kind (import them separately)", levels[0].Source, l.Source)
		}
	}
	var windows map[int]analysis.Window
	var notices []string
	var end int64
	if !aggregate {
		if windows, notices, end, sum.Records, err = writeRecords(dir, levels); err != nil {
			return sum, err
		}
	} else {
		notices = append(notices, "the files hold statistics, not requests (vllm bench serve without --save-detailed); the run lacks "+strings.Join(levels[0].Lacks, "; "))
		for _, l := range levels {
			for _, n := range l.Notices {
				notices = append(notices, l.Source+": "+n)
			}
		}
	}
	s, err := writeScenario(dir, levels, o)
	if err != nil {
		return sum, err
	}
	meta := importMeta(dir, s, levels, o, notices)
	if err := record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), meta); err != nil {
		return sum, err
	}
	got, err := importedLevels(dir, s, levels, windows, o)
	if err != nil {
		return sum, err
	}
	sum = record.Summary{SchemaVersion: record.SchemaVersion, Scenario: s.Name, Label: o.Label, Status: record.StatusCompleted,
		Started: meta.StartWall, Finished: meta.StartWall.Add(time.Duration(end) * time.Microsecond), Percentiles: s.Percentiles,
		SLO: o.SLO, Records: sum.Records, Levels: got}
	for _, l := range got {
		if l.Errors > 0 {
			sum.Status = record.StatusDegraded
		}
	}
	return sum, record.WriteJSONAtomic(filepath.Join(dir, record.SummaryFile), sum)
}

// importMeta is an import's meta.json: the engine the files name, the
// files themselves, and what wrote them.
func importMeta(dir string, s *scenario.Scenario, levels []Level, o Options, notices []string) record.Meta {
	start := levels[0].Start
	if start.IsZero() {
		start = time.Now().UTC()
	}
	meta := record.Meta{SchemaVersion: record.SchemaVersion, PerfgateVersion: "import", Scenario: s.Name,
		ScenarioFile: filepath.Join(dir, record.ScenarioFile), Label: o.Label, StartWall: start,
		Engine:    record.Engine{Kind: scenario.EngineEndpoint, URL: s.Engine.URL, Model: levels[0].Model, API: s.API},
		Tokenizer: record.Tokenizer{Prompt: "text"}, Notices: notices,
		Tags: map[string]string{"imported_from": o.Format}}
	for _, l := range levels {
		meta.CommandLine = append(meta.CommandLine, l.Source)
	}
	l := levels[0]
	if l.Tool != "" {
		meta.Tags["imported_tool"] = strings.TrimSpace(l.Tool + " " + l.Version)
	}
	if l.Command != "" {
		meta.Tags["imported_command"] = numfmt.Clip(l.Command, 2000)
	}
	if l.Aggregate != nil {
		meta.Tags[record.AggregateTag] = "true"
	}
	return meta
}

// importedLevels are the levels of result.json: recomputed from the records
// written (the file's own duration kept where it says one, and checked
// against what the file states), or an aggregate file's own.
func importedLevels(dir string, s *scenario.Scenario, levels []Level, windows map[int]analysis.Window, o Options) ([]record.Level, error) {
	if levels[0].Aggregate != nil {
		var got []record.Level
		for i, l := range levels {
			a := *l.Aggregate
			a.Level = i
			s.SetLoad(&a)
			got = append(got, a)
		}
		return got, nil
	}
	got, _, err := analysis.ReadLevels(dir, windows, analysis.Options{Percentiles: s.Percentiles, SLO: o.SLO, Client: cmp.Or(levels[0].Tool, o.Format)}, nil)
	if err != nil {
		return nil, err
	}
	for i := range got {
		l := &got[i]
		s.SetLoad(l)
		src := levels[l.Level]
		if src.Duration > 0 {
			l.SetDuration(src.Duration, src.Tool)
		}
		l.Warnings = append(l.Warnings, crossCheck(*l, src.Reported)...)
	}
	return got, nil
}

// removeImport undoes a failed import: the folder's content when it
// existed (empty) before, else the folder.
func removeImport(dir string, existed bool) {
	if !existed {
		os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// labelLevels sets each level's load: --rate and --concurrency first, else
// the rate achieved; one mode for all; within what a scenario may say (a
// file that sent more at once, as vLLM at rate inf, is said so).
func labelLevels(levels []Level, o Options) error {
	for i := range levels {
		l := &levels[i]
		if i < len(o.Rates) && o.Rates[i] > 0 {
			l.Mode, l.Rate = scenario.ModeOpen, o.Rates[i]
		}
		if i < len(o.Concurrencies) && o.Concurrencies[i] > 0 {
			l.Mode, l.Concurrency = scenario.ModeClosed, o.Concurrencies[i]
		}
		if l.Mode == scenario.ModeOpen && l.Rate <= 0 {
			l.Rate = achievedRate(l.Records)
		}
	}
	if err := checkOneMode(levels); err != nil {
		return err
	}
	for i := range levels {
		l := &levels[i]
		if l.Mode == scenario.ModeClosed && l.Concurrency > scenario.MaxConcurrency {
			l.Notices = append(l.Notices, fmt.Sprintf("%d requests were in flight at once: the level is labelled concurrency %d, the most a scenario may say", l.Concurrency, scenario.MaxConcurrency))
			l.Concurrency = scenario.MaxConcurrency
		}
		if l.Mode == scenario.ModeOpen && l.Rate > scenario.MaxRate {
			l.Notices = append(l.Notices, fmt.Sprintf("the rate was %g requests/s: the level is labelled %d, the most a scenario may say", l.Rate, scenario.MaxRate))
			l.Rate = scenario.MaxRate
		}
	}
	if len(levels) > scenario.MaxLevels {
		return fmt.Errorf("%d levels: an import takes at most %d files", len(levels), scenario.MaxLevels)
	}
	return nil
}

// writeRecords writes requests.jsonl: the levels one after another on the
// run clock, a second apart, with each level's measurement window (vLLM's:
// from the first measured send to the last), the levels' notices, where the
// last level ended and how many records there are.
func writeRecords(dir string, levels []Level) (windows map[int]analysis.Window, notices []string, end int64, n int, err error) {
	w, err := record.Create(filepath.Join(dir, record.RequestsFile))
	if err != nil {
		return nil, nil, 0, 0, err
	}
	windows = map[int]analysis.Window{}
	var id int64
	for i := range levels {
		l := &levels[i]
		first, firstMeasure, lastSent, lastEnd := int64(math.MaxInt64), int64(math.MaxInt64), int64(0), int64(0)
		for j := range l.Records {
			first = min(first, l.Records[j].SentUS)
		}
		for j := range l.Records {
			r := &l.Records[j]
			shiftRecord(r, end-first)
			r.ID, r.Level = id, i
			id++
			if r.Phase == record.PhaseMeasure {
				firstMeasure, lastSent = min(firstMeasure, r.SentUS), max(lastSent, r.SentUS)
			}
			lastEnd = max(lastEnd, r.EndUS, r.DoneUS)
			if err := w.Write(r); err != nil {
				w.Close()
				return nil, nil, 0, 0, err
			}
		}
		if firstMeasure == math.MaxInt64 {
			w.Close()
			return nil, nil, 0, 0, fmt.Errorf("%s: no measured request (all are warm-up)", l.Source)
		}
		// The duration then runs to the last end.
		windows[i] = analysis.Window{StartUS: firstMeasure, EndUS: max(lastSent, firstMeasure+1)}
		end = lastEnd + gap
		for _, n := range l.Notices {
			notices = append(notices, l.Source+": "+n)
		}
	}
	return windows, notices, end, int(id), w.Close()
}

// shiftRecord moves a record's times by shift microseconds.
func shiftRecord(r *record.Record, shift int64) {
	r.ScheduledUS += shift
	r.SentUS += shift
	r.EndUS += shift
	if r.DoneUS != 0 {
		r.DoneUS += shift
	}
	if r.FirstTokenUS != 0 {
		r.FirstTokenUS += shift
	}
}

// writeScenario writes scenario.yaml, the load the files measured (perfgate
// did not run it), and checks that it reads back: compare loads it.
func writeScenario(dir string, levels []Level, o Options) (*scenario.Scenario, error) {
	s := describe(levels, o)
	y, err := yaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# Imported by perfgate import --format %s from:\n", o.Format)
	for _, l := range levels {
		head += "#   " + l.Source + "\n"
	}
	head += "# It describes the load those files measured; perfgate did not run it.\n"
	if err := record.WriteFileAtomic(filepath.Join(dir, record.ScenarioFile), append([]byte(head), y...)); err != nil {
		return nil, err
	}
	if _, err := scenario.LoadFile(filepath.Join(dir, record.ScenarioFile)); err != nil {
		return nil, fmt.Errorf("the scenario perfgate wrote for the import does not load (a bug): %w", err)
	}
	return s, nil
}

// achievedRate is a level's measured requests per second of sending, to
// three significant digits: the label of a level whose file does not say
// what rate was asked for.
func achievedRate(rs []record.Record) float64 {
	first, last, n := int64(math.MaxInt64), int64(math.MinInt64), 0
	for _, r := range rs {
		if r.Phase == record.PhaseMeasure {
			first, last, n = min(first, r.SentUS), max(last, r.SentUS), n+1
		}
	}
	if n < 2 || last <= first {
		return 1
	}
	x := float64(n-1) / (float64(last-first) / 1e6)
	p := math.Pow(10, math.Floor(math.Log10(x))-2)
	return math.Round(x/p) * p
}

func checkOneMode(levels []Level) error {
	for _, l := range levels[1:] {
		if l.Mode != levels[0].Mode {
			return fmt.Errorf("%s is a %s-loop level and %s a %s-loop one: one run folder holds levels of one kind (import them separately)",
				levels[0].Source, levels[0].Mode, l.Source, l.Mode)
		}
	}
	return nil
}

// describe writes the scenario an imported run stands for: its load levels,
// its mean lengths, and an engine address that cannot be reached.
func describe(levels []Level, o Options) *scenario.Scenario {
	s := &scenario.Scenario{Name: o.Scenario, API: levels[0].API,
		Description: "results imported from " + o.Format + "; perfgate did not run this scenario"}
	s.Model = levels[0].Model
	s.Engine.Kind = scenario.EngineEndpoint
	s.Engine.URL = "http://imported.invalid" // .invalid never resolves: this scenario is a record, not a plan
	s.Load.Mode = levels[0].Mode
	var in, out, n, okIn, okOut, ok, total int
	for _, l := range levels {
		if s.Load.Mode == scenario.ModeClosed {
			s.Load.Levels = append(s.Load.Levels, float64(l.Concurrency))
		} else {
			s.Load.Levels = append(s.Load.Levels, l.Rate)
		}
		for _, r := range l.Records {
			in, out, n, total = in+r.RequestedInput, out+r.RequestedOutput, n+1, total+1
			if r.OK() { // a failed request's output is no length it asked for
				okIn, okOut, ok = okIn+r.RequestedInput, okOut+r.RequestedOutput, ok+1
			}
		}
		if a := l.Aggregate; a != nil { // its totals are the completed requests'
			in, out, n, total = in+a.TotalInput, out+a.TotalOutput, n+a.Completed, total+a.NumRequests
		}
	}
	if s.Load.Mode == scenario.ModeOpen {
		s.Load.Arrival = scenario.ArrivalPoisson
	}
	if ok > 0 {
		in, out, n = okIn, okOut, ok
	}
	c := scenario.Class{Name: "imported", Weight: 1}
	c.InputTokens = scenario.Dist{Kind: scenario.DistFixed, Value: float64(max(1, in/max(n, 1)))}
	c.OutputTokens = scenario.Dist{Kind: scenario.DistFixed, Value: float64(max(1, out/max(n, 1)))}
	s.Workload.Classes = []scenario.Class{c}
	s.Percentiles = slices.Clone(scenario.DefaultPercentiles)
	s.Phases.Measure.Requests = max(1, total/len(levels))
	s.SLO.TTFTMs, s.SLO.TPOTMs, s.SLO.E2ELMs = o.SLO.TTFTMs, o.SLO.TPOTMs, o.SLO.E2ELMs
	return s
}

// crossCheck compares perfgate's recomputation with what the file says,
// and names every number that differs by more than 1 %.
func crossCheck(l record.Level, reported map[string]float64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(reported)) {
		want := reported[k]
		var got float64
		switch k {
		case "completed":
			got = float64(l.Completed)
		case "failed":
			got = float64(l.Failed)
		case "total_output_tokens":
			got = float64(l.TotalOutput)
		case "request_throughput":
			got = l.RequestThrough
		case "output_throughput":
			got = l.OutputThrough
		case "request_goodput":
			if l.RequestGoodput == nil {
				out = append(out, fmt.Sprintf("the file says request_goodput %.4g; give --slo with the SLOs it was measured against to recompute it", want))
				continue
			}
			got = *l.RequestGoodput
		default:
			var ok bool
			if got, ok = l.Latency[k]; !ok {
				continue
			}
		}
		if math.Abs(got-want) > 0.01*math.Abs(want)+1e-9 {
			out = append(out, fmt.Sprintf("the file says %s %.4g, perfgate computes %.4g from its per-request data", k, want, got))
		}
	}
	return out
}
