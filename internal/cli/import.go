package cli

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/importer"
	"github.com/perfgate/perfgate/internal/record"
)

func newImportCmd(env Env) *cobra.Command {
	var o importer.Options
	var out string
	var slo []string
	cmd := &cobra.Command{
		Use:   "import FORMAT FILE... --out DIR",
		Short: "Turn vllm bench serve or AIPerf results into a run folder",
		Long: `import reads results another tool wrote and makes one perfgate run folder of
them, so that report, compare and the gate work on numbers you already have
(a nightly job's files, say). Each FILE is one load level, in the order given.

Formats:
  vllm    a vllm bench serve --save-result file (several on lines of their
          own with --append-result: each a level). With --save-detailed it
          has the per-request arrays (start_times, ttfts, itls, queue_times,
          input_lens, output_lens, errors) and perfgate recomputes every
          metric from them; without, the run holds vLLM's own statistics
          (E2EL from its per-request latencies) and says what it lacks: no
          distributions, no schedule delay, failures counted but not
          classified. A folder holds one kind or the other. The level's load
          is its --request-rate, or a closed loop of --max-concurrency at
          --request-rate inf.
  aiperf  AIPerf's profile_export.jsonl (one per aiperf profile); warm-up
          records stay warm-up. The load, the model and AIPerf's own
          latencies come from profile_export_aiperf.json in the same folder;
          without it, give --rate or --concurrency (one value per FILE; they
          also override the file), or the level is labelled with its
          achieved rate.

perfgate recomputes every metric from the per-request data with its own
(vLLM's) definitions; where the file states a number (vLLM's summary keys, AIPerf's aggregates)
that differs by more than 1 %, the level carries a warning saying so. A
file's own duration (vLLM's duration, AIPerf's benchmark_duration) is kept,
so throughputs are the tool's own. --slo gives each level a goodput (the
share of requests within every SLO, per second) and checks the file's. The
run folder's scenario.yaml describes the load the files measured; its engine
address (http://imported.invalid) cannot be reached: it is a record, not a
plan. Import a baseline and a candidate with the same --scenario to compare
them; several runs of one side (trials) go into DIR/trial-01, trial-02, ….`,
		Example: `  perfgate import vllm nightly/main/*.json --out runs/main --scenario nightly
  perfgate import vllm nightly/pr/*.json --out runs/pr --scenario nightly
  perfgate compare --baseline runs/main --candidate runs/pr
  perfgate import vllm bench.json --out runs/slo --slo ttft=200,tpot=50
  perfgate import aiperf artifacts/run1/profile_export.jsonl --out runs/aiperf --concurrency 32`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fault.Usagef("import needs a format (%s) and at least one file", strings.Join(importer.Formats, ", "))
			}
			if !slices.Contains(importer.Formats, args[0]) {
				return fault.Usagef("import format %q: formats are %s", args[0], strings.Join(importer.Formats, ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(env, o, slo, out, args)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the run folder to write (must not exist, or be empty)")
	cmd.Flags().StringVar(&o.Scenario, "scenario", "", "scenario name; compare matches trials by it (default imported-FORMAT)")
	cmd.Flags().StringVar(&o.Label, "label", "", "a label for the run in reports")
	cmd.Flags().Float64SliceVar(&o.Rates, "rate", nil, "each file's requested rate, requests/s (for files that do not say it)")
	cmd.Flags().IntSliceVar(&o.Concurrencies, "concurrency", nil, "each file's concurrency (a closed loop; for files that do not say it)")
	cmd.Flags().StringSliceVar(&slo, "slo", nil, "SLOs in ms for goodput, as vllm bench serve --goodput: ttft=MS,tpot=MS,e2el=MS (any of them)")
	return cmd
}

// runImport reads the files of one import and writes its run folder.
func runImport(env Env, o importer.Options, slo []string, out string, args []string) error {
	if out == "" {
		return fault.Usagef("--out is required: the run folder to write")
	}
	o.Format = args[0]
	files := args[1:]
	var err error
	if o.SLO, err = parseSLO(slo); err != nil {
		return fault.Usage(err)
	}
	if n := len(o.Rates) + len(o.Concurrencies); n > 0 && len(o.Rates) != len(files) && len(o.Concurrencies) != len(files) {
		return fault.Usagef("--rate or --concurrency takes one value per file: %d file(s)", len(files))
	}
	var levels []importer.Level
	for _, f := range files {
		ls, err := importer.Read(o.Format, f)
		if err != nil {
			return fault.Usage(err)
		}
		levels = append(levels, ls...)
	}
	sum, err := importer.Write(out, levels, o)
	if err != nil {
		return err
	}
	if a := levels[0]; a.Aggregate != nil {
		fmt.Fprintf(env.Stderr, "perfgate: statistics alone (saved without --save-detailed): the run lacks %s\n", strings.Join(a.Lacks, "; "))
	}
	for _, l := range levels {
		for _, n := range l.Notices {
			fmt.Fprintf(env.Stderr, "perfgate: %s: %s\n", l.Source, n)
		}
	}
	for _, l := range sum.Levels {
		for _, w := range l.Warnings {
			fmt.Fprintf(env.Stderr, "perfgate: level %d: %s\n", l.Level+1, w)
		}
	}
	printTable(env.Stdout, sum)
	fmt.Fprintf(env.Stdout, "imported %d level(s) into %s\n", len(sum.Levels), out)
	return nil
}

// parseSLO reads --slo's KEY=MS pairs (ttft, tpot, e2el; vLLM's KEY:MS is
// taken too).
func parseSLO(pairs []string) (record.SLO, error) {
	var s record.SLO
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			k, v, ok = strings.Cut(p, ":")
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || err != nil || !(x > 0) || math.IsInf(x, 0) {
			return s, fmt.Errorf("--slo %q: expected KEY=MS with KEY ttft, tpot or e2el and MS a positive number of milliseconds", p)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "ttft":
			s.TTFTMs = x
		case "tpot":
			s.TPOTMs = x
		case "e2el":
			s.E2ELMs = x
		default:
			return s, fmt.Errorf("--slo %q: unknown SLO %q (ttft, tpot or e2el)", p, k)
		}
	}
	return s, nil
}
