package openai

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

func events(r io.Reader) ([]string, error) {
	sr := newSSEReader(r)
	var out []string
	for {
		d, err := sr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(d))
	}
}

// However a stream is split into reads, the reader finds the same events;
// and it never panics.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "data: a\r\n\r\ndata: b\r\n\r\n", ": c\n\ndata: x\ndata: y\n\n", "data: a\r\rdata: b\r\r", "event: e\n\n", "data: {\"choices\":[]}\n\ndata: [DONE]\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err1 := events(bytes.NewReader(data))
		byByte, err2 := events(iotest.OneByteReader(bytes.NewReader(data)))
		if err1 != nil || err2 != nil {
			t.Fatalf("errors on an in-memory stream: %v %v", err1, err2)
		}
		if !slices.Equal(whole, byByte) {
			t.Fatalf("split reads changed the events: %q vs %q", whole, byByte)
		}
		var cp chunkParser
		for _, e := range whole {
			cp.parse([]byte(e))
		}
	})
}
