package openai

import (
	"bufio"
	"bytes"
	"io"
)

// SSEReader reads Server-Sent Events and returns the data of each event. It
// follows the event-stream format: lines end in LF, CRLF or CR; a line
// starting with ':' is a comment; several data lines in one event are joined
// with '\n'; a blank line ends the event; other fields (event, id, retry) are
// read and ignored. An event left unfinished at the end of the stream is
// dropped, as the format says.
//
// It is written by hand because it runs once per streamed token: once its
// buffers have grown to the largest event it does not allocate. Lines are
// found by their LF; a stream that ends lines with a bare CR only is parsed
// correctly but its events surface when the next LF (or the end) arrives.
type SSEReader struct {
	br      *bufio.Reader
	data    []byte // the event being assembled
	hasData bool
	long    []byte   // a line longer than the bufio buffer
	pending [][]byte // lines split off a segment at bare CRs
	pend    []byte   // their storage
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// Reset makes the reader read from r, keeping its buffers.
func (s *SSEReader) Reset(r io.Reader) {
	s.br.Reset(r)
	s.data, s.hasData, s.pending = s.data[:0], false, s.pending[:0]
}

// segment returns the bytes up to the next LF (without it, and without a CR
// before it). eof is true when the stream ended; seg may then still hold an
// unterminated last line.
func (s *SSEReader) segment() (seg []byte, eof bool, err error) {
	s.long = s.long[:0]
	for {
		frag, err := s.br.ReadSlice('\n')
		switch err {
		case nil:
			frag = frag[:len(frag)-1]
			if len(s.long) > 0 {
				frag = append(s.long, frag...)
				s.long = frag
			}
			return bytes.TrimSuffix(frag, []byte{'\r'}), false, nil
		case bufio.ErrBufferFull:
			s.long = append(s.long, frag...)
		case io.EOF:
			if len(s.long) > 0 {
				frag = append(s.long, frag...)
				s.long = frag
			}
			return bytes.TrimSuffix(frag, []byte{'\r'}), true, nil
		default:
			return nil, false, err
		}
	}
}

// Next returns the data of the next event. The slice is valid until the next
// call. At the end of the stream it returns io.EOF; a read error is returned
// as it is.
func (s *SSEReader) Next() ([]byte, error) {
	for {
		var line []byte
		eof := false
		if len(s.pending) > 0 {
			line, s.pending = s.pending[0], s.pending[1:]
		} else {
			seg, atEOF, err := s.segment()
			if err != nil {
				return nil, err
			}
			eof = atEOF
			if bytes.IndexByte(seg, '\r') >= 0 {
				s.pend = append(s.pend[:0], seg...)
				s.pending = s.pending[:0]
				for part := range bytes.SplitSeq(s.pend, []byte{'\r'}) {
					s.pending = append(s.pending, part)
				}
				line, s.pending = s.pending[0], s.pending[1:]
			} else {
				line = seg
			}
			if eof && len(seg) == 0 {
				s.data, s.hasData = s.data[:0], false
				return nil, io.EOF
			}
		}
		if len(line) == 0 {
			if s.hasData {
				s.hasData = false
				out := s.data
				s.data = s.data[:0]
				return out, nil
			}
		} else if line[0] != ':' {
			field, value := line, []byte(nil)
			if i := bytes.IndexByte(line, ':'); i >= 0 {
				field, value = line[:i], line[i+1:]
				if len(value) > 0 && value[0] == ' ' {
					value = value[1:]
				}
			}
			if string(field) == "data" {
				if s.hasData {
					s.data = append(s.data, '\n')
				}
				s.data = append(s.data, value...)
				s.hasData = true
			}
		}
		if eof && len(s.pending) == 0 {
			// The stream ended inside an event: drop it.
			s.data, s.hasData = s.data[:0], false
			return nil, io.EOF
		}
	}
}
