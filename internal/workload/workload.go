package workload

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/perfgate/perfgate/internal/scenario"
	"github.com/perfgate/perfgate/internal/vocab"
)

// Random streams, so that changing one thing (say, the tokenizer ratio, which
// changes how many words a prompt draws) never shifts another (the lengths).
const (
	StreamArrivals = 1
	StreamLengths  = 2
	StreamContent  = 3
	StreamPrefixes = 4
)

// Source returns the random source of one stream at one level.
func Source(seed uint64, level, stream int) rand.Source {
	return rand.NewPCG(seed, uint64(level)<<8|uint64(stream))
}

// Request is one generated request.
type Request struct {
	Index        int    // position in the level's sequence
	Class        string // class name
	Model        string // the LoRA adapter the class asks for ("": the base model)
	InputTokens  int    // requested prompt length, including any shared prefix
	OutputTokens int    // max_tokens
	Prompt       string // text prompts
	PromptIDs    []int  // token_ids prompts
	Session      int    // multi-turn: the session's number in the level (from 1)
	Turn         int    // multi-turn: the turn (from 1)
	// Messages are a multi-turn request's conversation for the chat API:
	// user, assistant, user, …, user. Prompt (or PromptIDs) is the same
	// conversation as one text for the completions API.
	Messages []string
}

// Token-id prompts draw ids from this range, which avoids the special and
// byte-level tokens at the start of common vocabularies.
const (
	MinTokenID = 1000
	MaxTokenID = 30000
)

// Generator produces the requests of one level in order.
type Generator struct {
	classes       []scenario.Class
	cum           []float64 // cumulative weights
	tokenIDs      bool
	tokensPerWord float64
	lengths       *rand.Rand
	content       *rand.Rand
	prefixes      [][]string // per class: distinct prefixes (text)
	prefixIDs     [][][]int  // per class: distinct prefixes (token ids)
	words         []string
	n             int

	seed        uint64
	level       int
	in          *Inputs
	perms       map[int][]int
	cursor      map[int]int
	blockTokens int
	sessions    scenario.Sessions
	sessRNG     *rand.Rand
	nSessions   int
	lastEntry   *Entry // the dataset entry the last request was made of, and its class
	lastClass   int
	trace       *TraceStream // the trace being replayed (nil until the first request)
}

// Close ends what the generator reads (a trace it streams).
func (g *Generator) Close() {
	if g.trace != nil {
		g.trace.Close()
		g.trace = nil
	}
}

// NewGeneratorFor is newGenerator with the scenario's files (datasets, a
// trace; in may be nil when it has none) and its sessions.
func NewGeneratorFor(s *scenario.Scenario, level int, tokensPerWord float64, in *Inputs) *Generator {
	g := newGenerator(s.Workload, s.Seed, level, tokensPerWord)
	g.in = in
	g.blockTokens = max(1, s.Load.Trace.BlockTokens)
	g.sessions = s.Workload.Sessions
	g.sessRNG = rand.New(Source(s.Seed, level, StreamSession))
	return g
}

// newGenerator builds the generator of level for the workload. tokensPerWord
// is how many tokens one vocabulary word costs on the server's tokenizer (1
// when unknown); text prompts use it to hit their lengths.
func newGenerator(w scenario.Workload, seed uint64, level int, tokensPerWord float64) *Generator {
	if !(tokensPerWord > 0) {
		tokensPerWord = 1
	}
	g := &Generator{
		classes:       w.Classes,
		tokenIDs:      w.Prompt == scenario.PromptTokenIDs,
		tokensPerWord: tokensPerWord,
		lengths:       rand.New(Source(seed, level, StreamLengths)),
		content:       rand.New(Source(seed, level, StreamContent)),
		words:         vocab.Words(),
		seed:          seed,
		level:         level,
		perms:         map[int][]int{},
		cursor:        map[int]int{},
		blockTokens:   512,
	}
	var sum float64
	for _, c := range w.Classes {
		sum += c.Weight
		g.cum = append(g.cum, sum)
	}
	// Shared prefixes do not depend on the level: the same prefixes recur
	// across levels, as a system prompt does in production.
	prng := rand.New(Source(seed, 0, StreamPrefixes))
	g.prefixes = make([][]string, len(w.Classes))
	g.prefixIDs = make([][][]int, len(w.Classes))
	for i, c := range w.Classes {
		for range c.SharedPrefix.Distinct {
			if g.tokenIDs {
				g.prefixIDs[i] = append(g.prefixIDs[i], randomIDs(prng, c.SharedPrefix.Tokens))
			} else {
				g.prefixes[i] = append(g.prefixes[i], g.text(prng, c.SharedPrefix.Tokens))
			}
		}
	}
	return g
}

// Next returns the next request of the sequence.
func (g *Generator) Next() Request {
	if g.in != nil && g.in.Trace != nil {
		// The trace again from its start when it ends (the requests made
		// ahead of a level's last arrival).
		if g.trace == nil {
			g.trace = g.in.OpenTrace()
		}
		e, ok := g.trace.Next()
		if !ok {
			g.trace.Close()
			g.trace = g.in.OpenTrace()
			e, _ = g.trace.Next()
		}
		r := g.traceRequest(e)
		g.n++
		return r
	}
	ci := g.pickClass()
	c := g.classes[ci]
	if g.in != nil && g.in.Datasets[ci] != nil {
		r := g.datasetRequest(ci, c, Request{Index: g.n, Class: c.Name, Model: c.LoRA})
		g.n++
		return r
	}
	r := Request{
		Index:        g.n,
		Class:        c.Name,
		Model:        c.LoRA,
		InputTokens:  Sample(c.InputTokens, g.lengths),
		OutputTokens: Sample(c.OutputTokens, g.lengths),
	}
	g.n++
	prefix := -1
	if c.SharedPrefix.Distinct > 0 {
		prefix = g.lengths.IntN(c.SharedPrefix.Distinct)
		if r.InputTokens <= c.SharedPrefix.Tokens {
			r.InputTokens = c.SharedPrefix.Tokens + 1
		}
	}
	rest := r.InputTokens
	if prefix >= 0 {
		rest -= c.SharedPrefix.Tokens
	}
	if g.tokenIDs {
		ids := make([]int, 0, r.InputTokens)
		if prefix >= 0 {
			ids = append(ids, g.prefixIDs[ci][prefix]...)
		}
		r.PromptIDs = append(ids, randomIDs(g.content, rest)...)
		return r
	}
	body := g.text(g.content, rest)
	if prefix >= 0 {
		body = g.prefixes[ci][prefix] + " " + body
	}
	r.Prompt = body
	return r
}

func (g *Generator) pickClass() int {
	if len(g.cum) == 1 {
		return 0
	}
	x := g.lengths.Float64() * g.cum[len(g.cum)-1]
	for i, c := range g.cum {
		if x < c {
			return i
		}
	}
	return len(g.cum) - 1
}

// text returns words whose token count is close to tokens.
func (g *Generator) text(rng *rand.Rand, tokens int) string {
	n := max(1, int(math.Round(float64(tokens)/g.tokensPerWord)))
	var b strings.Builder
	b.Grow(n * 7)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.words[rng.IntN(len(g.words))])
	}
	return b.String()
}

func randomIDs(rng *rand.Rand, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = MinTokenID + rng.IntN(MaxTokenID-MinTokenID)
	}
	return ids
}

// Sample draws one length (≥ 1) from d.
func Sample(d scenario.Dist, rng *rand.Rand) int {
	var x float64
	switch d.Kind {
	case scenario.DistFixed:
		x = d.Value
	case scenario.DistUniform:
		lo, hi := int(math.Ceil(d.Min)), int(math.Floor(d.Max))
		if hi < lo {
			hi = lo
		}
		x = float64(lo + rng.IntN(hi-lo+1))
	case scenario.DistNormal:
		x = d.Mean + d.Stddev*rng.NormFloat64()
	case scenario.DistLognormal:
		mu := math.Log(d.Mean) - d.Sigma*d.Sigma/2
		x = math.Exp(mu + d.Sigma*rng.NormFloat64())
	case scenario.DistHistogram:
		var sum float64
		for _, b := range d.Bins {
			sum += b.Weight
		}
		pick := rng.Float64() * sum
		b := d.Bins[len(d.Bins)-1]
		for _, bb := range d.Bins {
			if pick < bb.Weight {
				b = bb
				break
			}
			pick -= bb.Weight
		}
		lo, hi := int(math.Ceil(b.Min)), int(math.Floor(b.Max))
		if hi < lo {
			hi = lo
		}
		x = float64(lo + rng.IntN(hi-lo+1))
	}
	x = math.Round(x)
	if d.Kind == scenario.DistNormal || d.Kind == scenario.DistLognormal {
		if d.Min > 0 && x < d.Min {
			x = d.Min
		}
		if d.Max > 0 && x > d.Max {
			x = d.Max
		}
	}
	if x < 1 {
		x = 1
	}
	return int(min(x, scenario.MaxTokens)) // an unbounded tail (lognormal, sigma 5) stays a length a request can hold
}
