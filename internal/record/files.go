package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fastjson"
)

// Names of the files in a run folder.
const (
	RequestsFile = "requests.jsonl"
	// AggregateTag marks (as a meta.json tag, "true") a run folder imported
	// from statistics alone: result.json and no requests.jsonl.
	AggregateTag = "imported_aggregate"
	MetaFile     = "meta.json"
	// SummaryFile is the run's per-level results. It was summary.json
	// before schema 2, a name vLLM's `vllm bench sweep plot` globs for its
	// own lists of results (and fails on perfgate's object), so it moved;
	// LegacySummaryFile is still read from older run folders.
	SummaryFile       = "result.json"
	LegacySummaryFile = "summary.json"
	ScenarioFile      = "scenario.yaml"
	// ComparisonFile is a comparison's decision (perfgate compare, ab).
	ComparisonFile = "comparison.json"
	// ABFile is an A/B folder's plan and results (perfgate ab).
	ABFile = "ab.json"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// MakeRunDir creates out/<UTC time>_<name>[_<label>], adding -2, -3, … when
// that folder already exists.
func MakeRunDir(out, name, label string) (string, error) {
	base := time.Now().UTC().Format("20060102T150405Z") + "_" + strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
	if label != "" {
		base += "_" + label
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create the output directory: %w", err)
	}
	for i := 1; ; i++ {
		dir := filepath.Join(out, base)
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", dir, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !os.IsExist(err) {
			return "", fmt.Errorf("create the run folder: %w", err)
		}
	}
}

// TrialDir is the n-th (1-based) trial folder under parent: trial-NN.
func TrialDir(parent string, n int) string {
	return filepath.Join(parent, fmt.Sprintf("trial-%02d", n))
}

// Writer appends records to requests.jsonl. It is safe for concurrent use.
// Records reach the file at least once per FlushEvery (and on Close), so a
// crash loses at most that much.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	bw     *bufio.Writer
	enc    *json.Encoder
	err    error
	n      int
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// FlushEvery is how often buffered records are written out.
const FlushEvery = 500 * time.Millisecond

// Create opens path for appending records and starts the periodic flusher.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, bw: bufio.NewWriterSize(f, 256<<10), stop: make(chan struct{}), done: make(chan struct{})}
	w.enc = json.NewEncoder(w.bw)
	go w.flusher()
	return w, nil
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if w.err == nil {
				w.err = w.bw.Flush()
			}
			w.mu.Unlock()
		}
	}
}

// Write appends one record. The first write error is kept and returned by
// every later call and by Close.
func (w *Writer) Write(r *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("record writer is closed")
	}
	c := *r
	c.Level++ // 1-based on disk, as everywhere a person reads it (schema 2)
	if err := w.enc.Encode(&c); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.f.Name(), err)
		return w.err
	}
	w.n++
	return nil
}

// Count is the number of records written so far.
func (w *Writer) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Close flushes, syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.err
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if err := w.f.Sync(); err != nil && w.err == nil {
		w.err = err
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

// decodeRecord parses one requests.jsonl line into r, reusing r's chunk
// slice. fastjson validates the whole line and is several times faster than
// encoding/json here, which matters for runs of millions of records.
func decodeRecord(p *fastjson.Parser, line []byte, r *Record) error {
	v, err := p.ParseBytes(line)
	if err != nil {
		return err
	}
	o, err := v.Object()
	if err != nil {
		return err
	}
	chunks := r.ChunkUS[:0]
	*r = Record{}
	var ferr error
	num := func(x *fastjson.Value) int64 {
		n, err := x.Int64()
		if err != nil && ferr == nil {
			ferr = err
		}
		return n
	}
	str := func(x *fastjson.Value) string {
		b, err := x.StringBytes()
		if err != nil && ferr == nil {
			ferr = err
		}
		return string(b)
	}
	o.Visit(func(k []byte, x *fastjson.Value) {
		switch string(k) {
		case "id":
			r.ID = num(x)
		case "trial":
			r.Trial = int(num(x))
		case "level":
			r.Level = int(num(x))
		case "phase":
			r.Phase = str(x)
		case "class":
			r.Class = str(x)
		case "session":
			r.Session = int(num(x))
		case "turn":
			r.Turn = int(num(x))
		case "scheduled_us":
			r.ScheduledUS = num(x)
		case "queue_wait_us":
			r.QueueWaitUS = num(x)
		case "sent_us":
			r.SentUS = num(x)
		case "first_token_us":
			r.FirstTokenUS = num(x)
		case "end_us":
			r.EndUS = num(x)
		case "done_us":
			r.DoneUS = num(x)
		case "chunk_us":
			arr, err := x.Array()
			if err != nil {
				ferr = err
				return
			}
			for _, c := range arr {
				chunks = append(chunks, num(c))
			}
		case "requested_input_tokens":
			r.RequestedInput = int(num(x))
		case "max_tokens":
			r.RequestedOutput = int(num(x))
		case "prompt_tokens":
			r.PromptTokens = int(num(x))
		case "output_tokens":
			r.OutputTokens = int(num(x))
		case "usage_missing":
			r.UsageMissing = x.GetBool()
		case "status":
			r.Status = int(num(x))
		case "error":
			r.Error = str(x)
		case "error_msg":
			r.ErrorMsg = str(x)
		}
	})
	if len(chunks) > 0 {
		r.ChunkUS = chunks
	}
	return ferr
}

// ReadStats tells what Read skipped.
type ReadStats struct {
	Records  int
	TornTail bool // the last line was incomplete (the writer was killed mid-line)
	BadLines []int
	FirstBad string
}

// LevelBase is the number of a run folder's first level in its files: 1
// since schema 2, 0 before (meta.json's schema_version says which; a folder
// without one is taken to be current). In memory a level is its 0-based
// index into the scenario's levels.
func LevelBase(dir string) int {
	var m struct {
		SchemaVersion int `json:"schema_version"`
	}
	if ReadJSON(filepath.Join(dir, MetaFile), &m) == nil && m.SchemaVersion == 1 {
		return 0
	}
	return 1
}

// Read streams the records of a requests.jsonl file to fn. A torn last line
// (a run killed mid-write) is skipped and reported in the stats; a malformed
// line elsewhere is an error naming its line number. The record passed to fn
// is reused for the next line: copy what must outlive the call.
//
// A line over MaxLineBytes is an error, and so is a path that is not a
// regular file (a requests.jsonl linked to /dev/zero exhausted memory).
func Read(path string, fn func(*Record) error) (ReadStats, error) {
	var st ReadStats
	f, err := OpenRegular(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	base := LevelBase(filepath.Dir(path))
	br := bufio.NewReaderSize(f, 1<<20)
	line := 0
	var p fastjson.Parser
	var r Record
	var buf []byte
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // a line longer than the buffer
			buf = append(buf[:0], b...)
			for err == bufio.ErrBufferFull {
				if len(buf) > MaxLineBytes {
					return st, fmt.Errorf("%s:%d: a line over %d MiB: not a request record", path, line+1, MaxLineBytes>>20)
				}
				b, err = br.ReadSlice('\n')
				buf = append(buf, b...)
			}
			b = buf
		}
		if len(b) > 0 {
			line++
			complete := b[len(b)-1] == '\n'
			b = bytes.TrimSpace(b)
			if len(b) > 0 {
				if uerr := decodeRecord(&p, b, &r); uerr != nil {
					if !complete {
						st.TornTail = true
						return st, nil
					}
					return st, fmt.Errorf("%s:%d: not a request record: %v", path, line, uerr)
				}
				st.Records++
				r.Level -= base
				if ferr := fn(&r); ferr != nil {
					return st, ferr
				}
			}
		}
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// WriteJSONAtomic writes v as indented JSON to path through a temporary file
// and a rename, so a reader never sees half a file.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// WriteFileAtomic writes data to path through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	return os.Rename(name, path)
}

// MaxLineBytes is the longest line of requests.jsonl read: a record holds a
// time per output token, and a request's output is at most 2^20 tokens.
const MaxLineBytes = 64 << 20

// MaxJSONBytes is the largest JSON file of a run folder read (result.json,
// meta.json, comparison.json, ab.json): they are kilobytes.
const MaxJSONBytes = 64 << 20

// OpenRegular opens path for reading when it is a regular file: a FIFO
// would block, a device (/dev/zero) would never end.
func OpenRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	return os.Open(path)
}

// ReadJSON decodes a JSON file into v: a regular file of at most
// MaxJSONBytes.
func ReadJSON(path string, v any) error {
	f, err := OpenRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxJSONBytes+1))
	if err != nil {
		return err
	}
	if len(b) > MaxJSONBytes {
		return fmt.Errorf("%s: over %d MiB: not a file perfgate wrote", path, MaxJSONBytes>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
