package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/report/reporttest"
	"github.com/perfgate/perfgate/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite the fixtures and golden files")

func fixtures(t *testing.T) (string, string) {
	a, b := filepath.Join("testdata", "runs", "baseline"), filepath.Join("testdata", "runs", "candidate")
	if *update {
		reporttest.WriteRun(t, a, "baseline", 1, 1)
		reporttest.WriteRun(t, b, "candidate", 2, 1.3)
	}
	return a, b
}

// must is reporttest.Must.
var must = reporttest.Must

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	reporttest.Golden(t, filepath.Join("testdata", "golden", name), got, *update)
}

func TestGoldenTablesAndCharts(t *testing.T) {
	a, _ := fixtures(t)
	runs, err := LoadAll([]string{a})
	must(t, err)
	out := t.TempDir()
	w, err := Write(context.Background(), runs, out, Formats)
	must(t, err)
	if len(w.Files) != 4+2*11 { // report.*, and plots as SVG and PNG
		t.Errorf("wrote %d files: %v", len(w.Files), w.Files)
	}
	for _, name := range []string{"report.md", "report.csv", "plots/hockey-e2el.svg", "plots/cdf-ttft.svg", "plots/timeline-1.svg", "plots/goodput.svg"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		must(t, err)
		golden(t, strings.ReplaceAll(name, "/", "_"), b)
	}
	r := runs[0]
	if !r.Saturation.Found || r.Saturation.AllMeet || r.Knee != -1 {
		t.Errorf("saturation %+v, knee %d", r.Saturation, r.Knee)
	}
	l := r.Summary.Levels[1]
	if l.Errors != 1 || l.ErrorsByClass["http_5xx"] != 1 || l.Telemetry == nil || l.Telemetry.Measure.GPUUtilMeanPct == nil {
		t.Errorf("level 2: %+v", l)
	}
}

func TestOverlayTwoRuns(t *testing.T) {
	a, b := fixtures(t)
	runs, err := LoadAll([]string{a, b})
	must(t, err)
	out := t.TempDir()
	_, err = write(context.Background(), runs, out, []string{"md"}, false)
	must(t, err)
	svg, _ := os.ReadFile(filepath.Join(out, "plots", "hockey-e2el.svg"))
	for _, want := range []string{">baseline p50<", ">baseline p99<", ">candidate p50<", ">candidate p99<", `stroke="#0072b2"`, `stroke="#d55e00"`} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("the overlaid hockey stick lacks %s", want)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !bytes.Contains(md, []byte("## baseline")) || !bytes.Contains(md, []byte("## candidate")) {
		t.Error("both runs must have a section")
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "timeline-2.svg")); err != nil {
		t.Error("each run gets a timeline")
	}
}

// Every SVG must survive GitHub's image sanitizer and keep a fixed size.
func TestSVGRules(t *testing.T) {
	a, b := fixtures(t)
	runs, err := LoadAll([]string{a, b})
	must(t, err)
	out := t.TempDir()
	_, err = write(context.Background(), runs, out, nil, false)
	must(t, err)
	files, _ := filepath.Glob(filepath.Join(out, "plots", "*.svg"))
	if len(files) < 10 {
		t.Fatalf("%d SVGs", len(files))
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		checkSVG(t, filepath.Base(f), data)
	}
}

func checkSVG(t *testing.T, name string, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	first := true
	texts := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "script", "style", "foreignObject", "image", "use", "a", "iframe":
			t.Errorf("%s has a <%s> element", name, se.Name.Local)
		case "text":
			texts++
		}
		attrs := map[string]string{}
		for _, at := range se.Attr {
			attrs[at.Name.Local] = at.Value
			switch {
			case at.Name.Local == "style", strings.HasPrefix(at.Name.Local, "on"):
				t.Errorf("%s: <%s %s=...>", name, se.Name.Local, at.Name.Local)
			case at.Name.Local == "href", strings.Contains(at.Value, "url("), strings.Contains(at.Value, "data:"):
				t.Errorf("%s: external or embedded reference in <%s %s=%q>", name, se.Name.Local, at.Name.Local, at.Value)
			case at.Name.Local == "font-family" && at.Value != "sans-serif" && at.Value != "serif" && at.Value != "monospace":
				t.Errorf("%s: font-family %q is not generic", name, at.Value)
			}
		}
		if first {
			first = false
			if se.Name.Local != "svg" || attrs["width"] == "" || attrs["height"] == "" || attrs["viewBox"] != fmt.Sprintf("0 0 %s %s", attrs["width"], attrs["height"]) {
				t.Errorf("%s: root %v needs a fixed width, height and matching viewBox", name, attrs)
			}
			if attrs["width"] != "800" {
				t.Errorf("%s: width %s, want 800", name, attrs["width"])
			}
		}
	}
	if texts < 5 {
		t.Errorf("%s has %d texts: a title, axis labels and ticks are expected", name, texts)
	}
}

func TestKilledRunFolder(t *testing.T) {
	a, _ := fixtures(t)
	dir := t.TempDir()
	for _, f := range []string{record.MetaFile, record.ScenarioFile, record.RequestsFile, telemetry.File} {
		b, _ := os.ReadFile(filepath.Join(a, f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	fh, _ := os.OpenFile(filepath.Join(dir, record.RequestsFile), os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"id":999,"phase":"meas`)
	fh.Close()
	r, err := Load(dir)
	must(t, err)
	if r.Complete || len(r.Notices) != 2 || len(r.Summary.Levels) != 2 || r.Summary.Levels[0].Completed != 20 {
		t.Fatalf("complete %v, notices %v, levels %+v", r.Complete, r.Notices, r.Summary.Levels)
	}
	if r.Summary.Levels[1].RequestedRate != 4 || r.Summary.Levels[1].Telemetry == nil {
		t.Errorf("the scenario snapshot and telemetry fill in what result.json would have: %+v", r.Summary.Levels[1])
	}
}

func TestNotRunFolders(t *testing.T) {
	empty := t.TempDir()
	file := filepath.Join(empty, "x")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, d := range []string{"/nonexistent/run", empty, file} {
		if _, err := Load(d); err == nil {
			t.Errorf("%s accepted", d)
		} else if _, ok := err.(*NotRunFolderError); !ok {
			t.Errorf("%s: %T %v", d, err, err)
		}
	}
}

// report.md and report.html are rendered from the same sections: a level's
// warnings reach both (the HTML page once left them out).
func TestMarkdownAndHTMLShowTheSameSections(t *testing.T) {
	a, _ := fixtures(t)
	runs, err := LoadAll([]string{a})
	must(t, err)
	runs[0].Summary.Levels[0].Warnings = append(runs[0].Summary.Levels[0].Warnings, "a <warning> worth reading")
	md := Markdown(runs, nil, "")
	page := htmlReport(runs, nil, nil, nil)
	for _, sec := range runSections(runs[0]) {
		if !strings.Contains(md, "### "+sec.Title+"\n") || !strings.Contains(page, "<h3>"+html.EscapeString(sec.Title)+"</h3>") {
			t.Errorf("section %q is missing from one of them", sec.Title)
		}
	}
	if !strings.Contains(md, "a <warning> worth reading") || !strings.Contains(page, "<li>"+html.EscapeString(levelName(runs[0].Summary.Levels[0]))+": a &lt;warning&gt; worth reading</li>") {
		t.Errorf("the warning must be in both, escaped in HTML:\n%s", page)
	}
}
