package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/scenario"
)

func read(t *testing.T, path, format string) *File {
	t.Helper()
	f, err := ReadFile(path, format)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func skipLines(f *File) map[string][]int {
	m := map[string][]int{}
	for _, s := range f.Skips {
		m[s.Reason] = s.Lines
		if s.Count != len(s.Lines) {
			panic("more than 10")
		}
	}
	return m
}

func TestFormatsFromFixtures(t *testing.T) {
	sg := read(t, "../../testdata/formats/sharegpt.json", scenario.DatasetShareGPT)
	// The never-answered question at line 20 is kept: its output length is the class's.
	if len(sg.Entries) != 4 || sg.Total != 6 || sg.Entries[0].Line != 2 || !strings.HasPrefix(sg.Entries[1].Prompt, "Write a haiku") || sg.Entries[1].OutputWords != 15 ||
		sg.Entries[3].Line != 20 || sg.Entries[3].OutputWords != 0 || sg.ByIndex {
		t.Errorf("sharegpt: %+v", sg.Entries)
	}
	if s := skipLines(sg); !slices.Equal(s["no human turn"], []int{6}) || !slices.Equal(s["not a conversation object"], []int{15}) {
		t.Errorf("sharegpt skips %v", sg.Skips)
	}
	js := read(t, "../../testdata/formats/prompts.jsonl", scenario.DatasetJSONL)
	if len(js.Entries) != 3 || js.Entries[0].OutputTokens != 64 || js.Entries[1].OutputTokens != 0 || js.Entries[2].Line != 7 {
		t.Errorf("jsonl: %+v", js.Entries)
	}
	if s := skipLines(js); !slices.Equal(s["not a JSON object"], []int{3}) || !slices.Equal(s[`no "prompt"`], []int{4}) || !slices.Equal(s["output_tokens is not a whole number ≥ 1"], []int{6}) {
		t.Errorf("jsonl skips %v", js.Skips)
	}
	if n := js.Notices(); len(n) != 3 || !strings.Contains(n[0], "testdata/formats/prompts.jsonl: 1 of 6 entries skipped: not a JSON object (line 3)") {
		t.Errorf("notices %q", n)
	}
	mc := read(t, "../../testdata/formats/mooncake.jsonl", scenario.TraceMooncake)
	if len(mc.Entries) != 5 || mc.Entries[1].OffsetMS != 120 || !slices.Equal(mc.Entries[1].HashIDs, []int{0, 1, 3}) {
		t.Errorf("mooncake: %+v", mc.Entries)
	}
	if s := skipLines(mc); len(s["not a JSON object with timestamp, input_length, output_length"]) != 1 || !slices.Equal(s["timestamp, input_length or output_length is missing"], []int{5}) {
		t.Errorf("mooncake skips %v", mc.Skips)
	}
	az := read(t, "../../testdata/formats/azure.csv", scenario.TraceAzure)
	if len(az.Entries) != 3 || az.Entries[1].OffsetMS != 4314.579 || az.Entries[2].InputTokens != 879 {
		t.Errorf("azure: %+v", az.Entries)
	}
	if len(az.Skips) != 2 {
		t.Errorf("azure skips %v", az.Skips)
	}
	// BurstGPT: seconds from the start; a 0-token response is a request
	// that failed in the original service (skipped, as vLLM's sampler
	// does); rows out of time order are sorted.
	bg := read(t, "../../testdata/formats/burstgpt.csv", scenario.TraceBurstGPT)
	if len(bg.Entries) != 4 || bg.Entries[0].OffsetMS != 0 || bg.Entries[1].OffsetMS != 105500 || bg.Entries[2].InputTokens != 417 || bg.Entries[3].OutputTokens != 125 {
		t.Errorf("burstgpt: %+v", bg.Entries)
	}
	if s := skipLines(bg); !slices.Equal(s["a failed request (0 response tokens)"], []int{3}) || len(s["a time or a token count that does not parse (or a request below 1 token)"]) != 1 {
		t.Errorf("burstgpt skips %v", bg.Skips)
	}
	cs := read(t, "../../testdata/formats/trace.csv", scenario.TraceCSV)
	if len(cs.Entries) != 5 || cs.Entries[2].OffsetMS != 50.5 || cs.Entries[3].OffsetMS != 175.25 {
		t.Errorf("csv: %+v", cs.Entries)
	}
	if s := skipLines(cs); !slices.Equal(s["a number that does not parse (or a negative offset, or a count below 1)"], []int{5, 7}) {
		t.Errorf("csv skips %v", cs.Skips)
	}
	if _, err := ReadFile("../../testdata/formats/sharegpt.json", scenario.TraceCSV); err == nil {
		t.Error("a JSON file read as CSV must have no usable entry")
	}
	if _, err := ReadFile("../../testdata/formats/prompts.jsonl", scenario.DatasetShareGPT); err == nil || !strings.Contains(err.Error(), "one JSON array") {
		t.Errorf("JSONL read as ShareGPT: %v", err)
	}
}

func traceScenario(t *testing.T, path, format string, extra string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("/x/s.yaml", []byte(`name: t
workload: {prompt: token_ids`+extra+`}
load: {arrival: trace, trace: {format: `+format+`, path: `+path+`, block_tokens: 512}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// offsets drains a trace's streamed offsets.
func offsets(in *Inputs, speedup float64) []time.Duration {
	next, stop := in.TraceOffsets(speedup)
	defer stop()
	var out []time.Duration
	for d, ok := next(); ok; d, ok = next() {
		out = append(out, d)
	}
	return out
}

func TestTraceScheduleScaleWindowAndSharedBlocks(t *testing.T) {
	s := traceScenario(t, mustAbs(t, "../../testdata/formats/mooncake.jsonl"), "mooncake", "")
	in, err := LoadInputs(s, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 120 * time.Millisecond, 250 * time.Millisecond, 610 * time.Millisecond, time.Second}
	if got := offsets(in, 1); !slices.Equal(got, want) {
		t.Errorf("1×: %v", got)
	}
	for i, d := range offsets(in, 2.5) {
		if d != time.Duration(float64(want[i])/2.5) {
			t.Errorf("2.5×: %v, want %v", d, time.Duration(float64(want[i])/2.5))
		}
	}
	g := NewGeneratorFor(s, 0, 1, in)
	defer g.Close()
	r0, r1, r2 := g.Next(), g.Next(), g.Next()
	if len(r0.PromptIDs) != 1100 || len(r1.PromptIDs) != 1300 || r1.OutputTokens != 12 || r0.Class != "trace" {
		t.Fatalf("lengths %d %d", len(r0.PromptIDs), len(r1.PromptIDs))
	}
	// hash_ids [0 1 2] and [0 1 3]: the first two blocks (1024 tokens) are equal, the third is not.
	if !slices.Equal(r0.PromptIDs[:1024], r1.PromptIDs[:1024]) || slices.Equal(r0.PromptIDs[1024:1100], r1.PromptIDs[1024:1100]) {
		t.Error("blocks with the same hash id must be the same tokens, others not")
	}
	if slices.Equal(r0.PromptIDs[:512], r2.PromptIDs[:512]) {
		t.Error("another hash id is other content")
	}
	// The same trace in another run (another generator) has the same blocks.
	if r := NewGeneratorFor(s, 3, 1, in).Next(); !slices.Equal(r.PromptIDs[:1024], r0.PromptIDs[:1024]) {
		t.Error("blocks must not depend on the level")
	}
	// A window: from 200 ms for 500 ms holds the requests at 250 and 610, rebased.
	s.Load.Trace.Start, s.Load.Trace.Length = scenario.Duration(200*time.Millisecond), scenario.Duration(500*time.Millisecond)
	in, _ = LoadInputs(s, 1, 0)
	if got := offsets(in, 1); !slices.Equal(got, []time.Duration{0, 360 * time.Millisecond}) {
		t.Errorf("window: %v", got)
	}
	// The model's context: 1000 tokens leaves the short ones.
	s.Load.Trace.Start, s.Load.Trace.Length = 0, 0
	in, _ = LoadInputs(s, 1, 1000)
	if in.TraceLen() != 2 || len(offsets(in, 1)) != 2 || !strings.Contains(strings.Join(in.Notices, ""), "3 of 7 entries skipped: longer than the model's context (1000 tokens)") {
		t.Errorf("context: %d entries, %q", in.TraceLen(), in.Notices)
	}
	if in.traceSrc == nil || in.Trace.Entries != nil {
		t.Error("a trace in time order is streamed, not held")
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDatasetClassesAndSessions(t *testing.T) {
	s, err := scenario.Parse(mustAbs(t, "../../testdata/formats/s.yaml"), []byte(`name: d
workload:
  classes:
    - {name: chat, weight: 3, dataset: {format: sharegpt, path: sharegpt.json, min_prompt_tokens: 0, min_output_tokens: 0}}
    - {name: qa, dataset: {format: jsonl, path: prompts.jsonl}, output_tokens: 32}
    - {name: rag, input_tokens: 400, output_tokens: 16}
load: {concurrency: 2}
phases: {measure: {requests: 10}}
`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := LoadInputs(s, 1.5, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGeneratorFor(s, 0, 1.5, in)
	seen := map[string]int{}
	for range 400 {
		r := g.Next()
		seen[r.Class]++
		switch r.Class {
		case "chat":
			if r.Prompt == "" || r.InputTokens != estimate(r.Prompt, 1.5) {
				t.Fatalf("chat request %+v", r)
			}
		case "qa":
			if r.OutputTokens != 64 && r.OutputTokens != 32 && r.OutputTokens != 128 {
				t.Fatalf("qa output %d", r.OutputTokens)
			}
		}
	}
	if seen["chat"] < 200 || seen["qa"] < 40 || seen["rag"] < 40 {
		t.Errorf("mix %v", seen)
	}
	// The context limit skips the long ShareGPT answer's conversation.
	in, _ = LoadInputs(s, 1.5, 40)
	if n := len(in.Datasets[0].Entries); n != 2 {
		t.Errorf("%d ShareGPT entries fit in 40 tokens", n)
	}

	// Sessions: prompts grow turn by turn and keep the earlier turns as a prefix.
	ss, err := scenario.Parse("s.yaml", []byte(`name: m
workload:
  prompt: token_ids
  classes: [{input_tokens: 100, output_tokens: 20}]
  sessions: {turns: 4, think_time: 10ms, user_tokens: 30}
load: {concurrency: 2}
phases: {measure: {requests: 10}}
`))
	if err != nil {
		t.Fatal(err)
	}
	gs := NewGeneratorFor(ss, 0, 1, nil)
	turns := gs.NextSession()
	if len(turns) != 4 {
		t.Fatalf("%d turns", len(turns))
	}
	for i, r := range turns {
		if r.Turn != i+1 || r.Session != 1 || len(r.PromptIDs) != r.InputTokens || r.InputTokens != 100+i*50 {
			t.Errorf("turn %d: session %d, %d ids, input %d", r.Turn, r.Session, len(r.PromptIDs), r.InputTokens)
		}
		if i > 0 && !slices.Equal(r.PromptIDs[:len(turns[i-1].PromptIDs)], turns[i-1].PromptIDs) {
			t.Errorf("turn %d does not start with turn %d", i+1, i)
		}
	}
	if next := gs.NextSession(); next[0].Session != 2 || slices.Equal(next[0].PromptIDs, turns[0].PromptIDs) {
		t.Error("the next session is another conversation")
	}
}

// Azure rows out of time order: the trace starts at its earliest row and is
// replayed in time order; nothing is dropped, and the reordering is said.
func TestAzureRowsOutOfOrder(t *testing.T) {
	az := read(t, "../../testdata/formats/azure-unordered.csv", scenario.TraceAzure)
	var got []int
	var at []float64
	for _, e := range az.Entries {
		got, at = append(got, e.InputTokens), append(at, e.OffsetMS)
	}
	if !slices.Equal(got, []int{200, 400, 100, 300}) || !slices.Equal(at, []float64{0, 500, 1000, 2500}) {
		t.Errorf("entries %v at %v", got, at)
	}
	if az.Reordered != 2 || len(az.Skips) != 0 {
		t.Errorf("reordered %d, skips %v", az.Reordered, az.Skips)
	}
	if n := az.Notices(); len(n) != 1 || !strings.Contains(n[0], "2 of 4 rows were out of time order") {
		t.Errorf("notices %q", n)
	}
}

// A one-line ShareGPT file of prompts only (no answers): entries are named
// by index, and every prompt takes the class's output_tokens — or, without
// one, is skipped saying so (validate runs the same code as run).
func TestShareGPTPromptsOnlyOneLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prompts.json")
	os.WriteFile(p, []byte(`[{"conversations":[{"from":"human","value":"a question"}]},{"conversations":[]},{"conversations":[{"from":"human","value":"another"}]}]`), 0o644)
	f, err := ReadFile(p, scenario.DatasetShareGPT)
	if err != nil {
		t.Fatal(err)
	}
	if !f.ByIndex || len(f.Entries) != 2 || f.Entries[1].Line != 3 {
		t.Fatalf("%+v", f)
	}
	if n := f.Notices(); len(n) != 1 || !strings.Contains(n[0], "no human turn (entry 2)") {
		t.Errorf("notices %q", n)
	}
	with := func(out string) *scenario.Scenario {
		y := "name: s\nworkload: {classes: [{dataset: {path: " + p + ", format: sharegpt, min_prompt_tokens: 0, min_output_tokens: 0}" + out + "}]}\nload: {rate: 1}\nphases: {measure: {requests: 1}}\n"
		s, err := scenario.Parse("s.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := LoadInputs(with(", output_tokens: 64"), 1, 0); err != nil {
		t.Errorf("prompts only with the class's output_tokens: %v", err)
	}
	if _, err := LoadInputs(with(""), 1, 0); err == nil || !strings.Contains(err.Error(), "no output length") || !strings.Contains(err.Error(), "entry 1") {
		t.Errorf("prompts only without output_tokens: %v", err)
	}
}

// vLLM's ShareGPT length filters, as dataset options: entries outside are
// skipped and counted, each with its reason.
func TestDatasetLengthFilters(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sg.json")
	conv := func(q, a string) string {
		return `{"conversations":[{"from":"human","value":"` + q + `"},{"from":"gpt","value":"` + a + `"}]}`
	}
	long := strings.Repeat("w ", 30)
	os.WriteFile(p, []byte("["+strings.Join([]string{
		conv("one two three four five", "a b c d e"), // kept
		conv("too short", "a b c d e"),               // prompt < 4
		conv("one two three four five", "a b"),       // output < 4
		conv(long, "a b c d e"),                      // prompt > 20
		conv("one two three four five", long+long),   // total > 40
	}, ",\n")+"]"), 0o644)
	y := "name: s\nworkload: {classes: [{dataset: {path: " + p + ", format: sharegpt, min_prompt_tokens: 4, max_prompt_tokens: 20, min_output_tokens: 4, max_total_tokens: 40}}]}\nload: {rate: 1}\nphases: {measure: {requests: 1}}\n"
	s, err := scenario.Parse("s.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	in, err := LoadInputs(s, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := in.Datasets[0]
	if len(f.Entries) != 1 || len(f.Skips) != 4 {
		t.Errorf("kept %d, skips %v", len(f.Entries), f.Skips)
	}
	if _, err := scenario.Parse("s.yaml", []byte(strings.Replace(y, "max_prompt_tokens: 20", "max_prompt_tokens: 2", 1))); err == nil || !strings.Contains(err.Error(), "must be ≥ min_prompt_tokens") {
		t.Errorf("min above max: %v", err)
	}
}

// dataset.conversations: a session replays a ShareGPT conversation — its
// recorded answers and user messages, each turn's output the length of the
// answer recorded for it — for at most sessions.turns turns.
func TestShareGPTConversationsReplayAsSessions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "chats.json")
	os.WriteFile(p, []byte(`[
  {"conversations": [
    {"from": "human", "value": "plan a trip"},
    {"from": "gpt", "value": "where to and for how long"},
    {"from": "human", "value": "lisbon for three days"},
    {"from": "gpt", "value": "day one the old town day two the coast day three the museums"},
    {"from": "human", "value": "and food"},
    {"from": "gpt", "value": "pasteis de nata"}
  ]}
]`), 0o644)
	f := read(t, p, scenario.DatasetShareGPT)
	if e := f.Entries[0]; len(e.Later) != 2 || e.Later[0].User != "lisbon for three days" || e.Later[0].AnswerWords != 13 || e.Later[1].AnswerWords != 3 {
		t.Fatalf("later turns: %+v", e.Later)
	}
	gen := func(turns string) []Request {
		s, err := scenario.Parse("s.yaml", []byte("name: c\nworkload:\n  classes: [{dataset: {format: sharegpt, path: "+p+", conversations: true}}]\n  sessions: {turns: "+turns+"}\nload: {concurrency: 1}\nphases: {measure: {requests: 3}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := LoadInputs(s, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		return NewGeneratorFor(s, 0, 1, in).NextSession()
	}
	rs := gen("5")
	if len(rs) != 3 {
		t.Fatalf("%d turns, want the conversation's 3", len(rs))
	}
	want := []string{"plan a trip", "where to and for how long", "lisbon for three days", "day one the old town day two the coast day three the museums", "and food"}
	if !slices.Equal(rs[2].Messages, want) || rs[1].Prompt != "plan a trip\n\nwhere to and for how long\n\nlisbon for three days" {
		t.Errorf("turn 3 messages %q, turn 2 prompt %q", rs[2].Messages, rs[1].Prompt)
	}
	for i, out := range []int{6, 13, 3} {
		if rs[i].OutputTokens != out || rs[i].Turn != i+1 || rs[i].Session != 1 || rs[i].InputTokens != estimate(rs[i].Prompt, 1) {
			t.Errorf("turn %d: %+v, want output %d", i+1, rs[i], out)
		}
	}
	if rs := gen("2"); len(rs) != 2 {
		t.Errorf("sessions.turns 2: %d turns", len(rs))
	}
	// Without sessions, or with another format, the option is refused.
	for _, y := range []string{
		"name: c\nworkload: {classes: [{dataset: {format: sharegpt, path: " + p + ", conversations: true}}]}\nload: {concurrency: 1}\nphases: {measure: {requests: 3}}\n",
		"name: c\nworkload:\n  classes: [{dataset: {format: jsonl, path: " + p + ", conversations: true}, output_tokens: 8}]\n  sessions: {turns: 2}\nload: {concurrency: 1}\nphases: {measure: {requests: 3}}\n",
	} {
		if _, err := scenario.Parse("s.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), "dataset.conversations") {
			t.Errorf("%v", err)
		}
	}
}

// A big ShareGPT file reads in linear time: 60,000 pretty-printed
// conversations with 2 kB answers (130 MB; ShareGPT_V3 is 90,000 in 640 MB)
// took minutes when every element's line was counted from the file's start;
// the last entry is named by its line all the same.
func TestShareGPTReadsInLinearTime(t *testing.T) {
	const n = 60_000
	answer := strings.Repeat("it is a number ", 140)
	var b strings.Builder
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("  {\n    \"conversations\": [\n      {\"from\": \"human\", \"value\": \"tell me about the number " + strconv.Itoa(i) + " please\"},\n      {\"from\": \"gpt\", \"value\": \"" + answer + "\"}\n    ]\n  }")
	}
	b.WriteString("\n]\n")
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f, err := ReadFile(p, scenario.DatasetShareGPT)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(f.Entries) != n || f.Total != n || f.ByIndex {
		t.Fatalf("%d entries of %d", len(f.Entries), f.Total)
	}
	// Element i starts on line 2 + 6i.
	if last := f.Entries[n-1]; last.Line != 2+6*(n-1) || !strings.Contains(last.Prompt, strconv.Itoa(n-1)) {
		t.Errorf("last entry at line %d: %q", last.Line, last.Prompt)
	}
	// Linear reading takes about 20 s here under -race (about 35 s beside
	// two CPU hogs), 2 s without; the quadratic one took 5 min 51 s for
	// these without -race. The bound leaves room for a busy machine.
	if took > 150*time.Second {
		t.Errorf("reading %d conversations took %s", n, took)
	}
	t.Logf("%d conversations read in %s", n, took)
}

// Traces no recorder could have written (testdata/hostile/trace): offsets
// that are not times (NaN, ±Inf, 1e300: they hung a run) and lengths past
// any context (2^63−1 overflowed, 2e9 exhausted memory) are skipped and
// counted; the rest of the trace is kept.
func TestHostileTraces(t *testing.T) {
	csv := read(t, "../../testdata/hostile/trace/offsets-and-lengths.csv", scenario.TraceCSV)
	if len(csv.Entries) != 2 || csv.Total != 7 {
		t.Errorf("csv: %d entries of %d", len(csv.Entries), csv.Total)
	}
	if s := skipLines(csv); !slices.Equal(s["an offset that is not a time within a year"], []int{3, 4}) ||
		!slices.Equal(s["a length over 1048576 tokens (more than any model's context)"], []int{6, 7}) ||
		!slices.Equal(s["a number that does not parse (or a negative offset, or a count below 1)"], []int{5}) {
		t.Errorf("csv skips %v", s)
	}
	mc := read(t, "../../testdata/hostile/trace/mooncake.jsonl", scenario.TraceMooncake)
	if len(mc.Entries) != 2 || mc.Total != 5 {
		t.Errorf("mooncake: %d entries of %d", len(mc.Entries), mc.Total)
	}
	if s := skipLines(mc); !slices.Equal(s["a length over 1048576 tokens (more than any model's context)"], []int{2, 3}) ||
		!slices.Equal(s["an offset that is not a time within a year"], []int{4}) {
		t.Errorf("mooncake skips %v", s)
	}
}
