package openai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEvent is the largest event (or line) the reader takes by
// default: far above any completion chunk, far below what a server that
// never ends a line could make perfgate hold.
const DefaultMaxEvent = 4 << 20

// ErrEventTooLarge is a line or event over the reader's limit.
var ErrEventTooLarge = errors.New("a stream event is over the size limit")

// SSEReader reads Server-Sent Events and returns the data of each event. It
// follows the event-stream format: lines end in LF, CRLF or CR; a line
// starting with ':' is a comment; several data lines in one event are joined
// with '\n'; a blank line ends the event; other fields (event, id, retry) are
// read and ignored. An event left unfinished at the end of the stream is
// dropped, as the format says.
//
// It is written by hand because it runs once per streamed token: once its
// buffers have grown to the largest event it does not allocate. A line ends
// at its CR or LF as soon as that byte arrives, so a stream that ends lines
// with a bare CR is timed as well as one that uses LF. A line or an event
// over the limit (DefaultMaxEvent unless SetMax says otherwise) is an
// ErrEventTooLarge error: a server that never ends a line cannot make
// perfgate hold unbounded memory.
type SSEReader struct {
	br      *bufio.Reader
	data    []byte // the event being assembled
	hasData bool
	long    []byte // a line longer than what is buffered
	skipLF  bool   // the last line ended in CR: an LF right after it belongs to it
	max     int
}

// newSSEReader reads events from r.
func newSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, 16<<10), max: DefaultMaxEvent}
}

// SetMax sets the largest line or event, in bytes (≤ 0: the default).
func (s *SSEReader) SetMax(n int) {
	if n <= 0 {
		n = DefaultMaxEvent
	}
	s.max = n
}

// Reset makes the reader read from r, keeping its buffers.
func (s *SSEReader) Reset(r io.Reader) {
	s.br.Reset(r)
	s.data, s.hasData, s.skipLF = s.data[:0], false, false
}

// line returns the next line, without its terminator. eof is true when the
// stream ended; line may then still hold an unterminated last line. The
// slice is valid until the next read.
func (s *SSEReader) line() (line []byte, eof bool, err error) {
	s.long = s.long[:0]
	for {
		if s.br.Buffered() == 0 {
			if _, err := s.br.Peek(1); err != nil {
				if err == io.EOF {
					return s.long, true, nil
				}
				return nil, false, err
			}
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		if s.skipLF {
			s.skipLF = false
			if buf[0] == '\n' {
				s.br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(s.long)+len(buf) > s.max {
				return nil, false, fmt.Errorf("%w (a line over %d bytes)", ErrEventTooLarge, s.max)
			}
			s.long = append(s.long, buf...)
			s.br.Discard(len(buf))
			continue
		}
		if len(s.long)+i > s.max {
			return nil, false, fmt.Errorf("%w (a line over %d bytes)", ErrEventTooLarge, s.max)
		}
		line = buf[:i]
		if len(s.long) > 0 {
			s.long = append(s.long, line...)
			line = s.long
		}
		s.skipLF = buf[i] == '\r'
		s.br.Discard(i + 1)
		return line, false, nil
	}
}

// Next returns the data of the next event. The slice is valid until the next
// call. At the end of the stream it returns io.EOF; a read error is returned
// as it is.
func (s *SSEReader) Next() ([]byte, error) {
	for {
		line, eof, err := s.line()
		if err != nil {
			return nil, err
		}
		if eof {
			// The stream ended; an event it left unfinished is dropped.
			s.data, s.hasData = s.data[:0], false
			return nil, io.EOF
		}
		if len(line) == 0 {
			if s.hasData {
				s.hasData = false
				out := s.data
				s.data = s.data[:0]
				return out, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) == "data" {
			if len(s.data)+len(value) > s.max {
				return nil, fmt.Errorf("%w (an event over %d bytes)", ErrEventTooLarge, s.max)
			}
			if s.hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			s.hasData = true
		}
	}
}
