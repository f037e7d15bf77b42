package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/scenario"
)

// More random streams.
const (
	StreamDataset = 5
	StreamSession = 6
)

// Inputs are the files a scenario's workload reads, loaded once per run.
type Inputs struct {
	Datasets map[int]*File // by class index
	// Trace is the trace's metadata (its count, skips, checksum); its
	// entries are held only when it had to be sorted (OpenTrace streams it).
	Trace    *File
	traceSrc *traceSource
	Notices  []string           // what was skipped, and why
	Files    []record.InputFile // for meta.json
}

// describe records f for meta.json.
func (in *Inputs) describe(role string, f *File) {
	skipped := 0
	for _, s := range f.Skips {
		skipped += s.Count
	}
	n := len(f.Entries)
	if role == "trace" {
		n = in.TraceLen()
	}
	in.Files = append(in.Files, record.InputFile{Role: role, Path: f.Path, SHA256: f.SHA256, Entries: n, Skipped: skipped})
}

// LoadInputs reads the scenario's datasets and trace. Entries that do not fit
// in maxModelLen tokens (prompt and output; 0: no limit) are skipped and
// counted, with text prompts sized at tokensPerWord.
func LoadInputs(s *scenario.Scenario, tokensPerWord float64, maxModelLen int) (*Inputs, error) {
	if !(tokensPerWord > 0) {
		tokensPerWord = 1
	}
	in := &Inputs{Datasets: map[int]*File{}}
	for i, c := range s.Workload.Classes {
		if c.Dataset.Path == "" {
			continue
		}
		f, err := ReadFile(c.Dataset.Path, c.Dataset.Format)
		if err != nil {
			return nil, fmt.Errorf("class %s: %w", c.Name, err)
		}
		kept := f.Entries[:0]
		d := c.Dataset
		for _, e := range f.Entries {
			out := datasetOutput(e, c, tokensPerWord)
			prompt := estimate(e.Prompt, tokensPerWord)
			switch {
			case out == 0:
				f.Total--
				f.skip(e.Line, "no output length (give output_tokens in the entry or the class)")
			case d.MinPromptTokens > 0 && prompt < d.MinPromptTokens:
				f.Total--
				f.skip(e.Line, fmt.Sprintf("a prompt shorter than min_prompt_tokens (%d)", d.MinPromptTokens))
			case d.MaxPromptTokens > 0 && prompt > d.MaxPromptTokens:
				f.Total--
				f.skip(e.Line, fmt.Sprintf("a prompt longer than max_prompt_tokens (%d)", d.MaxPromptTokens))
			case d.MinOutputTokens > 0 && out > 0 && out < d.MinOutputTokens:
				f.Total--
				f.skip(e.Line, fmt.Sprintf("an output shorter than min_output_tokens (%d)", d.MinOutputTokens))
			case d.MaxTotalTokens > 0 && out > 0 && prompt+out > d.MaxTotalTokens:
				f.Total--
				f.skip(e.Line, fmt.Sprintf("prompt and output longer than max_total_tokens (%d)", d.MaxTotalTokens))
			case maxModelLen > 0 && estimate(e.Prompt, tokensPerWord)+out > maxModelLen:
				f.Total--
				f.skip(e.Line, fmt.Sprintf("longer than the model's context (%d tokens)", maxModelLen))
			default:
				kept = append(kept, e)
			}
		}
		f.Entries = kept
		if len(kept) == 0 {
			return nil, fmt.Errorf("class %s: no entry of %s is usable: %s", c.Name, f.Path, strings.Join(f.Notices(), "; "))
		}
		in.Datasets[i] = f
		in.Notices = append(in.Notices, f.Notices()...)
		in.describe("class "+c.Name, f)
	}
	if s.Load.Arrival == scenario.ArrivalTrace {
		t := s.Load.Trace
		f, src, err := loadTrace(t, maxModelLen)
		if err != nil {
			return nil, fmt.Errorf("load.trace: %w", err)
		}
		in.Trace, in.traceSrc = f, src
		if in.TraceLen() == 0 {
			return nil, fmt.Errorf("load.trace: no request of %s falls in the window (start %s, length %s): %s", f.Path, t.Start.D(), t.Length.D(), strings.Join(f.Notices(), "; "))
		}
		in.Trace = f
		in.Notices = append(in.Notices, f.Notices()...)
		in.describe("trace", f)
	}
	return in, nil
}

// estimate is a text's length in tokens at tokensPerWord.
func estimate(text string, tokensPerWord float64) int {
	return max(1, int(math.Round(float64(len(strings.Fields(text)))*tokensPerWord)))
}

// datasetOutput is an entry's output length: its own, its recorded
// answer's, or the class's (0: none).
func datasetOutput(e Entry, c scenario.Class, tokensPerWord float64) int {
	switch {
	case e.OutputTokens > 0:
		return e.OutputTokens
	case e.OutputWords > 0:
		return max(1, int(math.Round(float64(e.OutputWords)*tokensPerWord)))
	case c.OutputTokens.Kind != "":
		return -1 // drawn per request from the class
	}
	return 0
}

// blockContent is the content of one hash_ids block: the same id gives the
// same tokens in every request and every run, which is what makes blocks
// shared prefixes.
func (g *Generator) blockIDs(id, n int) []int {
	return randomIDs(rand.New(rand.NewPCG(g.seed^0x9e3779b97f4a7c15, uint64(id))), n)
}

func (g *Generator) blockText(id, n int) string {
	return g.text(rand.New(rand.NewPCG(g.seed^0x9e3779b97f4a7c15, uint64(id))), n)
}

// traceRequest builds the request of trace entry e: its hash_ids blocks
// (block_tokens each) first, then content of its own up to the input length.
func (g *Generator) traceRequest(e Entry) Request {
	r := Request{Index: g.n, Class: "trace", InputTokens: e.InputTokens, OutputTokens: e.OutputTokens}
	B := g.blockTokens
	if g.tokenIDs {
		ids := make([]int, 0, e.InputTokens)
		for _, h := range e.HashIDs {
			if len(ids) >= e.InputTokens {
				break
			}
			ids = append(ids, g.blockIDs(h, B)...)
		}
		if len(ids) > e.InputTokens {
			ids = ids[:e.InputTokens]
		}
		r.PromptIDs = append(ids, randomIDs(g.content, e.InputTokens-len(ids))...)
		return r
	}
	var parts []string
	used := 0
	for _, h := range e.HashIDs {
		if used+B > e.InputTokens {
			break
		}
		parts = append(parts, g.blockText(h, B))
		used += B
	}
	if rest := e.InputTokens - used; rest > 0 {
		parts = append(parts, g.text(g.content, rest))
	}
	r.Prompt = strings.Join(parts, " ")
	return r
}

// datasetRequest builds a request of dataset class ci from its next entry
// (the entries in an order shuffled per level, over and over).
func (g *Generator) datasetRequest(ci int, c scenario.Class, r Request) Request {
	f := g.in.Datasets[ci]
	if g.perms[ci] == nil {
		g.perms[ci] = rand.New(Source(g.seed, g.level, StreamDataset+16*ci)).Perm(len(f.Entries))
	}
	e := f.Entries[g.perms[ci][g.cursor[ci]%len(f.Entries)]]
	g.cursor[ci]++
	g.lastEntry, g.lastClass = &e, ci
	r.Prompt = e.Prompt
	r.InputTokens = estimate(e.Prompt, g.tokensPerWord)
	if out := datasetOutput(e, c, g.tokensPerWord); out > 0 {
		r.OutputTokens = out
	} else {
		r.OutputTokens = Sample(c.OutputTokens, g.lengths)
	}
	return r
}

// replay is a session that replays a recorded conversation (a ShareGPT
// class with dataset.conversations): turn t's conversation is turn t−1's,
// then the answer recorded for it, then the user's recorded next message;
// its output length is the answer recorded for it (or the class's). At most
// turns turns, and no more than the conversation has.
func (g *Generator) replay(first Request, e Entry, c scenario.Class, turns int) []Request {
	out := []Request{first}
	prev := first
	for t := 2; t <= turns && t-2 < len(e.Later); t++ {
		lt := e.Later[t-2]
		r := Request{Index: g.n, Class: first.Class, Session: first.Session, Turn: t}
		g.n++
		r.Messages = append(append(append([]string{}, prev.Messages...), lt.Answer), lt.User)
		r.Prompt = prev.Prompt + "\n\n" + lt.Answer + "\n\n" + lt.User
		r.InputTokens = estimate(r.Prompt, g.tokensPerWord)
		if out := datasetOutput(Entry{OutputWords: lt.AnswerWords}, c, g.tokensPerWord); out > 0 {
			r.OutputTokens = out
		} else {
			r.OutputTokens = Sample(c.OutputTokens, g.lengths)
		}
		out = append(out, r)
		prev = r
	}
	return out
}

// NextSession returns the turns of the next conversation (workload.sessions):
// the first turn is a request of the mix; each later turn's prompt is the
// conversation so far — the previous prompt, an answer of the previous
// turn's output length, and a new user message of user_tokens — so the
// context grows turn by turn and the earlier turns are a shared prefix.
func (g *Generator) NextSession() []Request {
	g.nSessions++
	turns := Sample(g.sessions.Turns, g.sessRNG)
	g.lastEntry = nil
	first := g.Next()
	first.Session, first.Turn = g.nSessions, 1
	if !g.tokenIDs {
		first.Messages = []string{first.Prompt}
	}
	if e := g.lastEntry; e != nil && g.classes[g.lastClass].Dataset.Conversations {
		return g.replay(first, *e, g.classes[g.lastClass], turns)
	}
	out := []Request{first}
	prev := first
	for t := 2; t <= turns; t++ {
		answer := prev.OutputTokens
		user := Sample(g.sessions.UserTokens, g.sessRNG)
		r := Request{Index: g.n, Class: first.Class, Session: g.nSessions, Turn: t, OutputTokens: first.OutputTokens,
			InputTokens: prev.InputTokens + answer + user}
		g.n++
		if g.tokenIDs {
			ids := make([]int, 0, r.InputTokens)
			ids = append(ids, prev.PromptIDs...)
			ids = append(ids, randomIDs(g.content, answer)...)
			r.PromptIDs = append(ids, randomIDs(g.content, user)...)
		} else {
			a, u := g.text(g.content, answer), g.text(g.content, user)
			r.Prompt = prev.Prompt + "\n\n" + a + "\n\n" + u
			r.Messages = append(append(append([]string{}, prev.Messages...), a), u)
		}
		out = append(out, r)
		prev = r
	}
	return out
}
