package record

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestWriterReaderRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), RequestsFile)
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Write(&Record{ID: int64(i), Level: i % 3, Phase: PhaseMeasure, ChunkUS: []int64{1, 2, 3}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Record{}); err == nil {
		t.Error("write after close must fail")
	}
	seen := map[int64]bool{}
	st, err := Read(path, func(r *Record) error {
		seen[r.ID] = true
		if r.Level != int(r.ID%3) {
			t.Errorf("record %d: level %d, want %d", r.ID, r.Level, r.ID%3)
		}
		return nil
	})
	if err != nil || st.Records != 100 || len(seen) != 100 || st.TornTail {
		t.Fatalf("read %+v, %d ids, %v", st, len(seen), err)
	}
	// On disk a level is numbered from 1; a schema-1 folder's from 0.
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), `"level":0`) || !strings.Contains(string(b), `"level":3`) {
		t.Errorf("levels on disk are not 1-based:\n%.300s", b)
	}
	os.WriteFile(filepath.Join(filepath.Dir(path), MetaFile), []byte(`{"schema_version": 1}`), 0o644)
	Read(path, func(r *Record) error {
		if r.Level != int(r.ID%3)+1 {
			t.Errorf("schema 1: record %d read as level index %d, want %d", r.ID, r.Level, r.ID%3+1)
		}
		return nil
	})
}

// A run killed mid-write leaves half a line at the end: it is skipped and said.
func TestReadTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), RequestsFile)
	full, _ := json.Marshal(Record{ID: 1})
	os.WriteFile(path, append(append(full, '\n'), []byte(`{"id":2,"phase":"mea`)...), 0o644)
	n := 0
	st, err := Read(path, func(r *Record) error { n++; return nil })
	if err != nil || n != 1 || !st.TornTail {
		t.Fatalf("n=%d st=%+v err=%v", n, st, err)
	}
}

func TestReadBadLineInTheMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), RequestsFile)
	os.WriteFile(path, []byte("{\"id\":1}\nnot json\n{\"id\":3}\n"), 0o644)
	_, err := Read(path, func(r *Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), ":2: not a request record") {
		t.Fatalf("want the line number, got %v", err)
	}
}

func TestWriteJSONAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SummaryFile)
	if err := WriteJSONAtomic(path, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	var m map[string]int
	if err := ReadJSON(path, &m); err != nil || m["a"] != 1 {
		t.Fatalf("%v %v", m, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := WriteJSONAtomic(filepath.Join(dir, "missing", "x.json"), 1); err == nil {
		t.Error("writing into a missing directory must fail")
	}
}

func TestMakeRunDirNeverReusesAFolder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "runs")
	seen := map[string]bool{}
	for range 3 {
		dir, err := MakeRunDir(out, "my scenario/../x", "base")
		if err != nil {
			t.Fatal(err)
		}
		if seen[dir] || filepath.Dir(dir) != out {
			t.Fatalf("%s: reused, or outside %s", dir, out)
		}
		seen[dir] = true
		if !regexp.MustCompile(`^\d{8}T\d{6}Z_my-scenario-\.\.-x_base(-\d)?$`).MatchString(filepath.Base(dir)) {
			t.Errorf("name %q", filepath.Base(dir))
		}
	}
}

// A requests.jsonl that is a device, or holds a line no record could be,
// is an error at once, in bounded memory: one linked to /dev/zero exhausted
// memory in report, compare and history.
func TestReadRefusesWhatIsNotARecordFile(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, RequestsFile)
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(link, func(*Record) error { return nil }); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
	if err := ReadJSON(link, new(Meta)); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("ReadJSON of /dev/zero: %v", err)
	}
	long := filepath.Join(t.TempDir(), RequestsFile)
	f, _ := os.Create(long)
	f.WriteString(`{"id":1}` + "\n")
	f.Write(bytes.Repeat([]byte("x"), MaxLineBytes+(2<<20)))
	f.Close()
	if _, err := Read(long, func(*Record) error { return nil }); err == nil || !strings.Contains(err.Error(), ":2: a line over 64 MiB") {
		t.Errorf("a long line: %v", err)
	}
}
