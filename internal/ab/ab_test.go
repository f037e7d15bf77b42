package ab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/engine"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Balanced pairs: B C C B B C C B …, so each side is as often first as
// second in every two pairs.
func TestOrder(t *testing.T) {
	var got []string
	for i := range 8 {
		got = append(got, Order(i)[:1])
	}
	if s := strings.Join(got, ""); s != "bccbbccb" {
		t.Errorf("order %s", s)
	}
}

func TestTrialDir(t *testing.T) {
	if d := TrialDir("x", Candidate, 7); d != "x/candidate/trial-07" {
		t.Error(d)
	}
}

func TestPlannedStarts(t *testing.T) {
	order := balancedOrder(3) // b c c b b c
	for _, c := range []struct {
		policy            string
		warmup, crossover bool
		want              int
	}{
		{scenario.TrialRestart, false, false, 6},
		{scenario.TrialReset, false, false, 4}, // b | c c | b b | c
		{scenario.TrialReset, true, false, 6},  // warm-ups b c, then b | c c | b b | c
		{scenario.TrialReset, false, true, 6},  // crossover restarts every round
	} {
		if got := PlannedStarts(order, c.policy, c.warmup, c.crossover); got != c.want {
			t.Errorf("%s warmup %v crossover %v: %d starts, want %d", c.policy, c.warmup, c.crossover, got, c.want)
		}
	}
}

func TestDesignWords(t *testing.T) {
	fixed := Design{Fixed: 2}.Words(balancedOrder(2))
	seq := Design{Rules: gate.Rules{MinTrials: 3, MaxTrials: 10}, Reruns: 1}.Words(balancedOrder(10))
	if fixed != "2 trials per side in the order B C C B, decided once; up to 0 outlier re-run(s) per side" {
		t.Error(fixed)
	}
	if seq != "sequential, 3 to 10 trials per side in balanced pairs (B C C B B C C B …), stopping when the verdict is clear; up to 1 outlier re-run(s) per side" {
		t.Error(seq)
	}
}

// An endpoint cannot be restarted: a refused reset is said once, noted in
// the comparison, and the trials go on against the same address.
func TestEndpointTrialerSaysARefusedReset(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	var stderr bytes.Buffer
	var ran []string
	env := Env{Getenv: func(string) string { return "" }, Stderr: &stderr,
		Trial: func(_ context.Context, _ io.Writer, s *scenario.Scenario, dir string, n int, eng engine.Engine, git, _ map[string]string) error {
			if eng != nil || s.Engine.Kind != scenario.EngineEndpoint {
				t.Errorf("an endpoint trial gets no engine and an endpoint scenario: %v, %s", eng, s.Engine.Kind)
			}
			ran = append(ran, fmt.Sprintf("%s %d %s %s", git["side"], n, s.Engine.URL, dir))
			return nil
		}}
	s := &scenario.Scenario{Name: "x", Engine: scenario.Engine{Kind: scenario.EngineVLLM, TrialPolicy: scenario.TrialReset}}
	tr := NewEndpointTrialer(env, s, srv.URL+"/v1", "http://cand/v1")
	for i, side := range []string{Baseline, Baseline} {
		if err := tr.Trial(context.Background(), side, i+1, "d"); err != nil {
			t.Fatal(err)
		}
	}
	if len(ran) != 2 || ran[0] != "baseline 1 "+srv.URL+"/v1 d" {
		t.Errorf("trials %q", ran)
	}
	if strings.Count(stderr.String(), "warm prefix cache") != 1 || len(tr.Notes()) != 1 || !strings.Contains(tr.Notes()[0], "404") {
		t.Errorf("said %q, noted %q", stderr.String(), tr.Notes())
	}
	if s.Engine.Kind != scenario.EngineVLLM {
		t.Error("the scenario itself must not change")
	}
}

// Every engine start gets a seed of its own, per side and start, and the
// same scenario seed gives the same seeds again.
func TestStartSeed(t *testing.T) {
	seen := map[uint64]string{}
	for _, side := range []string{Baseline, Candidate} {
		for n := 1; n <= 10; n++ {
			v := *startSeed(2, side, n)
			if at, ok := seen[v]; ok {
				t.Fatalf("%s start %d drew %s's seed", side, n, at)
			}
			seen[v] = fmt.Sprint(side, n)
			if *startSeed(2, side, n) != v || *startSeed(3, side, n) == v {
				t.Errorf("%s start %d: not repeatable from the scenario seed, or the same for another", side, n)
			}
		}
	}
}

// A scenario that records its runner's noise (gate.noise_pct) gets the
// plan's estimate of the trials, from simulated A/Bs through the shipped
// procedure; noisier trials are said to need more.
func TestDesignEstimatesFromRecordedNoise(t *testing.T) {
	mk := func(noise float64) Design {
		y := fmt.Sprintf("name: s\nmodel: m\nengine: {kind: sim}\nworkload: {classes: [{input_tokens: 8, output_tokens: 8}]}\nload: {concurrency: 4}\nphases: {measure: {requests: 10}}\ngate: {noise_pct: %g}\n", noise)
		s, err := scenario.Parse("s.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return DesignFor(Env{Stderr: io.Discard}, s, Options{})
	}
	quiet, noisy := mk(1), mk(6)
	if !(quiet.Expected[0] > 0 && quiet.Expected[0] < noisy.Expected[0] && quiet.Expected[1] > 0) {
		t.Errorf("1 %%: %v trials; 6 %%: %v", quiet.Expected, noisy.Expected)
	}
	w := quiet.Words(quiet.PlanOrder())
	if !strings.Contains(w, "at 1 % noise a trial (gate.noise_pct), about ") || !strings.Contains(w, "if the candidate changes nothing") {
		t.Error(w)
	}
	if d := mk(0); d.Expected != [2]float64{} || strings.Contains(d.Words(d.PlanOrder()), "noise_pct") {
		t.Errorf("no recorded noise, no estimate: %v", d.Expected)
	}
}
