package workload

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/scenario"
)

func wl(prompt string) scenario.Workload {
	return scenario.Workload{Prompt: prompt, Classes: []scenario.Class{
		{Name: "a", Weight: 3, InputTokens: scenario.Dist{Kind: "uniform", Min: 10, Max: 20}, OutputTokens: scenario.Dist{Kind: "fixed", Value: 5}},
		{Name: "b", Weight: 1, InputTokens: scenario.Dist{Kind: "fixed", Value: 50}, OutputTokens: scenario.Dist{Kind: "fixed", Value: 7},
			SharedPrefix: scenario.Prefix{Tokens: 30, Distinct: 2}},
	}}
}

func TestDeterministicAndWeighted(t *testing.T) {
	g1 := newGenerator(wl("text"), 9, 1, 1)
	g2 := newGenerator(wl("text"), 9, 1, 1)
	g3 := newGenerator(wl("text"), 9, 2, 1)
	counts := map[string]int{}
	same := 0
	for range 4000 {
		a, b, c := g1.Next(), g2.Next(), g3.Next()
		if a.Prompt != b.Prompt || a.InputTokens != b.InputTokens || a.Class != b.Class {
			t.Fatal("same seed and level gave different requests")
		}
		if a.Prompt == c.Prompt {
			same++
		}
		counts[a.Class]++
	}
	if same > 100 {
		t.Errorf("levels share %d prompts", same)
	}
	if r := float64(counts["a"]) / float64(counts["b"]); math.Abs(r-3) > 0.3 {
		t.Errorf("class ratio %v, want 3", r)
	}
}

func TestTokenIDsExactAndPrefixes(t *testing.T) {
	g := newGenerator(wl("token_ids"), 1, 0, 1)
	prefixes := map[int]bool{}
	for range 200 {
		r := g.Next()
		if len(r.PromptIDs) != r.InputTokens {
			t.Fatalf("%d ids for %d tokens", len(r.PromptIDs), r.InputTokens)
		}
		for _, id := range r.PromptIDs {
			if id < MinTokenID || id >= MaxTokenID {
				t.Fatalf("id %d out of range", id)
			}
		}
		if r.Class == "b" {
			prefixes[r.PromptIDs[0]*100000+r.PromptIDs[29]] = true
		}
	}
	if len(prefixes) != 2 {
		t.Errorf("want 2 distinct shared prefixes, saw %d", len(prefixes))
	}
}

func TestTextLengthFollowsTokensPerWord(t *testing.T) {
	w := scenario.Workload{Classes: []scenario.Class{{Name: "x", Weight: 1, InputTokens: scenario.Dist{Kind: "fixed", Value: 300}, OutputTokens: scenario.Dist{Kind: "fixed", Value: 1}}}}
	if n := len(strings.Fields(newGenerator(w, 1, 0, 1).Next().Prompt)); n != 300 {
		t.Errorf("1 token/word: %d words", n)
	}
	if n := len(strings.Fields(newGenerator(w, 1, 0, 1.5).Next().Prompt)); n != 200 {
		t.Errorf("1.5 tokens/word: %d words", n)
	}
}

func TestSampleDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mean := func(d scenario.Dist) (float64, int, int) {
		var s float64
		lo, hi := math.MaxInt, 0
		for range 50000 {
			x := Sample(d, rng)
			s += float64(x)
			lo, hi = min(lo, x), max(hi, x)
		}
		return s / 50000, lo, hi
	}
	cases := []struct {
		d              scenario.Dist
		want           float64
		wantLo, wantHi int
	}{
		{scenario.Dist{Kind: "fixed", Value: 128}, 128, 128, 128},
		{scenario.Dist{Kind: "uniform", Min: 100, Max: 200}, 150, 100, 200},
		{scenario.Dist{Kind: "normal", Mean: 500, Stddev: 50, Min: 450, Max: 550}, 500, 450, 550},
		{scenario.Dist{Kind: "lognormal", Mean: 1000, Sigma: 0.5}, 1000, 1, math.MaxInt},
		{scenario.Dist{Kind: "histogram", Bins: []scenario.Bin{{Min: 1, Max: 1, Weight: 1}, {Min: 3, Max: 3, Weight: 1}}}, 2, 1, 3},
		{scenario.Dist{Kind: "normal", Mean: 2, Stddev: 10}, -1, 1, math.MaxInt}, // clipped at 1 token
	}
	for _, c := range cases {
		m, lo, hi := mean(c.d)
		if c.want > 0 && math.Abs(m/c.want-1) > 0.02 {
			t.Errorf("%+v: mean %v, want %v", c.d, m, c.want)
		}
		if lo < c.wantLo || hi > c.wantHi {
			t.Errorf("%+v: range [%d, %d] outside [%d, %d]", c.d, lo, hi, c.wantLo, c.wantHi)
		}
	}
}
