package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfgate/perfgate/internal/export"
	"github.com/perfgate/perfgate/internal/fault"
	"github.com/perfgate/perfgate/internal/report"
)

func newReportCmd(env Env) *cobra.Command {
	var out, formats string
	cmd := &cobra.Command{
		Use:   "report RUN...",
		Short: "Turn run folders into tables, charts and an HTML page",
		Long: `report reads one or more run folders (complete, interrupted or killed) and
writes, under --out:

  report.md     tables per run and level, ready to paste into a PR or a job summary
  report.json   the same, machine-readable, with the saturation point and the knee
  report.csv    one row per run and level, one column per metric
  report.html   one self-contained page: tables, run metadata and inline SVG charts
  plots/*.svg   charts that survive GitHub's image sanitizer, and plots/*.png
  vllm/         with --format vllm: one vllm bench serve --save-result file per
                run and level (serving_<run>_levelNN_<load>.json, every key vLLM
                writes, with vLLM's meanings) and its .commands, plus
                summary.json, the list of them all. vLLM's performance-CI
                scripts (convert-results-json-to-markdown.py, then
                compare-json-results.py) read the folder, and
                vllm bench sweep plot vllm/ plots it (docs/metrics.md)

The charts: hockey sticks (output tokens/s against p50 and p99 of TTFT, TPOT and
E2EL), latency percentiles against offered load, CDFs per level, goodput against
load, and a timeline per run (requests in flight, each request's TTFT, GPU and
server telemetry on one time axis). Several runs are overlaid, one colour each.

The saturation point is the highest load at which 90 % of requests meet every
SLO, interpolated between levels; the knee is where the throughput–latency
curve bends (Kneedle).`,
		Example: `  perfgate report runs/20261128T180239Z_quickstart
  perfgate report runs/*_baseline runs/*_candidate --out /tmp/ab --format md,html
  perfgate report runs/*_nightly --out /tmp/nightly --format vllm`,
		Args: atLeastOneArg("run folder"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var fs []string
			for _, f := range strings.Split(formats, ",") {
				f = strings.TrimSpace(f)
				if f == "" {
					continue
				}
				if !slices.Contains(reportFormats, f) {
					return fault.Usagef("--format %q: formats are %s", f, strings.Join(reportFormats, ", "))
				}
				fs = append(fs, f)
			}
			runs, err := report.LoadAll(args)
			if err != nil {
				var nr *report.NotRunFolderError
				if errors.As(err, &nr) {
					return fault.Usage(err)
				}
				return err
			}
			dir := out
			if dir == "" {
				dir = "report"
				if len(runs) == 1 {
					dir = filepath.Join(runs[0].Dir, "report")
				}
			}
			w, err := writeReport(cmd.Context(), runs, dir, fs)
			if err != nil {
				return err
			}
			for _, r := range runs {
				for _, n := range r.Notices {
					fmt.Fprintf(env.Stderr, "perfgate: %s: %s\n", r.Dir, n)
				}
			}
			if slices.Contains(fs, "html") {
				fmt.Fprintf(env.Stdout, "wrote %d files to %s (open %s)\n", len(w.Files), dir, filepath.Join(dir, "report.html"))
			} else {
				fmt.Fprintf(env.Stdout, "wrote %d files to %s\n", len(w.Files), dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "directory for the report (default: RUN/report for one run, ./report for several)")
	cmd.Flags().StringVar(&formats, "format", "md,json,csv,html", "formats to write, comma-separated: md, json, csv, html, vllm")
	return cmd
}

// reportFormats are report's formats and the other tools' files export
// writes.
var reportFormats = append(slices.Clone(report.Formats), "vllm")

// writeReport writes fs into dir: vllm/ through export, the rest (with the
// charts) through report, unless vllm is all that was asked for.
func writeReport(ctx context.Context, runs []*report.Run, dir string, fs []string) (report.Written, error) {
	var w report.Written
	if slices.Contains(fs, "vllm") {
		files, err := export.VLLM(runs, dir)
		w.Files = append(w.Files, files...)
		if err != nil {
			return w, err
		}
		fs = slices.DeleteFunc(slices.Clone(fs), func(f string) bool { return f == "vllm" })
		if len(fs) == 0 {
			slices.Sort(w.Files)
			return w, nil
		}
	}
	rw, err := report.Write(ctx, runs, dir, fs)
	w.Files = append(w.Files, rw.Files...)
	slices.Sort(w.Files)
	return w, err
}
