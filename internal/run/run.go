// Package run is one run of a scenario into a run folder: what `perfgate
// run`, each trial of `perfgate ab` and the Action's trials do. cli wires
// it: flags, the progress bar, the table, exit codes.
package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/numfmt"
	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/runner"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/vocab"
	"github.com/perfgate/perfgate/internal/workload"
)

// Config is one trial.
type Config struct {
	Scenario  *scenario.Scenario // a fresh copy: model discovery fills it in
	File, Dir string             // the scenario file; the run folder, which exists
	Getenv    func(string) string
	Stderr    io.Writer // notices
	Log       *slog.Logger
	// Engine is an engine already started (perfgate ab reuses one per side
	// under trial_policy reset); nil starts the scenario's.
	Engine     engine.Engine
	PathPrefix string // an installed environment's bin/, first on PATH
	N          int    // the trial's number, 0 for a single run
	Label      string
	Tags       map[string]string
	Git        map[string]string // e.g. side, sha, ref
	Versions   map[string]string
	Grace      time.Duration // after Ctrl-C, how long requests in flight may finish
	// CommandLine, Version and Commit go into meta.json (the command line
	// with secrets redacted).
	CommandLine     []string
	Version, Commit string
	Progress        func(runner.Progress) // nil: none
}

// Result is what a trial that began ended with.
type Result struct {
	Summary     record.Summary
	RunErr      error // the run stopped on an error; what was measured is in the folder
	EngineDied  bool
	Interrupted bool
	EngineLog   string // the engine's log, when perfgate started a process
}

// ConfigError is something the scenario asks for that this machine or its
// files cannot give: a workload file that cannot be used, a GPU or probe
// that does not exist. cli reports it as a usage error.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
func (e *ConfigError) ExitCode() int { return fault.ExitUsage }

// Trial runs the scenario once into t.Dir: it starts the engine unless
// given one, asks it for its model, calibrates prompt lengths, reads the
// workload's files, samples telemetry, runs every level, and writes the run
// folder (scenario.yaml, meta.json, requests.jsonl, telemetry.jsonl,
// result.json). An error before the run begins is returned as is (an
// *ConfigError for a workload file that cannot be used); once it has begun,
// what happened is in the Result.
func Trial(ctx context.Context, t Config) (*Result, error) {
	s, dir, log := t.Scenario, t.Dir, t.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eng := t.Engine
	if eng == nil {
		started, err := startEngine(ctx, t)
		if err != nil {
			return nil, err
		}
		defer started.Close()
		eng = started
	}
	clock := record.NewClock()
	c := openai.New(openai.Options{BaseURL: eng.URL(), APIKey: eng.APIKey(), MaxConns: clientConns(s), Clock: clock, MaxEvent: s.MaxEventBytes})
	defer c.Close()

	model, err := findModel(ctx, c, s, eng, log)
	if err != nil {
		return nil, err
	}
	tok, err := promptTokenizer(ctx, c, s, model, t.Stderr, log)
	if err != nil {
		return nil, err
	}
	inputs, err := readInputs(ctx, c, s, model, tok, t.Stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(t.Stderr, "perfgate: running %s (%s engine at %s, model %s) into %s\n", s.Name, eng.Kind(), eng.URL(), model, dir)

	tel, err := startTelemetry(s, eng, clock, dir, t.Getenv, log)
	if err != nil {
		return nil, err
	}
	telStopped := false
	stopTelemetry := func() {
		if telStopped {
			return
		}
		telStopped = true
		if err := tel.stop(); err != nil {
			log.Warn("telemetry was not written completely", "error", err)
		}
	}
	defer stopTelemetry()

	if err := writeStart(ctx, t, c, eng, model, tok, inputs, tel, clock); err != nil {
		return nil, err
	}
	w, err := record.Create(filepath.Join(dir, record.RequestsFile))
	if err != nil {
		return nil, err
	}

	// An engine that dies ends the run: nothing more can be measured.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	engineDied, unwatch := watchEngine(eng, stopRun)
	defer unwatch()
	res, runErr := runner.Run(runCtx, runner.Config{
		Scenario:       s.WallClock(), // model-time rates and durations in wall-clock terms
		Client:         c,
		Model:          model,
		TokensPerWord:  tok.TokensPerWord,
		Inputs:         inputs,
		Sink:           w,
		InterruptGrace: t.Grace,
		Trial:          t.N,
		Progress:       t.Progress,
		BeforeLevel:    beforeLevel(s, eng, t.Stderr),
	})
	stopTelemetry()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing %s: %w", record.RequestsFile, err)
	}

	died := engineDied.Load() && ctx.Err() == nil
	sum, err := summarize(dir, s, res, runErr, clock, eng.Kind() == scenario.EngineSim, died)
	if err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("writing the summary: %w", err))
	}
	return &Result{Summary: sum, RunErr: runErr, EngineDied: died, Interrupted: res.Interrupted, EngineLog: engineLog(eng)}, nil
}

// startEngine starts the scenario's engine, its log in the run folder (for
// vllm, after stopping what an earlier perfgate killed outright left).
func startEngine(ctx context.Context, t Config) (engine.Engine, error) {
	if t.Scenario.Engine.Kind == scenario.EngineVLLM {
		engine.StopOrphans(t.Stderr)
	}
	return engine.Start(ctx, t.Scenario, t.Getenv, engine.Options{LogPath: filepath.Join(t.Dir, "engine.log"), PathPrefix: t.PathPrefix})
}

// clientConns is how many connections the client keeps: the most a level
// can have in flight (a closed loop's concurrency, four seconds of an open
// loop's rate), capped by max_in_flight.
func clientConns(s *scenario.Scenario) int {
	n := 0
	for _, l := range s.WallClock().LevelSpecs() {
		n = max(n, l.Concurrency, int(l.Rate*4))
	}
	if s.Load.MaxInFlight > 0 {
		n = min(n, s.Load.MaxInFlight)
	}
	return n
}

// findModel asks /v1/models first: it finds the model when the scenario
// names none (and sets it), and it fails fast, before a run folder exists,
// when nothing listens or the named model is not served.
func findModel(ctx context.Context, c *openai.Client, s *scenario.Scenario, eng engine.Engine, log *slog.Logger) (string, error) {
	model := s.Model
	models, modelsErr := c.Models(ctx)
	if modelsErr != nil && !errors.Is(modelsErr, openai.ErrNotSupported) {
		return "", fmt.Errorf("cannot reach the engine at %s: %w", eng.URL(), modelsErr)
	}
	if model != "" && modelsErr == nil && len(models) > 0 && !slices.Contains(models, model) {
		// Every request would fail (vLLM answers 404): say so before a run folder exists.
		return "", fmt.Errorf("the server at %s does not serve model %q: /v1/models lists %s; set model: to one of them", eng.URL(), model, strings.Join(models, ", "))
	}
	if model != "" {
		return model, nil
	}
	if modelsErr != nil {
		return "", fmt.Errorf("the scenario names no model and the server cannot list them: %w", modelsErr)
	}
	if len(models) == 0 {
		return "", fmt.Errorf("the scenario names no model and %s/v1/models lists none", eng.URL())
	}
	model = models[0]
	if len(models) > 1 {
		log.Info("the server serves several models; using the first (set model: in the scenario to choose)", "model", model, "all", models)
	}
	s.Model = model
	return model, nil
}

// promptTokenizer measures the server's tokens per word with /tokenize for
// text prompts; without /tokenize, prompt lengths are approximate.
func promptTokenizer(ctx context.Context, c *openai.Client, s *scenario.Scenario, model string, stderr io.Writer, log *slog.Logger) (record.Tokenizer, error) {
	tok := record.Tokenizer{Prompt: s.Workload.Prompt, TokensPerWord: 1}
	if s.Workload.Prompt != scenario.PromptText {
		return tok, nil
	}
	ratio, err := calibrate(ctx, c, model)
	switch {
	case err == nil:
		tok.TokensPerWord, tok.Calibrated = ratio, true
	case errors.Is(err, openai.ErrNotSupported):
		log.Info("the server has no /tokenize: prompt lengths are approximate (1 token per word); the server's usage gives the real counts")
	case errors.Is(err, openai.ErrNoAnswer):
		fmt.Fprintf(stderr, "perfgate: the server's /tokenize did not answer (%v): prompt lengths are approximate (1 token per word); the server's usage gives the real counts\n", err)
	default:
		return tok, fmt.Errorf("calibrating prompt lengths with /tokenize: %w", err)
	}
	return tok, nil
}

// readInputs reads the datasets and the trace once, after the tokenizer
// ratio is known, so prompts that do not fit the model's context can be
// left out (nil when the scenario has none).
func readInputs(ctx context.Context, c *openai.Client, s *scenario.Scenario, model string, tok record.Tokenizer, stderr io.Writer) (*workload.Inputs, error) {
	if !HasInputs(s) {
		return nil, nil
	}
	maxLen := s.Workload.MaxModelLen
	if maxLen == 0 {
		maxLen = c.MaxModelLen(ctx, model)
	}
	in, err := workload.LoadInputs(s, tok.TokensPerWord, maxLen)
	if err != nil {
		return nil, &ConfigError{err}
	}
	for _, n := range in.Notices {
		fmt.Fprintf(stderr, "perfgate: %s\n", n)
	}
	return in, nil
}

// writeStart writes what the run folder holds before the first request:
// the scenario as run (defaults filled in) and meta.json.
func writeStart(ctx context.Context, t Config, c *openai.Client, eng engine.Engine, model string, tok record.Tokenizer, inputs *workload.Inputs, tel *telemetryRun, clock record.Clock) error {
	s, dir := t.Scenario, t.Dir
	snap, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	if err := record.WriteFileAtomic(filepath.Join(dir, record.ScenarioFile), snap); err != nil {
		return err
	}
	var inputNotices []string
	var inputFiles []record.InputFile
	if inputs != nil {
		inputNotices, inputFiles = inputs.Notices, inputs.Files
	}
	hostname, _ := os.Hostname()
	meta := record.Meta{
		SchemaVersion:   record.SchemaVersion,
		PerfgateVersion: t.Version,
		PerfgateCommit:  t.Commit,
		GoVersion:       runtime.Version(),
		OS:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		Hostname:        hostname,
		NumCPU:          runtime.NumCPU(),
		CommandLine:     RedactArgs(t.CommandLine),
		Scenario:        s.Name,
		ScenarioFile:    t.File,
		Label:           t.Label,
		Tags:            t.Tags,
		Inputs:          inputFiles,
		Trial:           t.N,
		Seed:            s.Seed,
		StartWall:       clock.Start.UTC(),
		Engine:          record.Engine{Kind: eng.Kind(), URL: RedactURL(eng.URL()), Model: model, Version: c.Version(ctx), API: s.API, StartSeconds: startTook(eng)},
		Tokenizer:       tok,
		Host:            hostEnv(ctx),
		Git:             t.Git,
		Versions:        t.Versions,
		GPU:             tel.gpu,
		Notices:         append(tel.notices, inputNotices...),
	}
	return record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), meta)
}

// watchEngine calls stopRun when an engine that can die does; died says
// whether it did. unwatch ends the watch.
func watchEngine(eng engine.Engine, stopRun func()) (died *atomic.Bool, unwatch func()) {
	died = new(atomic.Bool)
	d, ok := eng.(engine.Mortal)
	if !ok {
		return died, func() {}
	}
	watch := make(chan struct{})
	go func() {
		select {
		case <-d.Died():
			died.Store(true)
			stopRun()
		case <-watch:
		}
	}()
	return died, func() { close(watch) }
}

// beforeLevel resets the prefix cache between levels when the scenario asks
// (between_levels: reset); a failed reset is said and ends the run.
func beforeLevel(s *scenario.Scenario, eng engine.Engine, stderr io.Writer) func(context.Context, scenario.LevelSpec) error {
	if s.Phases.BetweenLevels != scenario.BetweenReset {
		return nil
	}
	return func(ctx context.Context, spec scenario.LevelSpec) error {
		err := engine.ResetPrefixCache(ctx, eng.URL(), eng.APIKey())
		if err != nil {
			fmt.Fprintf(stderr, "perfgate: level %d starts with the prefix cache the levels before it left: %v\n", spec.Index+1, err)
		}
		return err
	}
}

// hasInputs reports whether the scenario reads datasets or a trace.
func HasInputs(s *scenario.Scenario) bool {
	if s.Load.Arrival == scenario.ArrivalTrace {
		return true
	}
	for _, c := range s.Workload.Classes {
		if c.Dataset.Path != "" {
			return true
		}
	}
	return false
}

// calibrate measures how many tokens one vocabulary word costs on the
// server's tokenizer.
func calibrate(ctx context.Context, c *openai.Client, model string) (float64, error) {
	words := vocab.Words()
	const n = 2000
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[(i*7919)%len(words)])
	}
	count, err := c.Tokenize(ctx, model, b.String())
	if err != nil {
		return 0, err
	}
	if count <= 0 {
		return 0, fmt.Errorf("/tokenize counted %d tokens for %d words", count, n)
	}
	return float64(count) / n, nil
}
func summarize(dir string, s *scenario.Scenario, res runner.Result, runErr error, clock record.Clock, inProcessEngine, engineDied bool) (record.Summary, error) {
	sum := record.Summary{
		SchemaVersion:    record.SchemaVersion,
		Scenario:         s.Name,
		Status:           record.StatusCompleted,
		Started:          clock.Start.UTC(),
		Finished:         time.Now().UTC(),
		Percentiles:      s.Percentiles,
		OutputTokensFrom: s.OutputTokensFrom,
		SLO:              record.SLO{TTFTMs: s.SLO.TTFTMs, TPOTMs: s.SLO.TPOTMs, E2ELMs: s.SLO.E2ELMs},
		Records:          res.Issued,
		Levels:           []record.Level{},
	}
	switch {
	case runErr != nil:
		sum.Status, sum.Error = record.StatusFailed, runErr.Error()
	case engineDied:
		sum.Status, sum.Error = record.StatusEngineDied, "the engine died mid-run; what was measured before is kept"
	case res.Interrupted:
		sum.Status, sum.Interrupted = record.StatusInterrupted, true
	}
	windows := map[int]analysis.Window{}
	starts := map[int]int64{}
	for _, lr := range res.Levels {
		windows[lr.Spec.Index] = analysis.Window{StartUS: lr.MeasureStartUS, EndUS: lr.MeasureEndUS}
		starts[lr.Spec.Index] = lr.StartUS
	}
	var firstErr string // the first measured failure's message, for a run where nothing succeeded
	var firstClient string
	if k := s.ModelTimeScale(); k > 1 {
		sum.ModelTime = k
	}
	levels, st, err := analysis.ReadLevels(dir, windows, analysis.Options{Percentiles: s.Percentiles, SLO: sum.SLO, OutputFrom: s.OutputTokensFrom, ModelTime: sum.ModelTime}, func(r *record.Record) {
		if firstErr == "" && r.Phase == record.PhaseMeasure && r.Error != "" && r.Error != record.ErrCanceled {
			firstErr = r.Error + ": " + r.ErrorMsg
		}
		if r.Error == record.ErrClient {
			if sum.ClientErrors++; firstClient == "" {
				firstClient = r.ErrorMsg
			}
		}
	})
	if err != nil {
		return sum, err
	}
	for i := range levels {
		levels[i].StartUS = starts[levels[i].Level]
		s.SetLoad(&levels[i])
	}
	if err := telemetry.SummarizeLevels(dir, levels, inProcessEngine, runtime.NumCPU()); err != nil {
		return sum, err
	}
	for _, lr := range res.Levels {
		for i := range levels {
			if levels[i].Level == lr.Spec.Index && lr.CacheWarning != "" {
				levels[i].Warnings = append(levels[i].Warnings, "phases.between_levels is reset, but the prefix cache was not emptied before this level ("+
					lr.CacheWarning+"): it started with what the levels before it left")
			}
		}
	}
	sum.Levels = levels
	if sum.Status == record.StatusCompleted {
		issued, completed, failed := 0, 0, 0
		for _, l := range levels {
			issued, completed, failed = issued+l.NumRequests, completed+l.Completed, failed+l.Errors
			if l.Errors > 0 {
				sum.Status = record.StatusDegraded // ran to its end, but some requests failed
			}
		}
		if failed > 0 && completed == 0 {
			// Nothing to measure: a wrong model, a key the server refuses, a server that answers only errors.
			sum.Status = record.StatusFailed
			sum.Error = fmt.Sprintf("no measured request succeeded: %d of %d failed; the first: %s", failed, issued, numfmt.Clip(firstErr, 300))
		}
	}
	if sum.ClientErrors > 0 && (sum.Status == record.StatusCompleted || sum.Status == record.StatusDegraded || sum.Status == record.StatusFailed) {
		sum.Status = record.StatusFailed
		sum.Error = fmt.Sprintf("perfgate's own machine could not send %d request(s), so the numbers are not the server's; the first: %s", sum.ClientErrors, numfmt.Clip(firstClient, 300))
	}
	if st.Records != res.Issued {
		sum.Error = strings.TrimSpace(sum.Error + fmt.Sprintf(" %d requests were issued but %d recorded", res.Issued, st.Records))
	}
	return sum, record.WriteJSONAtomic(filepath.Join(dir, record.SummaryFile), sum)
}

// startTook is how long eng took to start, when this trial is the first
// to ask (a process perfgate started); 0 otherwise.
func startTook(eng engine.Engine) float64 {
	if p, ok := eng.(engine.StartTimed); ok {
		return math.Round(p.TakeStartTook().Seconds()*10) / 10
	}
	return 0
}

var secretArg = regexp.MustCompile(`(?i)(key|token|secret|password|passwd|auth)`)

// RedactURL hides credentials and query values whose names suggest a secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	q := u.Query()
	for k := range q {
		if secretArg.MatchString(k) {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// RedactArgs hides the values of flags whose names suggest a secret.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	hideNext := false
	for i, a := range args {
		switch {
		case hideNext:
			out[i] = "[REDACTED]"
			hideNext = false
		case strings.HasPrefix(a, "-") && secretArg.MatchString(a):
			if k, _, ok := strings.Cut(a, "="); ok {
				out[i] = k + "=[REDACTED]"
			} else {
				out[i] = a
				hideNext = true
			}
		default:
			out[i] = a
		}
	}
	return out
}
func engineLog(e engine.Engine) string {
	if p, ok := e.(engine.Logged); ok {
		return p.LogPath()
	}
	return ""
}
