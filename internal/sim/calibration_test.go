package sim

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
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

// burst sends every request of a burst row at once (vllm bench serve
// --request-rate inf with as many prompts as it may run together), with the
// lengths of the source's result file, and returns the finished sequences.
// A request that returned no tokens there still takes its prefill here.
func burst(e *engine, in, out []int) []*seq {
	var all []*seq
	for i := range in {
		s := e.add(randomPrompt(max(in[i], 1)), max(out[i], 1), e.start)
		s.arrived = e.now
		all = append(all, s)
	}
	for {
		batch, end := e.begin()
		e.finishStep(batch, end)
		if !slices.ContainsFunc(all, func(s *seq) bool { return !s.finished }) {
			return all
		}
	}
}

// burstFile is calibration/<id>.json: a burst row's request lengths and
// the server settings the source ran with.
type burstFile struct {
	Input  []int `json:"input_lens"`
	Output []int `json:"output_lens"`
	Server struct {
		MaxNumSeqs           int     `json:"max_num_seqs"`
		MaxNumBatchedTokens  int     `json:"max_num_batched_tokens"`
		GPUMemoryUtilization float64 `json:"gpu_memory_utilization"`
	} `json:"server"`
}

// apply sets the source's server settings (those it gave) on c.
func (f burstFile) apply(c *Config) {
	if f.Server.MaxNumSeqs > 0 {
		c.MaxNumSeqs = f.Server.MaxNumSeqs
	}
	if f.Server.MaxNumBatchedTokens > 0 {
		c.MaxNumBatchedTokens = f.Server.MaxNumBatchedTokens
	}
	if f.Server.GPUMemoryUtilization > 0 {
		c.GPUMemoryUtilization = f.Server.GPUMemoryUtilization
	}
}

// burstLengths reads calibration/<id>.json.
func burstLengths(t *testing.T, id string) burstFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(calibrationFile), "calibration", id+".json"))
	if err != nil {
		t.Fatalf("%s: a row without input/output lengths is a burst, and needs its lengths: %v", id, err)
	}
	var f burstFile
	if err := json.Unmarshal(b, &f); err != nil || len(f.Input) == 0 || len(f.Input) != len(f.Output) {
		t.Fatalf("%s: the lengths file: %v (%d inputs, %d outputs)", id, err, len(f.Input), len(f.Output))
	}
	return f
}

// Every published figure the simulator can replay, replayed: the
// simulator's value beside the published one. Each must be within ±15 %
// and their mean within ±5 % (as time per token: a throughput's error is
// turned around); rows marked info are replayed and shown but not held.
// The table (with the rows it cannot replay and why) is pinned in
// docs/simulator.md and rewritten with -update.
func TestCalibration(t *testing.T) {
	rows := readCalibration(t)
	var b strings.Builder
	b.WriteString("| figure | GPU × model | vLLM | load | published | simulator | error (time per token; + slower) | source |\n| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n")
	var errs []float64
	for _, r := range rows {
		load := fmt.Sprintf("%d seq, %d in / %d out", r.concurrency, r.input, r.output)
		if r.input == 0 && r.output == 0 {
			load = fmt.Sprintf("burst of %d (lengths from the source)", r.concurrency)
		}
		if r.use != "yes" && r.use != "info" {
			fmt.Fprintf(&b, "| %s | %s/%s %s TP%d | %s | – | %.4g | not replayed | – | [source](%s): %s |\n", r.metric, r.gpu, r.model, r.precision, r.tp, r.vllm, r.published, r.source, r.note)
			continue
		}
		isBurst := r.input == 0 && r.output == 0
		if r.concurrency < 1 || !isBurst && (r.metric != "median_tpot_ms" || r.input < 1 || r.output < 2) ||
			r.metric != "median_tpot_ms" && r.metric != "output_throughput" {
			t.Fatalf("%s: the replay knows median_tpot_ms over a closed loop with known lengths, and median_tpot_ms or output_throughput over a burst", r.id)
		}
		var f burstFile
		if isBurst {
			if f = burstLengths(t, r.id); len(f.Input) != r.concurrency {
				t.Fatalf("%s: concurrency %d, but %d requests in its lengths file", r.id, r.concurrency, len(f.Input))
			}
		}
		e := newTestEngine(t, func(c *Config) { c.Profile = r.gpu + "/" + r.model; c.TensorParallel = r.tp; f.apply(c) })
		var seqs []*seq
		if isBurst {
			seqs = burst(e, f.Input, f.Output)
		} else {
			seqs = closedLoop(e, r.concurrency, 20*r.concurrency, r.input, r.output)
		}
		var tpot []float64
		tokens, last := 0, 0.0
		for _, s := range seqs {
			if s.generated >= 2 { // as vllm bench serve: TPOT needs two tokens
				tpot = append(tpot, 1000*(s.lastToken-s.firstToken)/float64(s.generated-1))
			}
			tokens += s.generated
			last = max(last, s.lastToken)
		}
		got := stats.Median(tpot)
		rel := got/r.published - 1
		if r.metric == "output_throughput" { // output tokens over the burst's duration
			got = float64(tokens) / last
			rel = r.published/got - 1 // as time per token: + is a slower simulator
		}
		if r.use == "info" { // replayed to show, not held: the note says why
			fmt.Fprintf(&b, "| %s | %s/%s %s TP%d | %s | %s | %.4g | %.4g | (%+.1f %%) | [source](%s): %s |\n", r.metric, r.gpu, r.model, r.precision, r.tp, r.vllm, load, r.published, got, 100*rel, r.source, r.note)
			continue
		}
		errs = append(errs, rel)
		if math.Abs(rel) > 0.15 {
			t.Errorf("%s: simulator %.3g, published %.3g (%+.1f %%): outside ±15 %%", r.id, got, r.published, 100*rel)
		}
		fmt.Fprintf(&b, "| %s | %s/%s %s TP%d | %s | %s | %.4g | %.4g | %+.1f %% | [source](%s): %s |\n", r.metric, r.gpu, r.model, r.precision, r.tp, r.vllm, load, r.published, got, 100*rel, r.source, r.note)
	}
	fmt.Fprintf(&b, "\n%d figures held; mean error %+.1f %%, largest %+.1f %%.\n", len(errs), 100*mean(errs), 100*largest(errs))
	if m := mean(errs); math.Abs(m) > 0.05 {
		t.Errorf("the mean error over the held figures is %+.1f %%: outside ±5 %%", 100*m)
	}
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
