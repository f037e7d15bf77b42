// Package simfit fits the simulator's step-time model (profile.Linear) to a
// real engine's measured step times, and compares what the real engine and
// the simulator with that profile do on traffic the fit did not see
// (testdata/vllm/simfit/run.sh drives both; docs/simulator.md has the table).
package simfit

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/stats"
)

// Point is one measured figure of the fit: the median of a set of requests.
type Point struct {
	What   string  // "prefill" or "decode"
	X      float64 // prompt tokens (prefill), sequences in the batch (decode)
	Ms     float64 // the median TTFT (prefill), the mean decode-only step (decode), ms
	Ctx    float64 // decode: the mean context of a decoding sequence
	Sample int
	Run    int // decode: which sweep (run folder) it comes from, from 0
}

// Fit is the fitted profile and the points it was fitted to.
type Fit struct {
	// OverheadMs is a step's fixed part: the mean of RunOverheadMs, each
	// decode sweep's own, weighed by their steps. The real engine's speed
	// drifts from minute to minute on a shared machine, so each sweep
	// (run folder) has its own intercept and the costs per sequence and per
	// token of context come from the differences within a sweep.
	OverheadMs     float64
	RunOverheadMs  []float64
	DecodeSeqMs    float64 // each sequence of a decode step
	PrefillTokenMs float64 // each prompt token of a prefill
	AttnPairNs     float64 // each attention pair of a prefill (token × earlier token)
	DecodeCtxNs    float64 // each token of context a decoding sequence reads
	// RequestMs is what a lone request's TTFT holds beyond its prefill
	// step: the API server's own work (tokenizing, streaming) and the
	// client's, which the simulator does not model as a step.
	RequestMs float64
	// StepCV is the spread of the real engine's steps: the coefficient of
	// variation of the gaps between tokens of one sequence decoding alone
	// (the decode sweep's first level). The simulator's jitter takes it.
	StepCV float64
	Points []Point
}

// PrefillPoints reads a prefill sweep's run folder: the median TTFT of each
// class (one prompt length each) of requests sent one at a time.
func PrefillPoints(dir string) ([]Point, error) {
	byClass := map[string][]float64{}
	prompts := map[string][]float64{}
	_, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		if r.Phase == record.PhaseMeasure && r.OK() && len(r.ChunkUS) > 0 {
			byClass[r.Class] = append(byClass[r.Class], float64(r.TTFTUS())/1000)
			prompts[r.Class] = append(prompts[r.Class], float64(r.PromptTokens))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Point
	for c, ttft := range byClass {
		out = append(out, Point{What: "prefill", X: median(prompts[c]), Ms: median(ttft), Sample: len(ttft)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].X < out[j].X })
	if len(out) < 3 {
		return nil, fmt.Errorf("%s: %d prompt lengths measured; the prefill fit needs three", dir, len(out))
	}
	return out, nil
}

// StepSpread is the coefficient of variation of the inter-token gaps of a
// decode sweep's first level (one sequence at a time).
func StepSpread(dir string) (float64, error) {
	var gaps []float64
	_, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		if r.Phase == record.PhaseMeasure && r.OK() && r.Level == 0 {
			for i := 2; i < len(r.ChunkUS); i++ {
				gaps = append(gaps, float64(r.ChunkUS[i]-r.ChunkUS[i-1]))
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(gaps) < 2 {
		return 0, fmt.Errorf("%s: no inter-token gaps at its first level", dir)
	}
	m, sd := stats.MeanSD(gaps)
	return sd / m, nil
}

// DecodePoints reads a decode sweep's run folder (closed loops): the mean
// time between two tokens of a sequence over the steps that only decode,
// grouped by how many sequences were decoding then and by their whole
// context (in bins of ctxBin tokens), with their mean context. A step that
// also prefills (another request's first token came out within it) is left
// out: the fit prices prefill apart, and a mixed step's cost is not a
// decode step's. So is a group of fewer than minGaps gaps (the few steps of
// a level's drain).
func DecodePoints(dir string) ([]Point, error) {
	var recs []record.Record
	_, err := record.Read(filepath.Join(dir, record.RequestsFile), func(r *record.Record) error {
		if r.OK() && len(r.ChunkUS) > 0 {
			c := *r
			c.ChunkUS = slices.Clone(r.ChunkUS) // Read reuses the record
			recs = append(recs, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := decodeGaps(recs)
	if len(out) < 2 {
		return nil, fmt.Errorf("%s: decode-only steps at %d batch sizes; the decode fit needs two (of %d gaps each at least)", dir, len(out), minGaps)
	}
	return out, nil
}

// minGaps is the fewest decode-only gaps a group needs to be a point;
// ctxBin groups the steps by their sequences' whole context.
const (
	minGaps = 200
	ctxBin  = 256
)

// mixedSlackUS is how far apart two sequences' tokens of one step may reach
// the client (they leave the server one after the other): another request's
// first token within it of a gap's end came out of that gap's step, within
// it of the gap's start out of the step before.
const mixedSlackUS = 500

// decodeGaps groups the measured requests' inter-token gaps by the number
// of sequences decoding during each (every request counts, warm-up too) and
// their whole context.
func decodeGaps(recs []record.Record) []Point {
	type span struct{ first, end int64 }
	spans := make([]span, len(recs))
	for i, r := range recs {
		spans[i] = span{r.SentUS + r.ChunkUS[0], r.SentUS + r.ChunkUS[len(r.ChunkUS)-1]}
	}
	type acc struct{ ms, ctx float64 }
	type key struct{ batch, bin int }
	groups := map[key][]acc{}
	for i, r := range recs {
		if r.Phase != record.PhaseMeasure {
			continue
		}
	gaps:
		for k := 1; k < len(r.ChunkUS); k++ {
			a, b := r.SentUS+r.ChunkUS[k-1], r.SentUS+r.ChunkUS[k]
			batch, ctx := 0, 0
			for j, o := range spans {
				if j != i && o.first > a+mixedSlackUS && o.first <= b+mixedSlackUS {
					continue gaps // another request's prefill step
				}
				if o.first <= a && o.end >= b {
					batch++
					ctx += recs[j].PromptTokens + tokensBefore(&recs[j], b)
				}
			}
			g := key{batch, ctx / ctxBin}
			groups[g] = append(groups[g], acc{float64(b-a) / 1000, float64(ctx) / float64(batch)})
		}
	}
	var out []Point
	for k, g := range groups {
		if len(g) < minGaps {
			continue
		}
		var ms, ctx float64
		for _, x := range g {
			ms += x.ms
			ctx += x.ctx
		}
		n := float64(len(g))
		out = append(out, Point{What: "decode", X: float64(k.batch), Ms: ms / n, Ctx: ctx / n, Sample: len(g)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].X < out[j].X || out[i].X == out[j].X && out[i].Ctx < out[j].Ctx })
	return out
}

// tokensBefore is how many of r's tokens had come out before t (µs on the
// run's clock): the sequence's context beyond its prompt.
func tokensBefore(r *record.Record, t int64) int {
	return sort.Search(len(r.ChunkUS), func(i int) bool { return r.SentUS+r.ChunkUS[i] >= t })
}

// FitPoints fits the step model by least squares: a decode step of b
// sequences of mean context c in sweep r takes overhead_r + b·seq +
// b·c·ctx; a lone prefill of n tokens has its TTFT at request + overhead +
// n·token + n²/2·attn. Each point counts relative to its size, so that the
// short steps weigh as much as the long ones. The decode points need
// contexts of different lengths to tell a sequence's cost from its
// context's.
func FitPoints(prefill, decode []Point) (Fit, error) {
	lo, hi := math.Inf(1), 0.0
	runs := 0
	for _, p := range decode {
		lo, hi = min(lo, p.Ctx), max(hi, p.Ctx)
		runs = max(runs, p.Run+1)
	}
	if !(hi >= 2*lo) {
		return Fit{}, fmt.Errorf("the decode points' contexts span %.0f to %.0f tokens: a sequence's cost and its context's cannot be told apart; the fit needs decode sweeps at short and long context (testdata/vllm/simfit/fit)", lo, hi)
	}
	// unknowns: seq, ctx (ms per token), token, attn (ms per pair), the
	// prefill's intercept (request + overhead), each sweep's overhead
	n := 5 + runs
	var rows [][]float64
	var ys []float64
	for _, p := range decode {
		r := make([]float64, n)
		r[0], r[1], r[5+p.Run] = p.X, p.X*p.Ctx, 1
		rows, ys = append(rows, r), append(ys, p.Ms)
	}
	for _, p := range prefill {
		r := make([]float64, n)
		r[2], r[3], r[4] = p.X, p.X*p.X/2, 1
		rows, ys = append(rows, r), append(ys, p.Ms)
	}
	a := mat.NewDense(len(rows), n, nil)
	b := mat.NewVecDense(len(ys), nil)
	for i, r := range rows {
		w := 1 / ys[i]
		for j, x := range r {
			a.Set(i, j, x*w)
		}
		b.SetVec(i, ys[i]*w)
	}
	var x mat.VecDense
	if err := x.SolveVec(a, b); err != nil {
		return Fit{}, fmt.Errorf("the fit has no solution: %w", err)
	}
	f := Fit{DecodeSeqMs: x.AtVec(0), DecodeCtxNs: x.AtVec(1) * 1e6, PrefillTokenMs: x.AtVec(2), AttnPairNs: x.AtVec(3) * 1e6,
		Points: append(slices.Clone(prefill), decode...)}
	weight := make([]float64, runs)
	for _, p := range decode {
		weight[p.Run] += float64(p.Sample)
	}
	var total float64
	for r := range runs {
		f.RunOverheadMs = append(f.RunOverheadMs, x.AtVec(5+r))
		f.OverheadMs += x.AtVec(5+r) * weight[r]
		total += weight[r]
	}
	f.OverheadMs /= total
	f.RequestMs = x.AtVec(4) - f.OverheadMs
	if slices.Min(f.RunOverheadMs) <= 0 || f.DecodeSeqMs < 0 || f.PrefillTokenMs < 0 || math.IsNaN(f.OverheadMs) {
		return f, errors.New("the fit gave a negative or zero cost: the measurements do not follow the model (see the points)")
	}
	f.AttnPairNs = max(f.AttnPairNs, 0)
	f.DecodeCtxNs = max(f.DecodeCtxNs, 0)
	f.RequestMs = max(f.RequestMs, 0)
	return f, nil
}

// Predict is the model's figure for a point, ms: a decode point's with its
// own sweep's overhead.
func (f Fit) Predict(p Point) float64 {
	if p.What == "decode" {
		over := f.OverheadMs
		if p.Run < len(f.RunOverheadMs) {
			over = f.RunOverheadMs[p.Run]
		}
		return over + p.X*f.DecodeSeqMs + p.X*p.Ctx*f.DecodeCtxNs*1e-6
	}
	return f.RequestMs + f.OverheadMs + p.X*f.PrefillTokenMs + p.X*p.X/2*f.AttnPairNs*1e-6
}

func median(xs []float64) float64 {
	return stats.Quantile(slices.Sorted(slices.Values(xs)), 0.5)
}
