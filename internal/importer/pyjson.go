package importer

import (
	"bufio"
	"bytes"
	"io"
)

// pyJSON reads JSON as Python's json.dumps writes it by default: NaN,
// Infinity and -Infinity as bare words, which JSON does not have (vllm bench
// serve writes "burstiness": Infinity for --burstiness inf). Each becomes
// null, outside strings only; everything else passes unchanged, streamed.
type pyJSON struct {
	r        *bufio.Reader
	inString bool
	escaped  bool
	pending  []byte
}

func newPyJSON(r io.Reader) *pyJSON { return &pyJSON{r: bufio.NewReaderSize(r, 1<<20)} }

var pyWords = [][]byte{[]byte("NaN"), []byte("Infinity"), []byte("-Infinity")}

func (p *pyJSON) Read(buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if len(p.pending) > 0 {
			c := copy(buf[n:], p.pending)
			p.pending, n = p.pending[c:], n+c
			continue
		}
		b, err := p.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case p.inString:
			switch {
			case p.escaped:
				p.escaped = false
			case b == '\\':
				p.escaped = true
			case b == '"':
				p.inString = false
			}
		case b == '"':
			p.inString = true
		case b == 'N' || b == 'I' || b == '-':
			if w := p.word(b); w != nil {
				p.pending = []byte("null")
				continue
			}
		}
		buf[n] = b
		n++
	}
	return n, nil
}

// word consumes the rest of a Python word starting with b and returns it,
// or returns nil (consuming nothing more) when none starts here.
func (p *pyJSON) word(b byte) []byte {
	for _, w := range pyWords {
		if w[0] != b {
			continue
		}
		rest, _ := p.r.Peek(len(w) - 1)
		if bytes.Equal(rest, w[1:]) {
			p.r.Discard(len(w) - 1)
			return w
		}
	}
	return nil
}
