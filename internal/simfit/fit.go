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
	Ms     float64 // the median TTFT (prefill) or TPOT (decode), ms
	Ctx    float64 // decode: the mean context of a sequence over its decode
	Sample int
}

// Fit is the fitted profile and the points it was fitted to.
type Fit struct {
	OverheadMs     float64 // a decode step's fixed part
	DecodeSeqMs    float64 // each sequence of a decode step
	PrefillTokenMs float64 // each prompt token of a prefill
	AttnPairNs     float64 // each attention pair (token × earlier token)
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

// DecodePoints reads a decode sweep's run folder: per closed-loop level, the
// median TPOT at that many sequences, and their mean context.
func DecodePoints(dir string) ([]Point, error) {
	var sum record.Summary
	if err := record.ReadJSON(filepath.Join(dir, record.SummaryFile), &sum); err != nil {
		return nil, err
	}
	var out []Point
	for _, l := range sum.Levels {
		if l.RequestedConcurrency <= 0 || l.Completed == 0 {
			continue
		}
		in, outTok := float64(l.TotalInput)/float64(l.Completed), float64(l.TotalOutput)/float64(l.Completed)
		out = append(out, Point{What: "decode", X: float64(l.RequestedConcurrency), Ms: l.Latency["median_tpot_ms"], Ctx: in + outTok/2, Sample: l.Completed})
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("%s: %d closed-loop levels; the decode fit needs two", dir, len(out))
	}
	return out, nil
}

// FitPoints fits the step model by least squares: a decode step of b
// sequences of mean context c takes overhead + b·seq + b·c·attn; a lone
// prefill of n tokens has its TTFT at request + overhead + n·token +
// n²/2·attn. Each point counts relative to its size, so that the short
// steps weigh as much as the long ones.
func FitPoints(prefill, decode []Point) (Fit, error) {
	// unknowns: overhead, seq, token, attn (ms per pair), request
	var rows [][]float64
	var ys []float64
	for _, p := range decode {
		rows = append(rows, []float64{1, p.X, 0, p.X * p.Ctx, 0})
		ys = append(ys, p.Ms)
	}
	for _, p := range prefill {
		rows = append(rows, []float64{1, 0, p.X, p.X * p.X / 2, 1})
		ys = append(ys, p.Ms)
	}
	a := mat.NewDense(len(rows), 5, nil)
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
	f := Fit{OverheadMs: x.AtVec(0), DecodeSeqMs: x.AtVec(1), PrefillTokenMs: x.AtVec(2), AttnPairNs: x.AtVec(3) * 1e6, RequestMs: x.AtVec(4),
		Points: append(slices.Clone(prefill), decode...)}
	if f.OverheadMs <= 0 || f.DecodeSeqMs < 0 || f.PrefillTokenMs < 0 || math.IsNaN(f.OverheadMs) {
		return f, errors.New("the fit gave a negative or zero cost: the measurements do not follow the model (see the points)")
	}
	f.AttnPairNs = max(f.AttnPairNs, 0)
	f.RequestMs = max(f.RequestMs, 0)
	return f, nil
}

// Predict is the model's figure for a point, ms.
func (f Fit) Predict(p Point) float64 {
	attn := f.AttnPairNs * 1e-6
	if p.What == "decode" {
		return f.OverheadMs + p.X*f.DecodeSeqMs + p.X*p.Ctx*attn
	}
	return f.RequestMs + f.OverheadMs + p.X*f.PrefillTokenMs + p.X*p.X/2*attn
}

func median(xs []float64) float64 {
	return stats.Quantile(slices.Sorted(slices.Values(xs)), 0.5)
}
