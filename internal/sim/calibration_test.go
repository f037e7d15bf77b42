package sim

import (
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/stats"
)

var updateDocs = flag.Bool("update", false, "rewrite the calibration table in docs/simulator.md")

const (
	calibrationFile = "../../testdata/sim/calibration.csv"
	simulatorDoc    = "../../docs/simulator.md"
	calBegin        = "<!-- calibration table: go test ./internal/sim -run Calibration -update -->"
	calEnd          = "<!-- end of calibration table -->"
)

// calRow is one published figure (testdata/sim/calibration.csv).
type calRow struct {
	id, use, gpu, model, precision, vllm, metric, source, note string
	tp, input, output, concurrency                             int
	published                                                  float64
}

func readCalibration(t *testing.T) []calRow {
	t.Helper()
	b, err := os.ReadFile(calibrationFile)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	r.Comment = '#'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	col := func(rec []string, name string) string { return rec[slices.Index(head, name)] }
	num := func(rec []string, name string) int { n, _ := strconv.Atoi(col(rec, name)); return n }
	var out []calRow
	for _, rec := range recs[1:] {
		v, err := strconv.ParseFloat(col(rec, "published"), 64)
		if err != nil {
			t.Fatalf("%s: published %q", rec[0], col(rec, "published"))
		}
		out = append(out, calRow{id: rec[0], use: col(rec, "use"), gpu: col(rec, "gpu"), model: col(rec, "model"), precision: col(rec, "precision"),
			vllm: col(rec, "vllm"), metric: col(rec, "metric"), source: col(rec, "source"), note: col(rec, "note"),
			tp: num(rec, "tp"), input: num(rec, "input"), output: num(rec, "output"), concurrency: num(rec, "concurrency"), published: v})
	}
	return out
}

// closedLoop keeps c sequences of in/out tokens in flight in model time,
// as vllm bench serve --max-concurrency c does, until n have finished, and
// returns the finished sequences.
func closedLoop(e *engine, c, n, in, out int) []*seq {
	var all, live []*seq
	add := func() {
		s := e.add(randomPrompt(in), out, e.start)
		s.arrived = e.now
		all, live = append(all, s), append(live, s)
	}
	for range c {
		add()
	}
	for {
		batch, end := e.begin()
		e.finishStep(batch, end)
		live = slices.DeleteFunc(live, func(s *seq) bool { return s.finished })
		for len(live) < c && len(all) < n {
			add()
		}
		if len(live) == 0 {
			return all
		}
	}
}

// Every published figure the simulator can replay, replayed: the
// simulator's value beside the published one. Each must be within ±15 %;
// the table (with the rows it cannot replay and why) is pinned in
// docs/simulator.md and rewritten with -update.
func TestCalibration(t *testing.T) {
	rows := readCalibration(t)
	var b strings.Builder
	b.WriteString("| figure | GPU × model | vLLM | load | published | simulator | error | source |\n| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n")
	var errs []float64
	for _, r := range rows {
		load := fmt.Sprintf("%d seq, %d in / %d out", r.concurrency, r.input, r.output)
		if r.use != "yes" {
			fmt.Fprintf(&b, "| %s | %s/%s %s TP%d | %s | – | %.4g | not replayed | – | [source](%s): %s |\n", r.metric, r.gpu, r.model, r.precision, r.tp, r.vllm, r.published, r.source, r.note)
			continue
		}
		if r.metric != "median_tpot_ms" || r.concurrency < 1 || r.input < 1 || r.output < 2 {
			t.Fatalf("%s: the replay knows median_tpot_ms over a closed loop with known lengths", r.id)
		}
		e := newTestEngine(t, func(c *Config) { c.Profile = r.gpu + "/" + r.model; c.TensorParallel = r.tp })
		seqs := closedLoop(e, r.concurrency, 20*r.concurrency, r.input, r.output)
		var tpot []float64
		for _, s := range seqs {
			tpot = append(tpot, 1000*(s.lastToken-s.firstToken)/float64(s.generated-1))
		}
		got := stats.Median(tpot)
		rel := got/r.published - 1
		errs = append(errs, rel)
		if math.Abs(rel) > 0.15 {
			t.Errorf("%s: simulator %.3g, published %.3g (%+.1f %%): outside ±15 %%", r.id, got, r.published, 100*rel)
		}
		fmt.Fprintf(&b, "| %s | %s/%s %s TP%d | %s | %s | %.4g | %.4g | %+.1f %% | [source](%s): %s |\n", r.metric, r.gpu, r.model, r.precision, r.tp, r.vllm, load, r.published, got, 100*rel, r.source, r.note)
	}
	fmt.Fprintf(&b, "\n%d figures replayed; mean error %+.1f %%, largest %+.1f %%.\n", len(errs), 100*mean(errs), 100*largest(errs))
	t.Logf("\n%s", b.String())

	doc, err := os.ReadFile(simulatorDoc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, calBegin), strings.Index(s, calEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/simulator.md has no calibration table markers")
	}
	want := s[:i+len(calBegin)] + "\n\n" + b.String() + "\n" + s[j:]
	if *updateDocs {
		if err := os.WriteFile(simulatorDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want != s {
		t.Errorf("docs/simulator.md's calibration table is not the replay's; run: go test ./internal/sim -run Calibration -update")
	}
}

func largest(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		if math.Abs(x) > math.Abs(m) {
			m = x
		}
	}
	return m
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
