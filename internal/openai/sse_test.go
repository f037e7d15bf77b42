package openai

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r io.Reader) []string {
	t.Helper()
	sr := newSSEReader(r)
	var out []string
	for {
		d, err := sr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		out = append(out, string(d))
	}
}

func TestSSEFramings(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"a", "b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}},
		{"cr only", "data: a\r\rdata: b\r\r", []string{"a", "b"}},
		{"no space after colon", "data:a\n\n", []string{"a"}},
		{"two spaces keep one", "data:  a\n\n", []string{" a"}},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", []string{"{\"a\":\n1}"}},
		{"comments and keep-alives", ": ping\n\n:\ndata: a\n: mid-event comment\n\n", []string{"a"}},
		{"other fields ignored", "event: message\nid: 7\nretry: 100\ndata: a\n\n", []string{"a"}},
		{"event without data is not dispatched", "event: x\n\ndata: a\n\n", []string{"a"}},
		{"blank lines between events", "\n\n\ndata: a\n\n\n\ndata: b\n\n", []string{"a", "b"}},
		{"empty data line", "data\n\n", []string{""}},
		{"unfinished last event dropped", "data: a\n\ndata: b\n", []string{"a"}},
		{"unterminated last line dropped", "data: a\n\ndata: b", []string{"a"}},
		{"usage-only final chunk", "data: {\"choices\":[{\"text\":\"x\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n",
			[]string{`{"choices":[{"text":"x"}]}`, `{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}`, "[DONE]"}},
		{"field name only colon", "data:\n\n", []string{""}},
		{"garbage lines", "garbage\nnot a field: x\ndata: a\n\n", []string{"a"}},
		{"empty stream", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(c.in)},
				{"byte by byte", iotest.OneByteReader(strings.NewReader(c.in))},
				{"half", iotest.HalfReader(strings.NewReader(c.in))},
			} {
				got := readAll(t, r.r)
				if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
					t.Errorf("%s: got %q, want %q", r.name, got, c.want)
				}
			}
		})
	}
}

func TestSSELongLine(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	got := readAll(t, strings.NewReader("data: "+long+"\n\ndata: short\n\n"))
	if len(got) != 2 || got[0] != long || got[1] != "short" {
		t.Fatalf("long line not read whole: %d events", len(got))
	}
}

func TestSSEReadError(t *testing.T) {
	boom := errors.New("connection reset")
	sr := newSSEReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	if d, err := sr.Next(); err != nil || string(d) != "a" {
		t.Fatalf("first event: %q %v", d, err)
	}
	if _, err := sr.Next(); !errors.Is(err, boom) {
		t.Fatalf("a read error must surface, got %v", err)
	}
}

func BenchmarkSSEReader(b *testing.B) {
	chunk := "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" word\",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
	stream := strings.Repeat(chunk, 1000)
	r := strings.NewReader(stream)
	sr := newSSEReader(r)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sr.Next(); err == io.EOF {
			r.Reset(stream)
			sr.Reset(r)
			if _, err := sr.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkChunkDecode is the per-chunk cost of reading and decoding a chunk.
func BenchmarkChunkDecode(b *testing.B) {
	data := []byte("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\" word\",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}")
	var cp chunkParser
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if ci, err := cp.parse(data); err != nil || !ci.content {
			b.Fatal(err)
		}
	}
}

// A line that ends in a bare CR is a line as soon as the CR arrives: its
// event is not held back until the next LF (which made TTFT equal E2E
// latency for a server that ends lines with CR only).
func TestSSEBareCRIsImmediate(t *testing.T) {
	pr, pw := io.Pipe()
	sr := newSSEReader(pr)
	go pw.Write([]byte("data: a\r\r"))
	got := make(chan string, 1)
	go func() {
		d, err := sr.Next()
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(d)
	}()
	if d := <-got; d != "a" { // returns without another byte written
		t.Fatalf("got %q", d)
	}
	go pw.Write([]byte("\ndata: b\r\n\r\n"))
	if d, err := sr.Next(); err != nil || string(d) != "b" {
		t.Errorf("after a CR, an LF that follows belongs to it: %q %v", d, err)
	}
	pw.Close()
}

// A line or an event over the limit is an error, not unbounded memory.
func TestSSEEventCap(t *testing.T) {
	sr := newSSEReader(strings.NewReader("data: " + strings.Repeat("x", 5000) + "\n\n"))
	sr.SetMax(4096)
	if _, err := sr.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("a 5000-byte line under a 4096 limit: %v", err)
	}
	// many data lines adding up
	sr = newSSEReader(strings.NewReader(strings.Repeat("data: "+strings.Repeat("y", 1000)+"\n", 5) + "\n"))
	sr.SetMax(4096)
	if _, err := sr.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("an event of five 1000-byte lines under a 4096 limit: %v", err)
	}
	// a line that never ends, from a reader that never stops
	sr = newSSEReader(io.MultiReader(strings.NewReader("data: "), endless{}))
	sr.SetMax(1 << 20)
	if _, err := sr.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("an endless line: %v", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}
