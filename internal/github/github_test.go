package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/gate"
	"github.com/perfgate/perfgate/internal/github/githubtest"
	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
)

const (
	baseSHA = "1111111111111111111111111111111111111111"
	headSHA = "2222222222222222222222222222222222222222"
)

func client(t *testing.T, srv *githubtest.Server, token string) *Client {
	t.Helper()
	c, err := NewClient(srv.URL, token, srv.Owner+"/"+srv.Repo)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sampleReport(verdict metric.Verdict) *Report {
	ch := 4.2
	lo, hi := 2.0, 6.5
	c := &comparison.ValidComparison{SchemaVersion: 1, Scenario: "chat", Environment: "engine vllm; GPUs NVIDIA H100; driver 550.54"}
	c.Outcome.Verdict = verdict
	c.Outcome.Headline = strings.ToUpper(string(verdict)) + ": median_tpot_ms +4.2 %"
	c.Outcome.Results = []comparison.ValidResult{{Level: 1, Metric: "median_tpot_ms", Verdict: verdict, BaselineMedian: 10, CandMedian: 10.42, ChangePct: &ch, CILowPct: &lo, CIHighPct: &hi, P: 0.004, Gating: true, CanBeSignif: true}}
	return &Report{Set: "pr-suite", Verdict: verdict, PR: 42, Title: "Faster decode", BaseSHA: baseSHA, HeadSHA: headSHA,
		BaseRef: "main", HeadRef: "fast-decode", Profile: "pr", RunURL: "https://github.com/o/r/actions/runs/9",
		Scenarios: []ScenarioResult{{Name: "chat", Comparison: c}}}
}

func TestStickyCommentCreatedThenEditedNeverSomeoneElses(t *testing.T) {
	for _, token := range []string{githubtest.InstallationToken, githubtest.UserToken} {
		t.Run(token, func(t *testing.T) {
			srv := githubtest.New("vllm-project", "vllm")
			defer srv.Close()
			srv.PerPage = 2 // the bot's comment is on the third page
			for i := range 4 {
				srv.AddComment(42, "alice", fmt.Sprintf("comment %d", i))
			}
			// Someone quoting perfgate's comment, marker and all.
			lookAlike := "> " + Marker("pr-suite") + "\n> ## ✅ perfgate: PASS"
			srv.AddComment(42, "mallory", lookAlike)
			rep := sampleReport("pass")
			pub, err := Publish(context.Background(), client(t, srv, token), rep, nil, PublishOptions{Comment: true})
			if err != nil || pub.CommentURL == "" {
				t.Fatalf("first run: %+v %v", pub, err)
			}
			rep2 := sampleReport("fail")
			if _, err := Publish(context.Background(), client(t, srv, token), rep2, nil, PublishOptions{Comment: true}); err != nil {
				t.Fatal(err)
			}
			cs, _, _ := srv.Snapshot()
			var mine []githubtest.Comment
			for _, c := range cs {
				if c.User == githubtest.LoginOf(token) {
					mine = append(mine, c)
				}
				if c.User == "mallory" && c.Body != lookAlike {
					t.Errorf("someone else's comment was edited: %q", c.Body)
				}
			}
			if len(mine) != 1 || !strings.Contains(mine[0].Body, "perfgate: FAIL") || !strings.HasPrefix(mine[0].Body, Marker("pr-suite")) {
				t.Fatalf("want one edited comment, got %+v", mine)
			}
			// Another scenario set gets its own comment.
			rep3 := sampleReport("pass")
			rep3.Set = "nightly-long-context"
			Publish(context.Background(), client(t, srv, token), rep3, nil, PublishOptions{Comment: true})
			cs, _, _ = srv.Snapshot()
			if len(cs) != 7 {
				t.Errorf("want 7 comments, got %d", len(cs))
			}
		})
	}
}

func TestAssetsBranchCreatedThenUpdatedAndRaceRetried(t *testing.T) {
	t.Parallel() // waits on processes, not the CPU
	srv := githubtest.New("o", "r")
	defer srv.Close()
	dir := t.TempDir()
	svg := filepath.Join(dir, "hockey.svg")
	os.WriteFile(svg, []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 0o644)
	png := filepath.Join(dir, "hockey.png")
	os.WriteFile(png, []byte("\x89PNG\r\n\x1a\nrest"), 0o644)
	files := []LocalFile{{Scenario: "chat", Name: "hockey.svg", Path: svg}, {Scenario: "chat", Name: "hockey.png", Path: png}}
	c := client(t, srv, githubtest.InstallationToken)
	rep := sampleReport("pass")
	pub, err := Publish(context.Background(), c, rep, files, PublishOptions{AssetsBranch: "perfgate-assets"})
	if err != nil {
		t.Fatal(err)
	}
	got, tip, parents := srv.Branch("perfgate-assets")
	if tip != pub.AssetsCommit || len(parents) != 0 {
		t.Fatalf("an orphan commit at the tip: tip %s, published %s, parents %v", tip, pub.AssetsCommit, parents)
	}
	want := "pr-42/" + headSHA + "/chat/hockey.svg"
	if string(got[want]) != `<svg xmlns="http://www.w3.org/2000/svg"/>` || len(got) != 2 {
		t.Fatalf("files %v", keys(got))
	}
	// Public repository: raw.githubusercontent.com by commit SHA, SVG sanitized.
	p := rep.Scenarios[0].Plots
	if len(p) != 1 || p[0].Img != "https://raw.githubusercontent.com/o/r/"+tip+"/"+want+"?sanitize=true" {
		t.Fatalf("plots %+v", p)
	}
	if md := rep.Comment(""); !strings.Contains(md, p[0].Img) {
		t.Error("the comment must show the plot")
	}

	// Second push, for another head, on top; two lost races on the way.
	srv.RefRaces = 2
	srv.Private = true
	rep2 := sampleReport("pass")
	rep2.HeadSHA = strings.Repeat("3", 40)
	pub2, err := Publish(context.Background(), c, rep2, files, PublishOptions{AssetsBranch: "perfgate-assets", ServerURL: "https://github.com"})
	if err != nil {
		t.Fatal(err)
	}
	got, tip2, parents := srv.Branch("perfgate-assets")
	if tip2 != pub2.AssetsCommit || len(parents) != 1 || len(got) != 4 || got[want] == nil {
		t.Fatalf("second push: tip %s parents %v files %v", tip2, parents, keys(got))
	}
	// Private repository: the /raw/ form, and the PNG where SVG would not render.
	p = rep2.Scenarios[0].Plots
	if !strings.HasPrefix(p[0].Img, "https://github.com/o/r/raw/"+tip2+"/pr-42/") || !strings.HasSuffix(p[0].Img, ".png") || !strings.HasSuffix(p[0].Link, ".svg") {
		t.Fatalf("private plots %+v", p)
	}
	// More races than retries: an error, not a silent loss.
	srv.RefRaces = 10
	if _, err := c.PushFiles(context.Background(), "perfgate-assets", "m", []File{{Path: "x.txt", Data: []byte("x")}}); err == nil || !strings.Contains(err.Error(), "fast forward") {
		t.Errorf("endless races: %v", err)
	}
	if _, err := c.PushFiles(context.Background(), "b", "m", []File{{Path: "../x", Data: nil}}); err == nil {
		t.Error("a path leaving the branch must be refused")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadOnlyTokenDegradesToWarnings(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	dir := t.TempDir()
	svg := filepath.Join(dir, "a.svg")
	os.WriteFile(svg, []byte(`<svg/>`), 0o644)
	var warns []string
	rep := sampleReport("fail")
	pub, err := Publish(context.Background(), client(t, srv, githubtest.ReadOnlyToken), rep, []LocalFile{{Scenario: "chat", Name: "a.svg", Path: svg}},
		PublishOptions{AssetsBranch: "assets", Comment: true, StatusContext: "perfgate/pr-suite", State: StatusFailure, Warn: func(s string) { warns = append(warns, s) }})
	if err != nil {
		t.Fatalf("a read-only token must not fail the job: %v", err)
	}
	if !pub.Degraded || len(warns) != 3 || !strings.Contains(warns[2], "read-only token") {
		t.Errorf("published %+v, warnings %q", pub, warns)
	}
	cs, _, st := srv.Snapshot()
	if len(cs) != 0 || len(st) != 0 {
		t.Error("nothing may be written")
	}
}

func TestStatusSet(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	rep := sampleReport("fail")
	rep.Scenarios[0].Comparison.Outcome.Headline = strings.Repeat("long headline ", 30)
	pub, err := Publish(context.Background(), client(t, srv, githubtest.InstallationToken), rep, nil, PublishOptions{StatusContext: "perfgate/pr-suite", State: StatusFailure})
	if err != nil || !pub.Status {
		t.Fatal(err)
	}
	_, _, st := srv.Snapshot()
	if len(st) != 1 || st[0].SHA != headSHA || st[0].State != "failure" || st[0].Context != "perfgate/pr-suite" ||
		utf8.RuneCountInString(st[0].Description) > 140 || st[0].TargetURL != rep.RunURL {
		t.Errorf("status %+v", st)
	}
}

func TestUpsertIssue(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	c := client(t, srv, githubtest.InstallationToken)
	ctx := context.Background()
	// Nothing to record and no issue: none is opened.
	if u, created, err := c.UpsertIssue(ctx, "<!-- m -->", "x", func(string, bool) (string, bool) { return "", false }, nil); u != "" || created || err != nil {
		t.Fatalf("nothing to open: %q %v %v", u, created, err)
	}
	u1, created, err := c.UpsertIssue(ctx, "<!-- m -->", "regression", func(old string, exists bool) (string, bool) {
		return "<!-- m -->\nfirst", !exists && old == ""
	}, []string{"performance"})
	if err != nil || !created {
		t.Fatal(err)
	}
	// The second sees the first's body, and builds on it.
	u2, created, err := c.UpsertIssue(ctx, "<!-- m -->", "regression again", func(old string, exists bool) (string, bool) {
		return old + "\nsecond", exists
	}, nil)
	if err != nil || created || u1 != u2 {
		t.Fatalf("second: %s %v %v", u2, created, err)
	}
	_, is, _ := srv.Snapshot()
	if len(is) != 1 || is[0].Body != "<!-- m -->\nfirst\nsecond" || is[0].Labels[0] != "performance" {
		t.Errorf("issues %+v", is)
	}
}

func TestCommentTruncatedGracefully(t *testing.T) {
	rep := sampleReport("fail")
	base := rep.Scenarios[0].Comparison
	for i := range 60 {
		c := *base
		c.Outcome.Results = nil
		for l := 1; l <= 30; l++ {
			ch := float64(l)
			c.Outcome.Results = append(c.Outcome.Results, comparison.ValidResult{Level: l, Metric: "p99_e2el_ms", Verdict: "fail", ChangePct: &ch, Gating: true, BaselineMedian: 1, CandMedian: 2})
		}
		rep.Scenarios = append(rep.Scenarios, ScenarioResult{Name: fmt.Sprintf("scenario-%02d", i), Comparison: &c,
			Plots: []Plot{{Name: "hockey", Img: "https://raw.githubusercontent.com/o/r/x/a.svg", Link: "https://raw.githubusercontent.com/o/r/x/a.svg"}}})
	}
	md := rep.Comment("https://github.com/o/r/actions/runs/9")
	if n := utf8.RuneCountInString(md); n > MaxComment {
		t.Fatalf("%d characters", n)
	}
	if !strings.HasPrefix(md, Marker("pr-suite")) || !strings.Contains(md, "more: [the job summary](https://github.com/o/r/actions/runs/9) has them all") {
		t.Errorf("truncation must say where the rest is:\n%s", md[len(md)-600:])
	}
	sum := rep.Summary()
	if len(sum) > MaxSummary || strings.Count(sum, "| p99\\_e2el\\_ms |") != 1800 {
		t.Errorf("the summary has every row: %d bytes, %d rows", len(sum), strings.Count(sum, "| p99\\_e2el\\_ms |"))
	}
	// A huge summary is cut at 1 MiB on a character boundary.
	rep.Error = strings.Repeat("é", 10)
	for i := range 5 {
		rep.Scenarios = append(rep.Scenarios, rep.Scenarios[1:]...)
		_ = i
	}
	if s := rep.Summary(); len(s) > MaxSummary || !utf8.ValidString(s) || !strings.Contains(s, "1 MiB") {
		t.Errorf("summary of %d bytes", len(s))
	}
}

func TestHostileStringsAreInert(t *testing.T) {
	rep := sampleReport("fail")
	rep.Title = `<img src=x onerror=alert(1)> [click](https://evil.example) --> @vllm-project/maintainers | **bold** ` + "`code`\n# heading" +
		" see https://phish.example/login or www.phish.example"
	rep.HeadRef = "feature/<script>alert(1)</script>-->"
	rep.BaseRef = "main\u202egnp.exe"
	rep.Scenarios[0].Name = "chat</details><!--"
	rep.Scenarios[0].Comparison.Environment = "GPU <b>x</b>"
	rep.Scenarios = append(rep.Scenarios, ScenarioResult{Name: "broken", Error: "engine said: <!-- hidden --> [x](javascript:alert(1))"})
	md := rep.Comment("")
	for _, bad := range []string{"<img src=x", "<script>", "[click](", "@vllm-project", "</details><!--", "<b>", "<!-- hidden", "](javascript:", "\u202e", "\n# heading", "https://phish", "www.phish"} {
		if strings.Contains(md, bad) {
			t.Errorf("%q reached the comment", bad)
		}
	}
	if strings.Count(md, "-->") != 1+strings.Count(md, "```mermaid") {
		t.Errorf("only the marker may close a comment (and Mermaid's axis arrow):\n%s", md)
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "Pull request #42") && strings.Count(line, "|") != strings.Count(line, `\|`) {
			t.Errorf("the title must not make table cells: %s", line)
		}
	}
}

// writeResults builds a results folder as mode benchmark writes it.
func writeResults(t *testing.T, verdict metric.Verdict, mutate func(r *Results, c *comparison.Comparison)) string {
	t.Helper()
	dir := t.TempDir()
	sdir := filepath.Join(dir, "20261128T000000Z_ab", "chat")
	os.MkdirAll(filepath.Join(sdir, "plots"), 0o755)
	c := &comparison.Comparison{SchemaVersion: 1, Scenario: "chat", Baseline: []string{"b/trial-01"}, Candidate: []string{"c/trial-01"},
		Environment: "engine vllm", Commits: map[string]string{"baseline": baseSHA, "candidate": headSHA},
		Rules:   gate.Rules{Alpha: 0.05, MinTrials: 3, Metrics: []gate.Rule{{Metric: "median_tpot_ms", WarnPct: 3, FailPct: 5}}},
		Explain: []comparison.Change{}}
	// trial data that make the stated verdict (the reporter decides again)
	base := []float64{10, 10.05, 9.95, 10.02}
	factor := map[metric.Verdict]float64{metric.Pass: 1, metric.Warn: 1.045, metric.Fail: 1.3}[verdict]
	cand := make([]float64, len(base))
	for i, v := range base {
		cand[i] = v * factor
	}
	c.Outcome = gate.Decide([]gate.Input{{Level: 1, Metric: "median_tpot_ms", Baseline: base, Candidate: cand}}, c.Rules)
	c.Outcome.Headline = string(verdict)
	if c.Outcome.Verdict != verdict {
		t.Fatalf("the fixture's data say %s, not %s", c.Outcome.Verdict, verdict)
	}
	r := Results{Set: "pr-suite", Profile: "pr", PR: 42, BaseSHA: baseSHA, HeadSHA: headSHA, Verdict: verdict,
		Scenarios: []ResultScenario{{Name: "chat", Dir: filepath.Join("20261128T000000Z_ab", "chat")}}}
	if mutate != nil {
		mutate(&r, c)
	}
	b, _ := json.Marshal(c)
	os.WriteFile(filepath.Join(sdir, "comparison.json"), b, 0o644)
	os.WriteFile(filepath.Join(sdir, "plots", "hockey.svg"), []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>x</text></svg>`), 0o644)
	os.WriteFile(filepath.Join(sdir, "plots", "hockey.png"), tinyPNG(t), 0o644)
	if err := WriteResults(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadResultsAcceptsGoodAndRejectsTampered(t *testing.T) {
	dir := writeResults(t, "fail", nil)
	r, rep, files, err := LoadResults(dir, Expect{HeadSHA: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	if r.PR != 42 || rep.Verdict != "fail" || len(files) != 2 || rep.Scenarios[0].Comparison.Outcome.Verdict != "fail" {
		t.Fatalf("%+v %+v %v", r, rep, files)
	}
	sdir := filepath.Join(dir, "20261128T000000Z_ab", "chat")
	cases := map[string]func(dir string){
		"another head commit": func(string) {},
		"unknown manifest field": func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
			os.WriteFile(filepath.Join(dir, ResultsFile), []byte(strings.Replace(string(b), "{", `{"extra":1,`, 1)), 0o644)
		},
		"verdict softened": func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
			os.WriteFile(filepath.Join(dir, ResultsFile), []byte(strings.Replace(string(b), `"verdict": "fail"`, `"verdict": "pass"`, 1)), 0o644)
		},
		"path out of the folder": func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
			os.WriteFile(filepath.Join(dir, ResultsFile), []byte(strings.Replace(string(b), `"dir": "20261128T000000Z_ab/chat"`, `"dir": "../../etc"`, 1)), 0o644)
		},
		"script in an SVG": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "hockey.svg"), []byte(`<svg><script>alert(1)</script></svg>`), 0o644)
		},
		"event handler in an SVG": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "hockey.svg"), []byte(`<svg onload="alert(1)"/>`), 0o644)
		},
		"entity in an SVG": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "hockey.svg"), []byte(`<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg>&x;</svg>`), 0o644)
		},
		"not a PNG": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "hockey.png"), []byte("<html>"), 0o644)
		},
		"symlinked plot": func(dir string) {
			p := filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "hockey.png")
			os.Remove(p)
			os.Symlink("/etc/passwd", p)
		},
		"odd plot name": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "x.html"), []byte("x"), 0o644)
		},
		"huge plot": func(dir string) {
			os.WriteFile(filepath.Join(dir, "20261128T000000Z_ab", "chat", "plots", "big.png"), make([]byte, maxPlotBytes+1), 0o644)
		},
		"comparison with an extra field": func(dir string) {
			p := filepath.Join(dir, "20261128T000000Z_ab", "chat", "comparison.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "{", `{"html":"<script>",`, 1)), 0o644)
		},
	}
	_ = sdir
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeResults(t, "fail", nil)
			tamper(dir)
			exp := Expect{HeadSHA: headSHA}
			if name == "another head commit" {
				exp.HeadSHA = strings.Repeat("9", 40)
			}
			if _, _, _, err := LoadResults(dir, exp); err == nil {
				t.Error("accepted")
			}
		})
	}
	// The comparison compares other commits than the manifest says.
	dir = writeResults(t, "fail", func(r *Results, c *comparison.Comparison) { c.Commits["candidate"] = strings.Repeat("4", 40) })
	if _, _, _, err := LoadResults(dir, Expect{HeadSHA: headSHA}); err == nil {
		t.Error("a comparison of other commits was accepted")
	}
}

func TestReadEvent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(p, []byte(`{"number":7,"pull_request":{"number":7,"title":"t","base":{"sha":"`+baseSHA+`","ref":"main","repo":{"full_name":"o/r"}},"head":{"sha":"`+headSHA+`","ref":"f","repo":{"full_name":"fork/r"}}}}`), 0o644)
	ev, err := ReadEvent("pull_request", p)
	if err != nil || ev.PR != 7 || ev.BaseSHA != baseSHA || ev.HeadSHA != headSHA || !ev.Fork || ev.HeadRef != "f" {
		t.Fatalf("%+v %v", ev, err)
	}
	os.WriteFile(p, []byte(`{"workflow_run":{"id":5,"head_sha":"`+headSHA+`","event":"pull_request","conclusion":"success","pull_requests":[]}}`), 0o644)
	ev, err = ReadEvent("workflow_run", p)
	if err != nil || ev.Run.HeadSHA != headSHA || ev.Run.ID != 5 || len(ev.Run.PRs) != 0 {
		t.Fatalf("%+v %v", ev, err)
	}
	os.WriteFile(p, []byte(`{`), 0o644)
	if _, err := ReadEvent("push", p); err == nil {
		t.Error("a broken payload must be an error")
	}
}

func TestHistoryStoreThroughTheAPI(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	st := &HistoryStore{C: client(t, srv, githubtest.InstallationToken), Branch: "perfgate-history"}
	pt := func(scen, commit string, v float64) history.Point {
		return history.Point{Version: 1, Scenario: scen, Level: 1, Metric: "median_tpot_ms", Value: v, Commit: commit, RunID: "run-" + commit, Env: "h100"}
	}
	if pts, err := st.Load(context.Background()); err != nil || len(pts) != 0 {
		t.Fatalf("an absent branch is an empty store: %v %v", pts, err)
	}
	n, err := st.Append(context.Background(), []history.Point{pt("chat", "a1", 10), pt("rag", "a1", 20)})
	if err != nil || n != 2 {
		t.Fatalf("append: %d %v", n, err)
	}
	// Idempotent; and a lost race is read again and retried.
	srv.RefRaces = 1
	n, err = st.Append(context.Background(), []history.Point{pt("chat", "a1", 10), pt("chat", "b2", 11)})
	if err != nil || n != 1 {
		t.Fatalf("second append: %d %v", n, err)
	}
	// Two writers at once: both land.
	var wg sync.WaitGroup
	for _, c := range []string{"c3", "d4"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Append(context.Background(), []history.Point{pt("chat", c, 12)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	pts, err := st.Load(context.Background())
	if err != nil || len(pts) != 5 {
		t.Fatalf("load: %d points, %v", len(pts), err)
	}
	files, _, _ := srv.Branch("perfgate-history")
	if len(files) != 2 || files["history-chat.jsonl"] == nil {
		t.Errorf("files %v", keys(files))
	}
}

func TestLoadMergedShards(t *testing.T) {
	root := t.TempDir()
	for i, v := range []metric.Verdict{metric.Pass, metric.Fail} {
		d := writeResults(t, v, func(r *Results, c *comparison.Comparison) {
			r.Scenarios[0].Name = fmt.Sprintf("chat-%d", i)
		})
		os.Rename(d, filepath.Join(root, fmt.Sprintf("perfgate-shard-%d", i)))
	}
	r, rep, files, err := LoadMerged(root, Expect{HeadSHA: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != "fail" || rep.Verdict != "fail" || len(rep.Scenarios) != 2 || len(files) != 4 {
		t.Fatalf("merged: %+v, %d scenarios, %d files", r, len(rep.Scenarios), len(files))
	}
	// A shard of another comparison is refused.
	d := writeResults(t, "pass", func(r *Results, c *comparison.Comparison) {
		r.Scenarios[0].Name = "rag"
		r.BaseSHA = strings.Repeat("5", 40)
		c.Commits["baseline"] = r.BaseSHA
	})
	os.Rename(d, filepath.Join(root, "perfgate-shard-9"))
	if _, _, _, err := LoadMerged(root, Expect{HeadSHA: headSHA}); err == nil || !strings.Contains(err.Error(), "not one run") {
		t.Errorf("mixed shards: %v", err)
	}
	if _, _, _, err := LoadMerged(t.TempDir(), Expect{}); err == nil {
		t.Error("an empty folder must be an error")
	}
}

// Issue 17: a fork's code writes the results folder. A stated verdict that
// its own trial data do not give is refused, whatever the rows say.
func TestLoadResultsRefusesForgedVerdicts(t *testing.T) {
	forge := map[string]func(r *Results, c *comparison.Comparison){
		"overall pass over failing rows": func(r *Results, c *comparison.Comparison) {
			r.Verdict, c.Outcome.Verdict = "pass", "pass"
		},
		"rows and overall pass over failing data": func(r *Results, c *comparison.Comparison) {
			r.Verdict, c.Outcome.Verdict = "pass", "pass"
			for i := range c.Outcome.Results {
				c.Outcome.Results[i].Verdict = "pass"
			}
		},
		"a metric dropped from the gate": func(r *Results, c *comparison.Comparison) {
			r.Verdict, c.Outcome.Verdict = "pass", "pass"
			c.Outcome.Results[0].Verdict, c.Outcome.Results[0].Gating = "pass", false
		},
	}
	for name, f := range forge {
		d := writeResults(t, "fail", f)
		if _, _, _, err := LoadResults(d, Expect{HeadSHA: headSHA}); err == nil || !strings.Contains(err.Error(), "do not follow from its trial data") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func tinyPNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Issue 17: the assets branch takes only what it should.
func TestLoadResultsSanitizesPlots(t *testing.T) {
	plotDir := func(d string) string { return filepath.Join(d, "20261128T000000Z_ab", "chat", "plots") }
	// A PNG with something riding after its end is re-encoded clean.
	d := writeResults(t, "pass", nil)
	os.WriteFile(filepath.Join(plotDir(d), "hockey.png"), append(tinyPNG(t), []byte("<script>alert(1)</script>")...), 0o644)
	_, _, files, err := LoadResults(d, Expect{HeadSHA: headSHA})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Name == "hockey.png" && bytes.Contains(f.Data, []byte("script")) {
			t.Error("the PNG was pushed as it came")
		}
	}
	// Anything behind a PNG signature, and SVG with CSS or animation, are refused.
	for name, data := range map[string][]byte{
		"hockey.png": []byte("\x89PNG\r\n\x1a\n<html>"),
		"hockey.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg"><rect fill="url(https://evil/x)"/></svg>`),
		"trials.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg"><set attributeName="fill" to="red"/></svg>`),
	} {
		d := writeResults(t, "pass", nil)
		os.WriteFile(filepath.Join(plotDir(d), name), data, 0o644)
		if _, _, _, err := LoadResults(d, Expect{HeadSHA: headSHA}); err == nil {
			t.Errorf("%s %q accepted", name, data)
		}
	}
}

func TestAssetFoldersAreSafeAndUnique(t *testing.T) {
	rep := &Report{Scenarios: []ScenarioResult{{Name: ".."}, {Name: "a b"}, {Name: "a/b"}, {Name: "../x"}}}
	f := assetFolders(rep)
	seen := map[string]bool{}
	for name, folder := range f {
		if folder == "" || strings.Contains(folder, "..") || strings.HasPrefix(folder, ".") || strings.Contains(folder, "/") || seen[folder] {
			t.Errorf("%q → %q", name, folder)
		}
		seen[folder] = true
	}
}

// The chart reads correctly: points of "how much worse" on a line against
// zero, never bars (xychart-beta draws bars up from the axis' bottom).
func TestCommentChartIsLinesAroundZero(t *testing.T) {
	rep := sampleReport("fail")
	c := rep.Scenarios[0].Comparison
	th := -8.0
	c.Outcome.Results = append(c.Outcome.Results, comparison.ValidResult{Level: 1, Metric: "output_throughput", Verdict: "fail", ChangePct: &th, Gating: true})
	md := rep.Comment("")
	if strings.Contains(md, "bar [") || !strings.Contains(md, "line [4.20, 8.00]") || !strings.Contains(md, "line [0, 0]") {
		t.Errorf("chart:\n%s", md)
	}
}

// The comment leads with each scenario's change-per-metric chart, right
// under the verdicts and before the table; the other charts stay folded, the
// change chart is not shown twice, and the Mermaid chart it replaces is gone.
func TestCommentLeadsWithTheChangeChart(t *testing.T) {
	rep := sampleReport("fail")
	u := func(n string) string { return "https://raw.githubusercontent.com/o/r/x/" + n + ".svg" }
	rep.Scenarios[0].Plots = []Plot{{Name: "change", Img: u("change"), Link: u("change")}, {Name: "metric-p99_ttft_ms", Img: u("m"), Link: u("m")}}
	md := rep.Comment("https://github.com/o/r/actions/runs/9")
	lead, table, folded := strings.Index(md, u("change")), strings.Index(md, "| | metric | Δ (95 % CI) |"), strings.Index(md, "<summary>Plots</summary>")
	if lead < 0 || table < 0 || folded < 0 || lead > table || strings.Count(md, u("change")) != 2 || !strings.Contains(md[folded:], u("m")) {
		t.Errorf("chart at %d, table at %d, plots at %d:\n%s", lead, table, folded, md)
	}
	if strings.Contains(md, "```mermaid") {
		t.Error("the Mermaid chart is still there beside the change chart")
	}
}

// fail-on decides which verdicts turn the commit status red.
func TestStatusState(t *testing.T) {
	for _, c := range []struct {
		v      metric.Verdict
		failOn string
		want   string
	}{
		{metric.Pass, "fail", StatusSuccess}, {metric.Warn, "fail", StatusSuccess}, {metric.Fail, "fail", StatusFailure},
		{metric.Warn, "warn", StatusFailure}, {metric.Fail, "never", StatusSuccess}, {metric.Error, "never", StatusError},
	} {
		if got := StatusState(c.v, c.failOn); got != c.want {
			t.Errorf("%s with fail-on %s: %s, want %s", c.v, c.failOn, got, c.want)
		}
	}
}

// A secondary rate limit met by the comment must not stop the status:
// go-github refuses, without asking, every later call of a client that met
// one, so statuses go through a client of their own.
func TestRateLimitedCommentStillSetsTheStatus(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	srv.Faults = []*githubtest.Fault{{Method: "POST", Path: "/issues/42/comments", Status: 403, Message: "You have exceeded a secondary rate limit.",
		Header: map[string]string{"Retry-After": "600"}, Times: 1}}
	c := client(t, srv, githubtest.InstallationToken)
	if _, _, err := c.UpsertComment(context.Background(), 42, Marker("s"), "body "+Marker("s")); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("the comment: %v, want a rate limit", err)
	}
	if err := c.SetStatus(context.Background(), strings.Repeat("2", 40), StatusSuccess, "perfgate/s", "ok", ""); err != nil {
		t.Fatalf("the status after a limit on the comment: %v", err)
	}
	if _, _, st := srv.Snapshot(); len(st) != 1 {
		t.Errorf("statuses %+v", st)
	}
}

// A 502 that GitHub sends after it made the comment is not retried blindly
// (that made a second comment): the marker is looked up again.
func TestCommentCreatedDespiteA502IsNotDuplicated(t *testing.T) {
	srv := githubtest.New("o", "r")
	defer srv.Close()
	srv.Faults = []*githubtest.Fault{{Method: "POST", Path: "/issues/42/comments", Status: 502, Message: "Bad Gateway", Times: 1, After: true}}
	c := client(t, srv, githubtest.InstallationToken)
	if _, _, err := c.UpsertComment(context.Background(), 42, Marker("s"), "body "+Marker("s")); err != nil {
		t.Fatalf("the comment: %v", err)
	}
	if cs, _, _ := srv.Snapshot(); len(cs) != 1 {
		t.Errorf("%d comments after a 502 that came after the work, want 1", len(cs))
	}
	// A 502 before the work is tried again, once the marker is not found.
	srv.Faults = []*githubtest.Fault{{Method: "POST", Path: "/issues/43/comments", Status: 502, Message: "Bad Gateway", Times: 1}}
	if _, created, err := c.UpsertComment(context.Background(), 43, Marker("s"), "body "+Marker("s")); err != nil || !created {
		t.Fatalf("the comment after a 502 before the work: created %v, %v", created, err)
	}
	if cs, _, _ := srv.Snapshot(); len(cs) != 2 {
		t.Errorf("%d comments in all, want 2", len(cs))
	}
}

// However many regressions are open, the tracking issue stays within
// GitHub's 65,536 characters — before, about 68 filled it and every later
// update failed — its record holds them all, and it says how many rows it
// left out.
func TestTrackingIssueFitsAnIssue(t *testing.T) {
	var l history.Ledger
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 400 {
		l.Entries = append(l.Entries, history.Entry{Scenario: fmt.Sprintf("scenario-with-a-long-name-%03d", i), Level: 1 + i%4, Metric: "median_tpot_ms",
			FirstBad: fmt.Sprintf("%040x", i+1), LastGood: fmt.Sprintf("%040x", i+1000), ChangePct: 7.5, Opened: t0})
	}
	body := TrackingIssueBody(TrackingMarker("s")+"\n## perfgate tracking\n\n", l, TrackingLinks{Server: "https://github.com", Repo: "o/r"}, "https://github.com/o/r/actions/runs/1")
	if len(body) > MaxIssueBody || !strings.Contains(body, "more open regressions are not listed") || !strings.Contains(body, "actions/runs/1") {
		t.Fatalf("%d bytes:\n%.2000s", len(body), body)
	}
	back, err := history.ParseLedger(body)
	if err != nil || len(back.Entries) != 400 {
		t.Errorf("the record: %d entries, %v", len(back.Entries), err)
	}
}

// An artifact names each scenario once, each in a folder of its own: a
// hundred scenarios naming one large comparison cost a recheck each.
func TestLoadResultsRefusesSharedFolders(t *testing.T) {
	d := writeResults(t, "pass", func(r *Results, c *comparison.Comparison) {
		r.Scenarios = append(r.Scenarios, ResultScenario{Name: "chat-again", Dir: r.Scenarios[0].Dir})
	})
	if _, _, _, err := LoadResults(d, Expect{HeadSHA: headSHA}); err == nil || !strings.Contains(err.Error(), "another scenario's too") {
		t.Errorf("two scenarios in one folder: %v", err)
	}
}

// Trials too few for any fail are said where a reader looks: first in the
// status description, and in the comment.
func TestTooFewTrialsToFailIsSaid(t *testing.T) {
	rep := sampleReport("warn")
	rep.Scenarios[0].Comparison.Outcome.Results[0].CanBeSignif = false
	if h := rep.Headline(); !strings.HasPrefix(h, "WARN (too few trials for any fail: chat)") {
		t.Errorf("headline %q", h)
	}
	if md := rep.Comment(""); !strings.Contains(md, "this verdict cannot be a FAIL") {
		t.Errorf("the comment does not say it:\n%s", md)
	}
}

// A fork is whatever is not provably this repository: another id (a fork
// renamed to this repository's name included), or no repository at all (a
// deleted fork's head.repo is null, which passed the fork refusal before).
func TestEventForkIsWhateverIsNotProvablyThisRepository(t *testing.T) {
	for _, c := range []struct {
		head string
		fork bool
	}{
		{`{"id": 1, "full_name": "o/r"}`, false},
		{`{"id": 2, "full_name": "fork/r"}`, true},
		{`{"id": 2, "full_name": "o/r"}`, true},
		{`null`, true},
		{`{"full_name": "o/r"}`, false}, // no ids: by name
	} {
		p := filepath.Join(t.TempDir(), "event.json")
		os.WriteFile(p, []byte(`{"pull_request":{"number":7,"base":{"sha":"`+baseSHA+`","repo":{"id":1,"full_name":"o/r"}},"head":{"sha":"`+headSHA+`","ref":"f","repo":`+c.head+`}}}`), 0o644)
		ev, err := ReadEvent("pull_request", p)
		if err != nil || ev.Fork != c.fork {
			t.Errorf("head repo %s: fork %v (%v), want %v", c.head, ev.Fork, err, c.fork)
		}
		os.WriteFile(p, []byte(`{"workflow_run":{"head_sha":"`+headSHA+`","head_repository":`+c.head+`,"repository":{"id":1,"full_name":"o/r"}}}`), 0o644)
		if ev, err = ReadEvent("workflow_run", p); err != nil || ev.Run.Fork != c.fork {
			t.Errorf("workflow_run head repo %s: fork %v (%v), want %v", c.head, ev.Run.Fork, err, c.fork)
		}
	}
}
