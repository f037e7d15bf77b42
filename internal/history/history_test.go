package history

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/perfgate/perfgate/internal/stats"
)

func series(values []float64, metric string) []Point {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []Point
	for i, v := range values {
		out = append(out, Point{Version: 1, Scenario: "s", Level: 1, Metric: metric, Value: v, Commit: fmt.Sprintf("c%06d", i),
			Time: t0.Add(time.Duration(i) * time.Hour), Env: "h100", RunID: fmt.Sprint(i)})
	}
	return out
}

// withFail sets every point's fail threshold, as history add records it.
func withFail(pts []Point, pct float64) []Point {
	for i := range pts {
		pts[i].FailPct = pct
	}
	return pts
}

func noisy(rng *rand.Rand, n int, center, cv float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = center * (1 + cv*rng.NormFloat64())
	}
	return out
}

func TestChangePointOnAStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := append(noisy(rng, 40, 100, 0.01), noisy(rng, 30, 108, 0.01)...) // latency +8 % at point 40
	r := Check(series(xs, "median_e2el_ms"), Options{})[0]
	if len(r.ChangePoints) != 1 || r.ChangePoints[0].Index != 40 || r.ChangePoints[0].Commit != "c000040" || !r.ChangePoints[0].Worse {
		t.Fatalf("change points %+v", r.ChangePoints)
	}
	if c := r.ChangePoints[0].ChangePct; c < 6 || c > 10 {
		t.Errorf("step %v %%", c)
	}
}

func TestNoChangeInNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	false := 0
	for range 50 {
		r := Check(series(noisy(rng, 60, 100, 0.02), "median_e2el_ms"), Options{})[0]
		false += len(r.ChangePoints)
	}
	if false > 2 {
		t.Errorf("%d change points in 50 noise-only series", false)
	}
}

func TestNewestOutsideTheBand(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	xs := append(noisy(rng, 30, 1000, 0.01), 900) // throughput −10 %
	r := Check(series(xs, "output_throughput"), Options{})[0]
	if !r.Regressed || r.Improved {
		t.Errorf("%+v", r)
	}
	xs[len(xs)-1] = 1100
	r = Check(series(xs, "output_throughput"), Options{})[0]
	if r.Regressed || !r.Improved {
		t.Errorf("an improvement is not a regression: %+v", r)
	}
	xs[len(xs)-1] = 1005
	if r := Check(series(xs, "output_throughput"), Options{})[0]; r.Regressed || r.Improved {
		t.Errorf("inside the band: %+v", r)
	}
}

func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	pts := series([]float64{1, 2, 3}, "m")
	if n, err := s.Append(ctx, pts); err != nil || n != 3 {
		t.Fatalf("append: %d %v", n, err)
	}
	if n, err := s.Append(ctx, pts); err != nil || n != 0 {
		t.Fatalf("appending the same points again must add nothing: %d %v", n, err)
	}
	more := series([]float64{1, 2, 3, 4}, "m")[3:]
	other := series([]float64{7}, "m")
	other[0].Scenario = "other scenario"
	if n, err := s.Append(ctx, append(more, other...)); err != nil || n != 2 {
		t.Fatalf("append more: %d %v", n, err)
	}
	got, err := s.Load(ctx)
	if err != nil || len(got) != 5 {
		t.Fatalf("load: %d %v", len(got), err)
	}
}

func TestDirStore(t *testing.T) {
	dir := t.TempDir()
	testStore(t, &DirStore{Dir: dir})
	os.WriteFile(filepath.Join(dir, "history-bad.jsonl"), []byte("{\"v\":1}\nnot json\n"), 0o644)
	if _, err := (&DirStore{Dir: dir}).Load(context.Background()); err == nil || !strings.Contains(err.Error(), "history-bad.jsonl:2") {
		t.Errorf("a bad line must be named: %v", err)
	}
}

// A write cut short (a full disk, a killed process) leaves a torn last
// line: loading skips it with a warning, and the next append drops it and
// adds its points — every history command exited 1 on such a store before.
func TestDirStoreTornLastLine(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var warnings []string
	st := &DirStore{Dir: dir, Warn: func(s string) { warnings = append(warnings, s) }}
	if _, err := st.Append(ctx, series([]float64{1, 2}, "m")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history-s.jsonl")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":1,"scenario":"s","level":1,"met`)
	f.Close()
	got, err := st.Load(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("load: %d points, %v", len(got), err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "history-s.jsonl:3: the last line is cut short") {
		t.Errorf("warnings %q", warnings)
	}
	if n, err := st.Append(ctx, series([]float64{1, 2, 3}, "m")); err != nil || n != 1 {
		t.Fatalf("append after a torn line: %d %v", n, err)
	}
	b, _ := os.ReadFile(path)
	if pts, err := Parse(path, b); err != nil || len(pts) != 3 {
		t.Errorf("after the append the file holds %d points (%v):\n%s", len(pts), err, b)
	}
	// A last point without its newline is a point, not a torn line.
	os.WriteFile(path, bytes.TrimRight(b, "\n"), 0o644)
	warnings = nil
	if got, err := st.Load(ctx); err != nil || len(got) != 3 || len(warnings) != 0 {
		t.Errorf("a complete last line without a newline: %d points, %v, %q", len(got), err, warnings)
	}
}

// Concurrent appends to one directory (two CI jobs sharing a cache) never
// lose a point or read another writer's half-written line.
func TestDirStoreConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	const writers, each, batch = 4, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &DirStore{Dir: dir}
			for i := range each {
				// Big appends: a reader sees a write in progress.
				p := series(make([]float64, batch), "m")
				for k := range p {
					p[k].RunID = fmt.Sprintf("w%d-%d-%d", w, i, k)
				}
				if _, err := st.Append(context.Background(), p); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := (&DirStore{Dir: dir}).Load(context.Background())
	if err != nil || len(got) != writers*each*batch {
		t.Errorf("%d points of %d stored (%v)", len(got), writers*each*batch, err)
	}
}

// An append waits for the store's lock (held here as another perfgate
// would hold it) before it reads the files, and gives up when its context
// ends.
func TestDirStoreAppendWaitsForTheLock(t *testing.T) {
	dir := t.TempDir()
	other := flock.New(filepath.Join(dir, lockName))
	if err := other.Lock(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := (&DirStore{Dir: dir}).Append(context.Background(), series([]float64{1}, "m"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("appended while another writer held the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	other.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	other.Lock()
	defer other.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := (&DirStore{Dir: dir}).Append(ctx, series([]float64{2}, "m")); err == nil || !strings.Contains(err.Error(), "locking the history store") {
		t.Errorf("an append that could not lock: %v", err)
	}
}

func TestGitStore(t *testing.T) {
	repo := t.TempDir()
	if out, err := exec.Command("git", "-C", repo, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	s, err := Open("git:perf-history", repo)
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, s)
	out, _ := exec.Command("git", "-C", repo, "log", "--oneline", "perf-history").Output()
	if n := strings.Count(string(out), "\n"); n != 2 {
		t.Errorf("one commit per append that added something, got %d:\n%s", n, out)
	}
	if _, err := Open("git:", repo); err == nil {
		t.Error("git: without a branch")
	}
}

func TestAcceptStartsTheSeriesAnew(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	xs := append(noisy(rng, 30, 100, 0.01), noisy(rng, 8, 110, 0.01)...) // +10 % latency at c030, intended
	pts := series(xs, "median_e2el_ms")
	before := Check(pts, Options{MinSegment: 3})[0]
	if len(before.ChangePoints) != 1 || before.ChangePoints[0].Commit != "c000030" {
		t.Fatalf("the step must show before it is accepted: %+v", before.ChangePoints)
	}
	// Accepted by commit: the series restarts at c030, the step is gone.
	mark := Point{Version: 1, Kind: KindAccept, Commit: "c000030", Time: pts[len(pts)-1].Time.Add(time.Hour), RunID: "accept-c030", Reason: "intended"}
	after := Check(append(pts, mark), Options{MinSegment: 3})[0]
	if after.Accepted != "c000030" || after.Skipped != 30 || after.Points != 8 || len(after.ChangePoints) != 0 || after.Regressed {
		t.Fatalf("after accept: %+v", after)
	}
	// A new regression after the accepted level is still caught.
	worse := series(append(append([]float64{}, xs...), 125), "median_e2el_ms")
	r := Check(append(worse, mark), Options{MinSegment: 3})[0]
	if open := r.Open(); len(open) != 1 || (open[0].FirstBad != "c000038" && open[0].FirstBad != "c000037") {
		// c037 is 2.6 σ high already: a newest segment of two is as likely as one
		t.Errorf("a regression beyond the accepted level must be open: %+v", r)
	}
	// A marker for another scenario does not apply; a marker is kept and idempotent in a store.
	other := mark
	other.Scenario = "other"
	if r := Check(append(pts, other), Options{MinSegment: 3})[0]; r.Skipped != 0 {
		t.Errorf("another scenario's marker applied: %+v", r)
	}
	st := &DirStore{Dir: t.TempDir()}
	for i := range 2 {
		n, err := st.Append(context.Background(), []Point{mark})
		if err != nil || n != 1-i {
			t.Fatalf("append %d: %d %v", i, n, err)
		}
	}
	got, _ := st.Load(context.Background())
	if len(got) != 1 || got[0].Kind != KindAccept || got[0].Reason != "intended" {
		t.Errorf("store: %+v", got)
	}
}

// The smallest step that counts is the scenario's fail threshold recorded
// with the newest point: a 4 % step on a metric that fails at 5 % is inside
// the band even when the history before it is unusually steady, and it
// counts when the threshold (or --min-change) says 3 %.
func TestTheFloorIsTheScenariosFailThreshold(t *testing.T) {
	xs := []float64{100, 100.1, 99.9, 100, 104} // three steady points, then +4 % latency
	pts := withFail(series(xs, "median_e2el_ms"), 5)
	if r := Check(pts, Options{})[0]; r.Regressed || r.BandHigh < 104.99 {
		t.Errorf("+4 %% under a 5 %% threshold: %+v", r)
	}
	if r := Check(pts, Options{MinMagnitude: 0.03})[0]; !r.Regressed {
		t.Errorf("--min-change 0.03 overrides the threshold: %+v", r)
	}
	pts[len(pts)-1].FailPct = 3
	if r := Check(pts, Options{})[0]; !r.Regressed {
		t.Errorf("the newest point's threshold (3 %%) applies: %+v", r)
	}
	// error_rate is compared by difference: one percentage point, not 1 % of 0.
	er := series([]float64{0, 0, 0, 0, 0.004}, "error_rate")
	for i := range er {
		er[i].FailPct = 1
	}
	if r := Check(er, Options{})[0]; r.Regressed {
		t.Errorf("0.4 pp of errors under a 1 pp threshold: %+v", r)
	}
	er[len(er)-1].Value = 0.02
	if r := Check(er, Options{})[0]; !r.Regressed {
		t.Errorf("2 pp of errors over a 1 pp threshold: %+v", r)
	}
}

// Issue 19's user story: commits 1–8 at one speed, 9–12 with decode 10 %
// slower (one run per commit, a steady simulator). Every check from commit
// 10 on has the regression open and names commit 9 (suspects 8..9): a
// 10 % step is under AtOnce smallest steps, so the newest point alone
// (commit 9) does not open it; with AtOnce 1 it opens at commit 9,
// provisional. An accept at commit 9 clears it.
func TestARegressionStaysOpenUntilAccepted(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	xs := append(noisy(rng, 8, 10, 0.003), noisy(rng, 4, 11, 0.003)...)
	pts := withFail(series(xs, "median_tpot_ms"), 5)
	for _, atOnce := range []float64{0, 1} {
		for n := 9; n <= 12; n++ {
			r := Check(pts[:n], Options{AtOnce: atOnce})[0]
			open := r.Open()
			if n == 9 && atOnce == 0 {
				if len(open) != 0 || !r.Regressed {
					t.Errorf("after commit 9, a 10 %% step under the default: open %+v, regressed %v", open, r.Regressed)
				}
				continue
			}
			if len(open) != 1 || open[0].FirstBad != "c000008" || open[0].LastGood != "c000007" || open[0].ChangePct < 8 {
				t.Fatalf("at once %g, after commit %d: open regressions %+v (change points %+v)", atOnce, n, open, r.ChangePoints)
			}
			if n == 9 && (!open[0].Provisional || open[0].Newest != 1) || n > 9 && (open[0].Provisional || len(r.ChangePoints) != 1) {
				t.Errorf("at once %g, after commit %d: %+v", atOnce, n, r)
			}
		}
	}
	// A step of four smallest steps or more opens at its first commit.
	big := withFail(series(append(noisy(rng, 8, 10, 0.003), 12.5), "median_tpot_ms"), 5)
	if open := Check(big, Options{})[0].Open(); len(open) != 1 || !open[0].Provisional || open[0].FirstBad != "c000008" {
		t.Errorf("a 25 %% step at its first commit: %+v", open)
	}
	mark := Point{Version: 1, Kind: KindAccept, Commit: "c000008", Time: pts[11].Time.Add(time.Minute), Reason: "intended"}
	if r := Check(append(pts, mark), Options{})[0]; len(r.Open()) != 0 || r.AcceptReason != "intended" {
		t.Errorf("accepted: %+v", r)
	}
}

// A step that is reverted ten commits later is two change points, and the
// regression it opened is closed by the second.
func TestARevertedStepIsListedTwice(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	xs := append(append(noisy(rng, 40, 100, 0.03), noisy(rng, 10, 110, 0.03)...), noisy(rng, 50, 100, 0.03)...)
	pts := withFail(series(xs, "median_e2el_ms"), 5)
	r := Check(pts, Options{})[0]
	// (within a commit of the truth: c049 is as low as the points after it)
	if len(r.ChangePoints) != 2 || r.ChangePoints[0].Index != 40 || r.ChangePoints[1].Index < 49 || r.ChangePoints[1].Index > 51 ||
		!r.ChangePoints[0].Worse || r.ChangePoints[1].Worse {
		t.Fatalf("change points %+v", r.ChangePoints)
	}
	if len(r.Regressions) != 1 || r.Regressions[0].Open || r.Regressions[0].RecoveredAt != r.ChangePoints[1].Commit {
		t.Errorf("regressions %+v", r.Regressions)
	}
}

// Latency bands are drawn on the log scale: never below zero, however
// noisy the history.
func TestBandsNeverGoBelowZero(t *testing.T) {
	pts := series([]float64{1, 30, 2, 25, 1, 40, 3}, "p99_ttft_ms")
	r := Check(pts, Options{})[0]
	if !(r.BandLow > 0) || !(r.BandHigh > 30) {
		t.Errorf("band %v … %v", r.BandLow, r.BandHigh)
	}
}

// The tracking issue's record: a regression is added once, its culprit
// range never rewritten by a later alarm, closed when accepted or when it
// recovers; the record survives a round trip through an issue body.
func TestLedger(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	xs := append(noisy(rng, 8, 10, 0.003), noisy(rng, 6, 11, 0.003)...)
	pts := withFail(series(xs, "median_tpot_ms"), 5)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var l Ledger
	for n := 9; n <= 14; n++ {
		l.Update(Check(pts[:n], Options{}), t0.Add(time.Duration(n)*time.Hour))
		back, err := ParseLedger("text\n" + l.Marshal() + "\nmore")
		if err != nil {
			t.Fatal(err)
		}
		l = back
	}
	if len(l.Entries) != 1 || !l.Entries[0].IsOpen() || l.Entries[0].FirstBad != "c000008" || l.Entries[0].LastGood != "c000007" || l.Entries[0].Provisional {
		t.Fatalf("after the step: %+v", l.Entries)
	}
	// A second regression later adds an entry; the first keeps its range.
	more := append(append([]float64{}, xs...), noisy(rng, 3, 12.5, 0.003)...)
	pts2 := withFail(series(more, "median_tpot_ms"), 5)
	l.Update(Check(pts2, Options{}), t0.Add(20*time.Hour))
	if len(l.Entries) != 2 || l.Entries[0].FirstBad != "c000008" || l.Entries[0].LastGood != "c000007" || l.Entries[1].FirstBad != "c000014" {
		t.Fatalf("a later alarm: %+v", l.Entries)
	}
	// Accepting the newest level closes what the accepted series no longer shows.
	mark := Point{Version: 1, Kind: KindAccept, Commit: "c000014", Time: t0.Add(21 * time.Hour), Reason: "bigger batches by default"}
	l.Update(Check(append(pts2, mark), Options{}), t0.Add(22*time.Hour))
	for _, e := range l.Entries {
		if e.IsOpen() || !strings.Contains(e.Why, "bigger batches") {
			t.Errorf("after accept: %+v", e)
		}
	}
	// A provisional alarm that the next point does not confirm is closed
	// as such (a single point opens one with AtOnce 1).
	var p Ledger
	ys := series(append(noisy(rng, 10, 10, 0.003), 11, 10), "median_tpot_ms")
	p.Update(Check(ys[:11], Options{AtOnce: 1}), t0)
	p.Update(Check(ys, Options{AtOnce: 1}), t0.Add(time.Hour))
	if len(p.Entries) != 1 || p.Entries[0].IsOpen() || !strings.Contains(p.Entries[0].Why, "not confirmed") {
		t.Errorf("an unconfirmed alarm: %+v", p.Entries)
	}
	if _, err := ParseLedger("<!-- perfgate:ledger:bm90IGpzb24= -->"); err == nil {
		t.Error("a forged record that does not parse must be an error")
	}
	// An edited record whose commits are not SHAs is refused: they reach
	// git's arguments (rev-list --output=… truncated a file).
	for _, bad := range []Entry{{FirstBad: "--output=/tmp/x", LastGood: "c000007"}, {FirstBad: "c000008", LastGood: "HEAD~3"},
		{FirstBad: "c000008", Culprit: "c000001..c000009"}} {
		b, _ := json.Marshal(Ledger{Entries: []Entry{bad}})
		body := "<!-- perfgate:ledger:" + base64.StdEncoding.EncodeToString(b) + " -->"
		if _, err := ParseLedger(body); err == nil || !strings.Contains(err.Error(), "not a commit SHA") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// The plain form written before the compact one still reads.
	b, _ := json.Marshal(l)
	if back, err := ParseLedger("<!-- perfgate:ledger:" + base64.StdEncoding.EncodeToString(b) + " -->"); err != nil || len(back.Entries) != len(l.Entries) {
		t.Errorf("the plain form: %+v, %v", back, err)
	}
}

// The newest two points together open a provisional regression named by
// the older (pairAlarm); one odd point beside a usual one does not, and a
// set of series checked together widens the pair's bound. End to end, a
// series whose newest two points are 9–10 % slower has a regression open
// at the older of them.
func TestNewestTwoPointsTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seg := make([]float64, 20) // log values: mean 0, 3 % noise
	for i := range seg {
		seg[i] = 0.03 * rng.NormFloat64()
	}
	m, _ := stats.MeanSD(seg)
	worse := func(d float64) bool { return d > 0 }
	o := Options{}
	o.defaults()
	step := math.Log1p(0.05)
	with := func(a, b float64) []float64 { return append(slices.Clone(seg), m+a, m+b) }
	g, ok := pairAlarm(with(0.065, 0.065), 0, step, worse, o)
	if !ok || g.Index != 20 || g.Newest != 2 || !g.Provisional || math.Abs(g.After-g.Before-0.065) > 1e-9 {
		t.Errorf("a pair 6.5 %% past its segment, alone: %+v %v", g, ok)
	}
	o.Family = 18
	if g, ok := pairAlarm(with(0.065, 0.065), 0, step, worse, o); ok {
		t.Errorf("the same pair as one of 18 series: %+v", g)
	}
	if _, ok := pairAlarm(with(0.09, 0.09), 0, step, worse, o); !ok {
		t.Error("a pair 9 % past, one of 18 series: no alarm")
	}
	// One odd point beside a usual one: their mean is 6.5 % past the
	// segment, but not both are half a step beyond it.
	o.Family = 1
	if g, ok := pairAlarm(with(0.12, 0.01), 0, step, worse, o); ok {
		t.Errorf("one odd point beside a usual one: %+v", g)
	}
	// However far off the odd one is: three times slower beside a point
	// 3 % past the segment is the newest point's alarm, not a pair's.
	if g, ok := pairAlarm(with(0.03, math.Log(3)), 0, step, worse, o); ok {
		t.Errorf("a usual point, then one three times slower: %+v", g)
	}
	// Under the smallest step, or better, never.
	for _, d := range []float64{0.04, -0.2} {
		if g, ok := pairAlarm(with(d, d), 0, step, worse, Options{Family: 1, PairAlpha: 0.5, Window: 30}); ok {
			t.Errorf("a pair %+.2f past: %+v", d, g)
		}
	}
	pts := withFail(series(append(noisy(rng, 20, 100, 0.01), 110, 109), "median_tpot_ms"), 5)
	if open := Check(pts, Options{})[0].Open(); len(open) != 1 || open[0].FirstBad != "c000020" || open[0].LastGood != "c000019" {
		t.Errorf("two points +9–10 %%: %+v", open)
	}
}
