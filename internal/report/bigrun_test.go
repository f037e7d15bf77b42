package report

import (
	"bufio"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report/reporttest"
)

var bigRun = flag.String("bigrun", "", "write a run folder of -bigrecords synthetic records to this directory (for the report speed check)")
var bigRecords = flag.Int("bigrecords", 1_000_000, "records in the -bigrun folder")

// TestWriteBigRun writes the run folder that docs/performance.md times
// `perfgate report` on: 1,000,000 records of 64 chunks over four levels, no
// result.json (so everything is recomputed from the records). It does
// nothing without -bigrun.
func TestWriteBigRun(t *testing.T) {
	if *bigRun == "" {
		t.Skip("set -bigrun DIR to write the big run folder")
	}
	dir := *bigRun
	must(t, os.MkdirAll(dir, 0o755))
	meta := record.Meta{SchemaVersion: record.SchemaVersion, PerfgateVersion: "bench", Scenario: "fixture", StartWall: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC),
		Engine: record.Engine{Kind: "sim", Model: "m", API: "completions"}}
	must(t, record.WriteJSONAtomic(filepath.Join(dir, record.MetaFile), meta))
	must(t, os.WriteFile(filepath.Join(dir, record.ScenarioFile), []byte(reporttest.Scenario), 0o644))
	f, err := os.Create(filepath.Join(dir, record.RequestsFile))
	must(t, err)
	w := bufio.NewWriterSize(f, 4<<20)
	rng := rand.New(rand.NewPCG(3, 3))
	n := *bigRecords
	var buf []byte
	for i := range n {
		lv := i * 2 / n
		sched := int64(lv)*1_000_000_000 + int64(i%(n/2))*1000
		ttft := int64(30_000 + rng.IntN(50_000))
		buf = append(buf[:0], `{"id":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"trial":0,"level":`...)
		buf = strconv.AppendInt(buf, int64(lv+1), 10) // levels are numbered from 1 on disk
		buf = append(buf, `,"phase":"measure","class":"chat","scheduled_us":`...)
		buf = strconv.AppendInt(buf, sched, 10)
		buf = append(buf, `,"sent_us":`...)
		buf = strconv.AppendInt(buf, sched+50, 10)
		buf = append(buf, `,"first_token_us":`...)
		buf = strconv.AppendInt(buf, sched+50+ttft, 10)
		c := ttft
		chunks := make([]int64, 64)
		for j := range chunks {
			chunks[j] = c
			c += int64(7_000 + rng.IntN(3_000))
		}
		cb, _ := json.Marshal(chunks)
		buf = append(buf, `,"end_us":`...)
		buf = strconv.AppendInt(buf, sched+50+chunks[63], 10)
		buf = append(buf, `,"chunk_us":`...)
		buf = append(buf, cb...)
		buf = append(buf, `,"requested_input_tokens":100,"max_tokens":64,"prompt_tokens":101,"output_tokens":64,"status":200}`+"\n"...)
		w.Write(buf)
	}
	must(t, w.Flush())
	must(t, f.Close())
}
