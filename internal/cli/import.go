package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/importer"
)

func newImportCmd(env Env) *cobra.Command {
	var o importer.Options
	var out string
	cmd := &cobra.Command{
		Use:   "import FORMAT FILE... --out DIR",
		Short: "Turn vllm bench serve or AIPerf results into a run folder",
		Long: `import reads results another tool wrote and makes one perfgate run folder of
them, so that report, compare and the gate work on numbers you already have
(a nightly job's files, say). Each FILE is one load level, in the order given.

Formats:
  vllm    a vllm bench serve --save-result --save-detailed file (several on
          lines of their own with --append-result: each a level). perfgate
          needs the per-request arrays (start_times, ttfts, itls, input_lens,
          output_lens, errors); the level's load is its --request-rate, or
          a closed loop of --max-concurrency at --request-rate inf.
  aiperf  AIPerf's profile_export.jsonl (one per aiperf profile); warm-up
          records stay warm-up. The load, the model and AIPerf's own
          latencies come from profile_export_aiperf.json in the same folder;
          without it, give --rate or --concurrency (one value per FILE; they
          also override the file), or the level is labelled with its
          achieved rate.

perfgate recomputes every metric from the per-request data with its own
(vLLM's) definitions; where the file states a number (vLLM's summary keys, AIPerf's aggregates)
that differs by more than 1 %, the level carries a warning saying so. The
run folder's scenario.yaml describes the load the files measured; its engine
address (http://imported.invalid) cannot be reached: it is a record, not a
plan. Import a baseline and a candidate with the same --scenario to compare
them; several runs of one side (trials) go into DIR/trial-01, trial-02, ….`,
		Example: `  perfgate import vllm nightly/main/*.json --out runs/main --scenario nightly
  perfgate import vllm nightly/pr/*.json --out runs/pr --scenario nightly
  perfgate compare --baseline runs/main --candidate runs/pr
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
			if out == "" {
				return fault.Usagef("--out is required: the run folder to write")
			}
			o.Format = args[0]
			files := args[1:]
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
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the run folder to write (must not exist, or be empty)")
	cmd.Flags().StringVar(&o.Scenario, "scenario", "", "scenario name; compare matches trials by it (default imported-FORMAT)")
	cmd.Flags().StringVar(&o.Label, "label", "", "a label for the run in reports")
	cmd.Flags().Float64SliceVar(&o.Rates, "rate", nil, "each file's requested rate, requests/s (for files that do not say it)")
	cmd.Flags().IntSliceVar(&o.Concurrencies, "concurrency", nil, "each file's concurrency (a closed loop; for files that do not say it)")
	return cmd
}
