// Package extending is the worked example of docs/extending.md: one arrival
// process, one workload file format, one telemetry probe and one chart, each
// a small type or function and one registration line. Register adds them
// all; a program that wants them calls it before cli.Main (see
// examples/extending/cmd/perfgate-extended), and extending_test.go runs a
// scenario that uses every one.
package extending

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/arrival"
	"github.com/perfgate/perfgate/internal/plot"
	"github.com/perfgate/perfgate/internal/report"
	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/telemetry"
	"github.com/perfgate/perfgate/internal/telemetry/probe"
	"github.com/perfgate/perfgate/internal/workload"
)

// Register adds the example's four extensions (once per process).
func Register() {
	arrival.Register("bursts", newBursts)                                 // load.arrival: bursts
	workload.RegisterFormat("lines", readLines)                           // dataset: {format: lines}
	probe.Register("loadavg", newLoadAvg)                                 // telemetry.probes: [{kind: loadavg}]
	report.RegisterChart("tokens-per-request", tokensCaption, drawTokens) // plots/tokens-per-request.svg
}

// 1. An arrival process: bursts of 4 requests at once, the bursts spaced
// so that the mean rate is rate requests/s (with ±20 % jitter from src).
type bursts struct {
	gap float64
	rng *rand.Rand
	i   int
}

func newBursts(rate, _ float64, src rand.Source) (arrival.Process, error) {
	return &bursts{gap: 4 / rate, rng: rand.New(src)}, nil
}

// Next implements arrival.Process: the gap before the next request, in seconds.
func (b *bursts) Next() float64 {
	b.i++
	if b.i%4 != 0 {
		return 0
	}
	return b.gap * (0.8 + 0.4*b.rng.Float64())
}

// 2. A workload file format: plain text, one prompt per line (lines starting
// with # are comments); a line "!" is an error case, skipped and counted.
func readLines(r io.Reader, f *workload.File) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "!":
			f.Skip(n, "a line of only '!'")
		default:
			f.Keep(workload.Entry{Line: n, Prompt: line})
		}
	}
	return sc.Err()
}

// 3. A telemetry probe: the host's load averages from /proc/loadavg.
type loadAvg struct{ name, path string }

func newLoadAvg(spec scenario.ProbeSpec, _ time.Duration) (telemetry.Probe, error) {
	path := spec.Options["path"]
	if path == "" {
		path = "/proc/loadavg"
	}
	return &loadAvg{name: spec.Name, path: path}, nil
}

func (l *loadAvg) Name() string { return l.name }

func (l *loadAvg) Sample(ctx context.Context) (map[string]float64, error) {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil, fmt.Errorf("%s: %q is not a load average line", l.path, b)
	}
	out := map[string]float64{}
	for i, k := range []string{"load1", "load5", "load15"} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// 4. A chart: mean input and output tokens per completed request, per level.
const tokensCaption = "Mean prompt and output tokens per completed request (the server's usage), per level."

func drawTokens(runs []*report.Run) (plot.Chart, bool) {
	c := plot.Chart{Title: "Tokens per request", XLabel: "level", YLabel: "tokens"}
	for i, r := range runs {
		var x, in, out []float64
		for _, l := range r.Summary.Levels {
			if l.Completed == 0 {
				continue
			}
			x = append(x, float64(l.Level+1))
			in = append(in, float64(l.TotalInput)/float64(l.Completed))
			out = append(out, float64(l.TotalOutput)/float64(l.Completed))
		}
		if len(x) == 0 {
			continue
		}
		c.Series = append(c.Series,
			plot.Series{Label: r.Name + " prompt", X: x, Y: in, Color: i, Glyphs: true},
			plot.Series{Label: r.Name + " output", X: x, Y: out, Color: i, Dashed: true, Glyphs: true})
	}
	return c, len(c.Series) > 0
}
