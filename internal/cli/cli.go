package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/run"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/workload"
)

// Exit codes: fault's, named here for the tests and cmd/perfgate.
const (
	ExitOK         = fault.ExitOK
	ExitFailed     = fault.ExitFailed
	ExitUsage      = fault.ExitUsage
	ExitRegression = fault.ExitRegression
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Args           []string // the full command line, for meta.json
	// IsTerminal reports whether Stderr is a terminal (progress bar or lines).
	IsTerminal bool
	// Commands receives perfgate's own workflow commands (annotations,
	// groups) under GitHub Actions, where Stdout and Stderr are made inert;
	// nil means Stdout.
	Commands io.Writer
}

// Version is perfgate's version: the module version, or the VCS revision of
// a build from a checkout.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			if v == "" || v == "(devel)" {
				v = "devel"
			}
			v += "+" + s.Value[:12]
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return v
}

// Commit is the VCS revision perfgate was built from ("" when the build
// did not record it).
func Commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// Main runs perfgate with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	// Concurrent trials (ab --crossover) and the logger write at once: one
	// lock for both streams.
	var mu sync.Mutex
	env.Stdout, env.Stderr = &lockedWriter{mu: &mu, w: env.Stdout}, &lockedWriter{mu: &mu, w: env.Stderr}
	if env.Getenv("GITHUB_ACTIONS") == "true" {
		// Under Actions nothing perfgate prints may start a workflow
		// command; its own go to the raw stdout.
		env.Commands = env.Stdout
		env.Stdout, env.Stderr = &neutralWriter{w: env.Stdout}, &neutralWriter{w: env.Stderr}
	}
	defer func() {
		if r := recover(); r != nil {
			// A panic on the command's goroutine: stop the engines first, so
			// that none outlives perfgate holding the GPU, then crash as Go does.
			engine.KillAll()
			panic(r)
		}
	}()
	root := newRoot(ctx, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := fault.Code(err)
	switch {
	case scenario.IsValidation(err):
		// Every problem on its own line as file:line:col: message.
		fmt.Fprintln(env.Stderr, err)
	default:
		fmt.Fprintf(env.Stderr, "perfgate: %v\n", err)
	}
	if isCobraUsage(err) {
		fmt.Fprintln(env.Stderr, "Run 'perfgate --help' for usage.")
	}
	return code
}

func newRoot(ctx context.Context, env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "perfgate",
		Short: "Benchmark vLLM and OpenAI-compatible servers under realistic traffic",
		Long: `perfgate benchmarks vLLM (its forks, and any OpenAI-compatible server) under
realistic traffic: a scenario file names the engine, the workload mix, the
arrival pattern and the phases; perfgate runs it and writes a run folder with
one record per request and a summary whose metrics mean what they mean in
'vllm bench serve'.

The embedded simulator (engine kind: sim) stands in for vLLM, so everything
works on a laptop without a GPU.`,
		Example: `  # A three-level sweep against the embedded simulator (about 45 s)
  perfgate run scenarios/quickstart.yaml

  # Check a scenario file without running it
  perfgate validate scenarios/quickstart.yaml`,
		Version:       Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return &argsError{fmt.Sprintf("unknown command %q; perfgate's commands are: %s", args[0], commandNames(cmd))}
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fault.Usage(fmt.Errorf("%v (see '%s --help')", err, c.CommandPath()))
	})
	logLevel := new(slog.LevelVar)
	root.PersistentFlags().Bool("debug", false, "log debugging detail to stderr")
	root.PersistentPreRun = func(cmd *cobra.Command, args []string) {
		if d, _ := cmd.Flags().GetBool("debug"); d {
			logLevel.Set(slog.LevelDebug)
		}
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: logLevel}))
	root.AddCommand(newRunCmd(env, log), newValidateCmd(env), newSimCmd(env, log), newReportCmd(env), newImportCmd(env), newCompareCmd(env), newABCmd(env, log), newHistoryCmd(env), newBisectCmd(env, log), newActionCmd(env, log))
	return root
}

// commandNames lists root's commands as cobra's help does (sorted, without
// the hidden ones and help), so the message cannot miss a new command.
func commandNames(root *cobra.Command) string {
	var names []string
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}

// isCobraUsage recognizes cobra's own argument errors ("accepts 1 arg(s)",
// "unknown command").
func isCobraUsage(err error) bool {
	var ae *argsError
	return errors.As(err, &ae)
}

type argsError struct{ msg string }

func (e *argsError) Error() string { return e.msg }
func (e *argsError) ExitCode() int { return fault.ExitUsage }

// exactArgs is cobra.ExactArgs with an error that maps to exit code 2 and
// says what was expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &argsError{fmt.Sprintf("%s expects %s, got %d argument(s)", cmd.CommandPath(), what, len(args))}
		}
		return nil
	}
}

// atLeastOneArg accepts one or more positional arguments, each a what.
func atLeastOneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &argsError{fmt.Sprintf("%s expects at least one %s", cmd.CommandPath(), what)}
		}
		return nil
	}
}

func newValidateCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "validate SCENARIO...",
		Short: "Check scenario files and report every problem at once",
		Long: `validate loads each scenario file strictly and prints every problem it finds
as file:line:col: message — unknown keys (with a did-you-mean), wrong types,
impossible values — without running anything. It exits 0 when all files are
valid and 2 otherwise.`,
		Example: `  perfgate validate scenarios/*.yaml`,
		Args:    atLeastOneArg("scenario file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, f := range args {
				s, err := scenario.LoadForRun(f)
				if err == nil {
					err = s.CheckEnv(env.Getenv)
				}
				if err == nil && run.HasInputs(s) {
					// The datasets and the trace, read by the code run uses (at
					// one token per word: run measures the ratio on the server).
					if _, lerr := workload.LoadInputs(s, 1, s.Workload.MaxModelLen); lerr != nil {
						err = fault.Usagef("%s: %v", f, lerr)
					}
				}
				if err != nil {
					if !scenario.IsValidation(err) {
						err = fault.Usagef("%v", err)
					}
					errs = append(errs, err)
					continue
				}
				levels := s.LevelSpecs()
				fmt.Fprintf(env.Stdout, "%s: ok (%s, %d level(s), %s engine)\n", f, s.Name, len(levels), s.Engine.Kind)
			}
			if len(errs) == 0 {
				return nil
			}
			for _, e := range errs[:len(errs)-1] {
				fmt.Fprintln(env.Stderr, e)
			}
			return errs[len(errs)-1]
		},
	}
}

// lockedWriter serializes writes to a stream shared by goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// WithSignals returns a context that the first SIGINT or SIGTERM cancels:
// perfgate stops issuing, lets requests in flight finish for the grace
// period, writes what it measured and stops its engines. A second signal —
// a user's second Ctrl-C, or GitHub Actions' cancel, which sends SIGINT and
// then SIGTERM — kills the process group of every engine perfgate started
// and exits at once (ExitFailed): never an engine left holding the GPU.
// stop releases the signals.
func WithSignals(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(fmt.Errorf("%v signal received", s))
		case <-done:
			return
		}
		select {
		case s := <-ch:
			n := engine.KillAll()
			fmt.Fprintf(stderr, "perfgate: %v again: killed %d engine process group(s); exiting now without the summary\n", s, n)
			os.Exit(ExitFailed)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
}
