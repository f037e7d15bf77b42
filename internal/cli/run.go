package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/perfgate/perfgate/internal/analysis"
	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/openai"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/runner"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/vocab"
	"github.com/perfgate/perfgate/internal/workload"
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
			return nil, usagef("--tag %q: KEY=VALUE, the key of letters, digits, '.', '-', '_' (at most 64), the value one line of at most 256 bytes", t)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--tag %s is given twice", k)
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

// hasInputs reports whether the scenario reads datasets or a trace.
func hasInputs(s *scenario.Scenario) bool {
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

var labelRe = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// runScenario runs one scenario and returns its run folder.
func runScenario(ctx context.Context, env Env, log *slog.Logger, file string, o runOpts) (string, error) {
	if !labelRe.MatchString(o.label) {
		return "", usagef("--label %q: use letters, digits, '-', '_' or '.'", o.label)
	}
	if o.grace < 0 {
		return "", usagef("--grace must not be negative")
	}
	if o.trials < 1 {
		return "", usagef("--trials must be at least 1, got %d", o.trials)
	}
	s, err := scenario.LoadForRun(file)
	if err != nil {
		if scenario.IsValidation(err) {
			return "", err
		}
		return "", usagef("%v", err)
	}
	if o.trials == 1 {
		dir, err := makeRunDir(o.out, s.Name, o.label)
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
	parent, err := makeRunDir(o.out, s.Name, o.label)
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

// trialEnv is what a trial gets from outside: an engine already running
// (shared by consecutive trials), or where to find a vllm to start, and more
// for meta.json.
type trialEnv struct {
	eng        engine.Engine
	pathPrefix string            // an installed environment's bin/, first on PATH
	git        map[string]string // e.g. side, sha, ref
	versions   map[string]string
}

// runTrial runs the scenario once into dir.
func runTrial(ctx context.Context, env Env, log *slog.Logger, s *scenario.Scenario, file, dir string, o runOpts, trial int, te trialEnv) error {
	eng := te.eng
	if eng == nil && s.Engine.Kind == scenario.EngineVLLM {
		sweepOrphans(env.Stderr)
	}
	if eng == nil {
		started, err := engine.Start(ctx, s, env.Getenv, engine.Options{LogPath: filepath.Join(dir, "engine.log"), PathPrefix: te.pathPrefix})
		if err != nil {
			return err
		}
		defer started.Close()
		eng = started
	}

	clientConns := 0
	for _, l := range s.LevelSpecs() {
		clientConns = max(clientConns, l.Concurrency, int(l.Rate*4))
	}
	if s.Load.MaxInFlight > 0 {
		clientConns = min(clientConns, s.Load.MaxInFlight)
	}
	clock := record.NewClock()
	c := openai.New(openai.Options{BaseURL: eng.URL(), APIKey: eng.APIKey(), MaxConns: clientConns, Clock: clock, MaxEvent: s.MaxEventBytes})
	defer c.Close()

	// Ask /v1/models first: it finds the model when the scenario names none,
	// and it fails fast, before a run folder exists, when nothing listens.
	model := s.Model
	models, modelsErr := c.Models(ctx)
	if modelsErr != nil && !errors.Is(modelsErr, openai.ErrNotSupported) {
		return fmt.Errorf("cannot reach the engine at %s: %w", eng.URL(), modelsErr)
	}
	if model != "" && modelsErr == nil && len(models) > 0 && !slices.Contains(models, model) {
		// Every request would fail (vLLM answers 404): say so before a run folder exists.
		return fmt.Errorf("the server at %s does not serve model %q: /v1/models lists %s; set model: to one of them", eng.URL(), model, strings.Join(models, ", "))
	}
	if model == "" {
		if modelsErr != nil {
			return fmt.Errorf("the scenario names no model and the server cannot list them: %w", modelsErr)
		}
		if len(models) == 0 {
			return fmt.Errorf("the scenario names no model and %s/v1/models lists none", eng.URL())
		}
		model = models[0]
		if len(models) > 1 {
			log.Info("the server serves several models; using the first (set model: in the scenario to choose)", "model", model, "all", models)
		}
		s.Model = model
	}

	tok := record.Tokenizer{Prompt: s.Workload.Prompt, TokensPerWord: 1}
	if s.Workload.Prompt == scenario.PromptText {
		ratio, err := calibrate(ctx, c, model)
		switch {
		case err == nil:
			tok.TokensPerWord, tok.Calibrated = ratio, true
		case errors.Is(err, openai.ErrNotSupported):
			log.Info("the server has no /tokenize: prompt lengths are approximate (1 token per word); the server's usage gives the real counts")
		case errors.Is(err, openai.ErrNoAnswer):
			fmt.Fprintf(env.Stderr, "perfgate: the server's /tokenize did not answer (%v): prompt lengths are approximate (1 token per word); the server's usage gives the real counts\n", err)
		default:
			return fmt.Errorf("calibrating prompt lengths with /tokenize: %w", err)
		}
	}

	// Datasets and a trace are read once, after the tokenizer ratio is known,
	// so prompts that do not fit the model's context can be left out.
	var inputs *workload.Inputs
	var inputNotices []string
	var inputFiles []record.InputFile
	if hasInputs(s) {
		maxLen := s.Workload.MaxModelLen
		if maxLen == 0 {
			maxLen = c.MaxModelLen(ctx, model)
		}
		in, err := workload.LoadInputs(s, tok.TokensPerWord, maxLen)
		if err != nil {
			return usagef("%v", err)
		}
		inputs = in
		inputNotices = inputs.Notices
		inputFiles = inputs.Files
		for _, n := range inputNotices {
			fmt.Fprintf(env.Stderr, "perfgate: %s\n", n)
		}
	}

	fmt.Fprintf(env.Stderr, "perfgate: running %s (%s engine at %s, model %s) into %s\n", s.Name, eng.Kind(), eng.URL(), model, dir)

	tel, err := startTelemetry(s, eng, clock, dir, env, log)
	if err != nil {
		return err
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

	snap, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	if err := record.WriteFileAtomic(filepath.Join(dir, record.ScenarioFile), snap); err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	meta := record.Meta{
		SchemaVersion:   record.SchemaVersion,
		PerfgateVersion: Version(),
		PerfgateCommit:  Commit(),
		GoVersion:       runtime.Version(),
		OS:              runtime.GOOS,
		Arch:            runtime.GOARCH,
		Hostname:        hostname,
		NumCPU:          runtime.NumCPU(),
		CommandLine:     redactArgs(env.Args),
		Scenario:        s.Name,
		ScenarioFile:    file,
		Label:           o.label,
		Tags:            o.tags,
		Inputs:          inputFiles,
		Trial:           trial,
		Seed:            s.Seed,
		StartWall:       clock.Start.UTC(),
		Engine:          record.Engine{Kind: eng.Kind(), URL: redactURL(eng.URL()), Model: model, Version: c.Version(ctx), API: s.API},
		Tokenizer:       tok,
		Host:            hostEnv(ctx),
		Git:             te.git,
		Versions:        te.versions,
		GPU:             tel.gpu,
		Notices:         append(tel.notices, inputNotices...),
	}
	if err := record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), meta); err != nil {
		return err
	}
	w, err := record.Create(filepath.Join(dir, record.RequestsFile))
	if err != nil {
		return err
	}

	// An engine that dies ends the run: nothing more can be measured.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var engineDied atomic.Bool
	if d, ok := eng.(interface{ Died() <-chan struct{} }); ok {
		watch := make(chan struct{})
		defer close(watch)
		go func() {
			select {
			case <-d.Died():
				engineDied.Store(true)
				stopRun()
			case <-watch:
			}
		}()
	}
	prog := newProgress(env)
	var beforeLevel func(context.Context, scenario.LevelSpec) error
	if s.Phases.BetweenLevels == scenario.BetweenReset {
		beforeLevel = func(ctx context.Context, spec scenario.LevelSpec) error {
			err := engine.ResetPrefixCache(ctx, eng.URL(), eng.APIKey())
			if err != nil {
				fmt.Fprintf(env.Stderr, "perfgate: level %d starts with the prefix cache the levels before it left: %v\n", spec.Index+1, err)
			}
			return err
		}
	}
	res, runErr := runner.Run(runCtx, runner.Config{
		Scenario:       s,
		Client:         c,
		Model:          model,
		TokensPerWord:  tok.TokensPerWord,
		Inputs:         inputs,
		Sink:           w,
		InterruptGrace: o.grace,
		Trial:          trial,
		Progress:       prog.update,
		BeforeLevel:    beforeLevel,
	})
	prog.finish()
	stopTelemetry()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing %s: %w", record.RequestsFile, err)
	}

	died := engineDied.Load() && ctx.Err() == nil
	sum, err := summarize(dir, s, res, runErr, clock, eng.Kind() == scenario.EngineSim, died)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("writing the summary: %w", err))
	}
	printTable(env.Stdout, s, sum)
	fmt.Fprintf(env.Stdout, "\nrun folder: %s\n", dir)
	switch {
	case runErr != nil:
		return fmt.Errorf("the run failed: %w (what was measured is in %s)", runErr, dir)
	case sum.Status == record.StatusFailed:
		return fmt.Errorf("the run failed: %s (the records are in %s)", sum.Error, dir)
	case died:
		where := ""
		if l := engineLog(eng); l != "" {
			where = " (its log: " + l + ")"
		}
		return fmt.Errorf("the engine died mid-run%s; what was measured before is in %s", where, dir)
	case res.Interrupted:
		return &interruptedError{dir: dir}
	}
	return nil
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
	levels, st, err := analysis.ReadLevels(dir, windows, analysis.Options{Percentiles: s.Percentiles, SLO: sum.SLO, OutputFrom: s.OutputTokensFrom}, func(r *record.Record) {
		if firstErr == "" && r.Phase == record.PhaseMeasure && r.Error != "" && r.Error != record.ErrCanceled {
			firstErr = r.Error + ": " + r.ErrorMsg
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
			sum.Error = fmt.Sprintf("no measured request succeeded: %d of %d failed; the first: %s", failed, issued, clipMsg(firstErr, 300))
		}
	}
	if st.Records != res.Issued {
		sum.Error = strings.TrimSpace(sum.Error + fmt.Sprintf(" %d requests were issued but %d recorded", res.Issued, st.Records))
	}
	return sum, record.WriteJSONAtomic(filepath.Join(dir, record.SummaryFile), sum)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// makeRunDir creates out/<UTC time>_<name>[_<label>], adding -2, -3, … when
// that folder already exists.
func makeRunDir(out, name, label string) (string, error) {
	base := time.Now().UTC().Format("20060102T150405Z") + "_" + strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
	if label != "" {
		base += "_" + label
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create the output directory: %w", err)
	}
	for i := 1; ; i++ {
		dir := filepath.Join(out, base)
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", dir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !os.IsExist(err) {
			return "", fmt.Errorf("create the run folder: %w", err)
		}
	}
}

var secretArg = regexp.MustCompile(`(?i)(key|token|secret|password|passwd|auth)`)

// redactURL hides credentials and query values whose names suggest a secret.
func redactURL(raw string) string {
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

// redactArgs hides the values of flags whose names suggest a secret.
func redactArgs(args []string) []string {
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
	if p, ok := e.(interface{ LogPath() string }); ok {
		return p.LogPath()
	}
	return ""
}

// clipMsg shortens a message to n bytes (at a rune boundary).
func clipMsg(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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

// sweepOrphans stops the engines a perfgate killed outright (kill -9) left
// running, before this one starts its own, and says so.
func sweepOrphans(w io.Writer) {
	for _, pid := range engine.SweepOrphans() {
		fmt.Fprintf(w, "perfgate: stopped an engine (process group %d) that a perfgate killed outright had left running\n", pid)
	}
}
