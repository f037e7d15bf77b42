package workload

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/registry"
	"github.com/perfgate/perfgate/internal/scenario"
)

// Entry is one request read from a dataset or a trace.
type Entry struct {
	Line         int     // where it is in the file (1-based)
	Prompt       string  // datasets: the prompt text
	InputTokens  int     // traces: the prompt length
	OutputTokens int     // the output length (0: not given)
	OutputWords  int     // ShareGPT: the recorded answer's length in words
	HashIDs      []int   // Mooncake: the prompt's blocks; equal ids are equal content
	OffsetMS     float64 // traces: arrival, milliseconds from the trace's start
	// Later are a ShareGPT conversation's turns after the first: the
	// recorded answer to the turn before, then the user's next message.
	Later []Turn
}

// Turn is one later turn of a recorded conversation.
type Turn struct {
	Answer string // the assistant's recorded answer to the previous turn
	User   string // the user's next message
	// AnswerWords is the length in words of the recorded answer to this
	// turn's message (0: the conversation ends without one).
	AnswerWords int
}

// Skip counts the entries of a file left out for one reason, with the first
// line numbers.
type Skip struct {
	Reason string
	Count  int
	Lines  []int // the first 10
}

// File is a dataset or trace, read.
type File struct {
	Path, Format string
	SHA256       string // of the file's bytes
	Entries      []Entry
	Skips        []Skip
	Total        int // entries in the file, kept or not
	// Reordered is how many rows came earlier in time than a row before
	// them (a trace the reader sorted by time): said, never dropped.
	Reordered int
	// ByIndex: entries are named by their 1-based index in the file, not
	// by line (a one-line JSON file).
	ByIndex bool

	// sink, when set, takes each entry kept instead of Entries (a file
	// streamed); it returns false to stop.
	sink func(Entry) bool
}

// skip counts one entry left out.
func (f *File) skip(line int, reason string) {
	f.Total++
	for i := range f.Skips {
		if f.Skips[i].Reason == reason {
			f.Skips[i].Count++
			if len(f.Skips[i].Lines) < 10 {
				f.Skips[i].Lines = append(f.Skips[i].Lines, line)
			}
			return
		}
	}
	f.Skips = append(f.Skips, Skip{Reason: reason, Count: 1, Lines: []int{line}})
}

// Skip counts an entry at line left out for reason (for a Reader).
func (f *File) Skip(line int, reason string) { f.skip(line, reason) }

// Keep adds an entry (for a Reader).
func (f *File) Keep(e Entry) { f.keep(e) }

// maxOffsetMS bounds a trace's arrival offset: a year, in milliseconds.
const maxOffsetMS = 365 * 24 * 3600e3

func (f *File) keep(e Entry) {
	// What no trace or dataset entry can be is skipped here, for every
	// format: a length past any model's context (2^63−1 overflowed, 2e9
	// exhausted memory), an offset that is not a time (NaN or 1e300 hung
	// the run).
	switch {
	case e.InputTokens > scenario.MaxTokens || e.OutputTokens > scenario.MaxTokens || len(e.HashIDs) > scenario.MaxTokens:
		f.skip(e.Line, fmt.Sprintf("a length over %d tokens (more than any model's context)", scenario.MaxTokens))
		return
	case math.IsNaN(e.OffsetMS) || math.Abs(e.OffsetMS) > maxOffsetMS: // (Azure rows before sorting may be negative)
		f.skip(e.Line, "an offset that is not a time within a year")
		return
	}
	f.Total++
	if f.sink != nil {
		f.sink(e)
		return
	}
	f.Entries = append(f.Entries, e)
}

// Notices says what was skipped, one line per reason.
func (f *File) Notices() []string {
	var out []string
	for _, s := range f.Skips {
		lines := make([]string, len(s.Lines))
		for i, l := range s.Lines {
			lines[i] = strconv.Itoa(l)
		}
		more := ""
		if s.Count > len(s.Lines) {
			more = ", …"
		}
		where := "line"
		if f.ByIndex {
			where = "entry"
		}
		out = append(out, fmt.Sprintf("%s: %d of %d entries skipped: %s (%s %s%s)", f.Path, s.Count, f.Total, s.Reason, where, strings.Join(lines, ", "), more))
	}
	if f.Reordered > 0 {
		out = append(out, fmt.Sprintf("%s: %d of %d rows were out of time order; the trace was sorted by time (it starts at its earliest row)", f.Path, f.Reordered, f.Total))
	}
	return out
}

// Reader parses one file format. Registering one (RegisterFormat) is how a
// new dataset or trace format is added.
type Reader func(r io.Reader, f *File) error

var formats = registry.New("workload file format", map[string]Reader{
	scenario.DatasetShareGPT: readShareGPT,
	scenario.DatasetJSONL:    readPromptsJSONL,
	scenario.TraceMooncake:   readMooncake,
	scenario.TraceAzure:      readAzure,
	scenario.TraceCSV:        readOffsetCSV,
	scenario.TraceBurstGPT:   readBurstGPT,
})

// RegisterFormat adds a file format by name (a dataset's or a trace's
// format: in the scenario). It panics when the name is taken.
func RegisterFormat(name string, r Reader) {
	formats.Register(name, r)
	scenario.RegisterFormat(name)
}

// ReadFile reads path in format. A file that cannot be read at all is an
// error; a line that cannot be used is skipped and counted.
func ReadFile(path, format string) (*File, error) {
	f, err := readFile(path, format, nil)
	if err != nil {
		return nil, err
	}
	if len(f.Entries) == 0 {
		return nil, fmt.Errorf("%s: no usable entry (%s)", path, strings.Join(f.Notices(), "; "))
	}
	return f, nil
}

// readFile reads path in format, passing each entry kept to sink instead of
// keeping it when sink is set; sink returning false ends the read early.
func readFile(path, format string, sink func(Entry) bool) (*File, error) {
	read, ok := formats.Lookup(format)
	if !ok {
		return nil, fmt.Errorf("unknown format %q", format)
	}
	// Stat before opening: opening a FIFO blocks until a writer comes, and
	// a device (/dev/urandom, /dev/zero) never ends.
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): a dataset or trace is a file", path, st.Mode().Type())
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: a dataset or trace is a file", path)
	}
	f := &File{Path: path, Format: format}
	var src io.Reader = fh
	if sink != nil {
		// A sink that says stop ends the read at the next buffer: the
		// reader then sees the end of the file.
		st := &stopReader{r: fh}
		f.sink = func(e Entry) bool {
			if st.stopped || !sink(e) {
				st.stopped = true
				return false
			}
			return true
		}
		src = st
	}
	h := sha256.New()
	if err := read(bufio.NewReaderSize(io.TeeReader(src, h), 1<<20), f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	io.Copy(h, src) // whatever the reader left unread
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return f, nil
}

// stopReader reads r until stopped, then says the file ended.
type stopReader struct {
	r       io.Reader
	stopped bool
}

func (s *stopReader) Read(p []byte) (int, error) {
	if s.stopped {
		return 0, io.EOF
	}
	return s.r.Read(p)
}

// lines calls fn for every non-blank line with its number.
func lines(r io.Reader, fn func(n int, line []byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		fn(n, sc.Bytes())
	}
	return sc.Err()
}

// readShareGPT reads a ShareGPT-format JSON array: each conversation's first
// human turn is a prompt, and the answer after it (when there is one) gives
// the output length; a prompts-only conversation takes the class's
// output_tokens. The turns after, while answers and human messages
// alternate, are kept for sessions that replay conversations. Entries are
// named by line in a pretty-printed file and by index in a one-line one.
//
// The file is streamed, and each element's line is found from the newlines
// the decoder has read past since the element before: time is linear in the
// file's size (ShareGPT_V3, 90,000 conversations, reads in seconds).
func readShareGPT(r io.Reader, f *File) error {
	nl := &newlines{r: r}
	dec := json.NewDecoder(nl)
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return errors.New("a ShareGPT file is one JSON array of conversations")
	}
	type turn struct {
		From  string `json:"from"`
		Value string `json:"value"`
	}
	human := func(t turn) bool { return t.From == "human" || t.From == "user" }
	// Whether the file is one line is known only at its end: entries and
	// skips are kept with both names until then.
	type skipped struct {
		line, index int
		reason      string
	}
	var skips []skipped
	var indexes []int
	for index := 1; dec.More(); index++ {
		var conv struct {
			Conversations []turn `json:"conversations"`
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("line %d: %w", nl.lineAt(dec.InputOffset()), err)
		}
		at := nl.lineAt(dec.InputOffset() - int64(len(raw))) // where the element starts
		if err := json.Unmarshal(raw, &conv); err != nil {
			skips = append(skips, skipped{at, index, "not a conversation object"})
			continue
		}
		cs := conv.Conversations
		i := slices.IndexFunc(cs, func(t turn) bool { return human(t) && strings.TrimSpace(t.Value) != "" })
		if i < 0 {
			skips = append(skips, skipped{at, index, "no human turn"})
			continue
		}
		words := 0 // no answer: the class's output_tokens
		if i+1 < len(cs) && !human(cs[i+1]) {
			words = len(strings.Fields(cs[i+1].Value))
		}
		e := Entry{Line: at, Prompt: cs[i].Value, OutputWords: words}
		// Later turns, for sessions that replay the conversation: each a
		// recorded answer followed by a non-empty human message.
		for j := i + 1; j+1 < len(cs) && !human(cs[j]) && human(cs[j+1]) && strings.TrimSpace(cs[j+1].Value) != ""; j += 2 {
			t := Turn{Answer: cs[j].Value, User: cs[j+1].Value}
			if j+2 < len(cs) && !human(cs[j+2]) {
				t.AnswerWords = len(strings.Fields(cs[j+2].Value))
			}
			e.Later = append(e.Later, t)
		}
		f.keep(e)
		indexes = append(indexes, index)
	}
	// Read to the end, so the count of newlines is the file's.
	if _, err := io.Copy(io.Discard, nl); err != nil {
		return err
	}
	f.ByIndex = nl.total < 2
	if f.ByIndex {
		for k := range f.Entries {
			f.Entries[k].Line = indexes[k]
		}
	}
	kept := f.Total
	f.Total = 0
	for _, s := range skips {
		if f.ByIndex {
			s.line = s.index
		}
		f.skip(s.line, s.reason)
	}
	f.Total += kept
	return nil
}

// newlines passes a reader through, noting where its newlines are until
// lineAt has gone past them: what it holds is bounded by how far the reader
// is ahead of the decoder (its buffer), not by the file.
type newlines struct {
	r       io.Reader
	read    int64   // bytes read so far
	pending []int64 // offsets of newlines not yet counted by lineAt
	line    int     // 1 + the newlines before the last offset lineAt was asked
	total   int     // newlines read
}

func (n *newlines) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	for i, b := range p[:k] {
		if b == '\n' {
			n.pending = append(n.pending, n.read+int64(i))
			n.total++
		}
	}
	n.read += int64(k)
	return k, err
}

// lineAt is the 1-based line of byte offset off; offsets must not decrease
// from one call to the next.
func (n *newlines) lineAt(off int64) int {
	if n.line == 0 {
		n.line = 1
	}
	i := 0
	for i < len(n.pending) && n.pending[i] < off {
		i++
	}
	n.line += i
	n.pending = n.pending[i:]
	if len(n.pending) == 0 {
		n.pending = nil // let the backing array go
	}
	return n.line
}

// readPromptsJSONL reads {"prompt": "...", "output_tokens": N} lines
// (output_tokens optional).
func readPromptsJSONL(r io.Reader, f *File) error {
	return lines(r, func(n int, line []byte) {
		var e struct {
			Prompt       *string  `json:"prompt"`
			OutputTokens *float64 `json:"output_tokens"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			f.skip(n, "not a JSON object")
			return
		}
		if e.Prompt == nil || strings.TrimSpace(*e.Prompt) == "" {
			f.skip(n, `no "prompt"`)
			return
		}
		out := 0
		if e.OutputTokens != nil {
			if *e.OutputTokens < 1 || *e.OutputTokens != math.Trunc(*e.OutputTokens) {
				f.skip(n, "output_tokens is not a whole number ≥ 1")
				return
			}
			out = int(*e.OutputTokens)
		}
		f.keep(Entry{Line: n, Prompt: *e.Prompt, OutputTokens: out})
	})
}

// readMooncake reads Mooncake's trace: JSON lines with timestamp (ms),
// input_length, output_length and hash_ids.
func readMooncake(r io.Reader, f *File) error {
	return lines(r, func(n int, line []byte) {
		var e struct {
			Timestamp    *float64 `json:"timestamp"`
			InputLength  *int     `json:"input_length"`
			OutputLength *int     `json:"output_length"`
			HashIDs      []int    `json:"hash_ids"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			f.skip(n, "not a JSON object with timestamp, input_length, output_length")
			return
		}
		if e.Timestamp == nil || e.InputLength == nil || e.OutputLength == nil {
			f.skip(n, "timestamp, input_length or output_length is missing")
			return
		}
		if *e.Timestamp < 0 || *e.InputLength < 1 || *e.OutputLength < 1 {
			f.skip(n, "a negative timestamp or a length below 1")
			return
		}
		f.keep(Entry{Line: n, OffsetMS: *e.Timestamp, InputTokens: *e.InputLength, OutputTokens: *e.OutputLength, HashIDs: e.HashIDs})
	})
}

// readAzure reads the Azure LLM inference trace: TIMESTAMP,ContextTokens,
// GeneratedTokens with a header; times are wall-clock, made relative to the
// earliest row, and the rows are sorted by time (rows out of order are
// counted in Reordered, never dropped).
func readAzure(r io.Reader, f *File) error {
	var t0 time.Time
	return readTraceCSV(r, f, []string{"timestamp", "contexttokens", "generatedtokens"}, "the Azure trace has TIMESTAMP,ContextTokens,GeneratedTokens",
		func(v []string, line int) {
			ts, err := parseAzureTime(v[0])
			in, err2 := strconv.Atoi(v[1])
			out, err3 := strconv.Atoi(v[2])
			if err != nil || err2 != nil || err3 != nil || in < 1 || out < 1 {
				f.skip(line, "a time or a token count that does not parse (or a count below 1)")
				return
			}
			if t0.IsZero() {
				t0 = ts
			}
			f.keep(Entry{Line: line, OffsetMS: float64(ts.Sub(t0).Microseconds()) / 1000, InputTokens: in, OutputTokens: out})
		})
}

// readBurstGPT reads a BurstGPT trace (BurstGPT_*.csv): Timestamp (seconds
// from the trace's start), Model, Request tokens, Response tokens, Total
// tokens, Log Type. A row whose response is 0 tokens is a request that
// failed in the original service: skipped and counted, as vLLM's BurstGPT
// sampler skips it. Every model's rows are kept — a trace is about when
// requests came; vLLM's sampler, which ignores the times, keeps GPT-4's.
func readBurstGPT(r io.Reader, f *File) error {
	return readTraceCSV(r, f, []string{"timestamp", "request tokens", "response tokens"}, "BurstGPT has Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
		func(v []string, line int) {
			ts, err := strconv.ParseFloat(v[0], 64)
			in, err2 := strconv.Atoi(v[1])
			out, err3 := strconv.Atoi(v[2])
			switch {
			case err != nil || err2 != nil || err3 != nil || math.IsNaN(ts) || math.IsInf(ts, 0) || ts < 0 || in < 1:
				f.skip(line, "a time or a token count that does not parse (or a request below 1 token)")
			case out < 1:
				f.skip(line, "a failed request (0 response tokens)")
			default:
				f.keep(Entry{Line: line, OffsetMS: ts * 1000, InputTokens: in, OutputTokens: out})
			}
		})
}

// readTraceCSV reads a CSV trace whose header names the columns want (in
// any case and order, among others); row gets each data row's wanted
// fields, trimmed, and keeps or skips it. The trace is then sorted by time.
func readTraceCSV(r io.Reader, f *File, want []string, shape string, row func(v []string, line int)) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("no header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	idx := make([]int, len(want))
	for i, w := range want {
		j, ok := col[w]
		if !ok {
			return fmt.Errorf("the header is %q; %s", strings.Join(header, ","), shape)
		}
		idx[i] = j
	}
	v := make([]string, len(want))
	for {
		rec, err := cr.Read()
		line, _ := cr.FieldPos(0)
		if err == io.EOF {
			sortByTime(f)
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			f.skip(pe.Line, "not a CSV row")
			continue
		}
		if err != nil {
			return err
		}
		if len(rec) <= slices.Max(idx) {
			f.skip(line, "too few columns")
			continue
		}
		for i, j := range idx {
			v[i] = strings.TrimSpace(rec[j])
		}
		row(v, line)
	}
}

func parseAzureTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q", s)
}

// readOffsetCSV reads offset_ms,input_tokens,output_tokens rows (a header
// line is optional).
func readOffsetCSV(r io.Reader, f *File) error {
	first := true
	return lines(r, func(n int, line []byte) {
		fields := strings.Split(strings.TrimSpace(string(line)), ",")
		if first {
			first = false
			if len(fields) > 0 && strings.EqualFold(strings.TrimSpace(fields[0]), "offset_ms") {
				return // the header
			}
		}
		if len(fields) != 3 {
			f.skip(n, "not offset_ms,input_tokens,output_tokens")
			return
		}
		off, err := strconv.ParseFloat(strings.TrimSpace(fields[0]), 64)
		in, err2 := strconv.Atoi(strings.TrimSpace(fields[1]))
		out, err3 := strconv.Atoi(strings.TrimSpace(fields[2]))
		if err != nil || err2 != nil || err3 != nil || off < 0 || math.IsInf(off, 0) || in < 1 || out < 1 {
			f.skip(n, "a number that does not parse (or a negative offset, or a count below 1)")
			return
		}
		f.keep(Entry{Line: n, OffsetMS: off, InputTokens: in, OutputTokens: out})
	})
}

// Window keeps the entries of a trace from start for length (0: to the
// end), in time order, with offsets from the window's start.
func (f *File) Window(start, length time.Duration) {
	sort.SliceStable(f.Entries, func(i, j int) bool { return f.Entries[i].OffsetMS < f.Entries[j].OffsetMS })
	s, l := float64(start.Microseconds())/1000, float64(length.Microseconds())/1000
	var kept []Entry
	for _, e := range f.Entries {
		if e.OffsetMS < s || (l > 0 && e.OffsetMS >= s+l) {
			continue
		}
		e.OffsetMS -= s
		kept = append(kept, e)
	}
	if len(kept) > 0 {
		// The window starts at its first request.
		first := kept[0].OffsetMS
		for i := range kept {
			kept[i].OffsetMS -= first
		}
	}
	f.Entries = kept
}

// sortByTime makes a trace's offsets start at its earliest entry and orders
// the entries by time (stably), counting those that came out of order.
func sortByTime(f *File) {
	if len(f.Entries) == 0 {
		return
	}
	lo, last := f.Entries[0].OffsetMS, math.Inf(-1)
	for _, e := range f.Entries {
		lo = math.Min(lo, e.OffsetMS)
		if e.OffsetMS < last {
			f.Reordered++
		}
		last = math.Max(last, e.OffsetMS)
	}
	for i := range f.Entries {
		f.Entries[i].OffsetMS -= lo
	}
	slices.SortStableFunc(f.Entries, func(a, b Entry) int { return cmp.Compare(a.OffsetMS, b.OffsetMS) })
}
