// Package site writes the history dashboard: one self-contained HTML page
// (inline style and script, the data embedded as JSON, no external assets
// and no server) that shows, per scenario, level and metric, the trend with
// the band of its current segment, the change points, and the open
// regressions, each point linking to its commit, with a filter and hover
// values. Publish the folder on GitHub Pages, or open it from disk.
package site

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/perfgate/perfgate/internal/history"
	"github.com/perfgate/perfgate/internal/metric"
)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Parse(pageHTML))

// Options of a site.
type Options struct {
	Title string
	// CommitURL makes every point a link: "{sha}" is replaced by the
	// commit, as in https://github.com/vllm-project/vllm/commit/{sha}.
	// Only http and https addresses are used.
	CommitURL string
	Now       time.Time
}

type pointJSON struct {
	Commit string  `json:"c"`
	Value  float64 `json:"v"`
	Time   string  `json:"t"`
	Branch string  `json:"b,omitempty"`
}

type cpJSON struct {
	Index     int     `json:"i"`
	ChangePct float64 `json:"pct"`
	Worse     bool    `json:"worse"`
}

type regJSON struct {
	FirstBad    string  `json:"first_bad"`
	LastGood    string  `json:"last_good"`
	Index       int     `json:"i"`
	ChangePct   float64 `json:"pct"`
	Provisional bool    `json:"provisional,omitempty"`
}

type seriesJSON struct {
	ID       string      `json:"id"`
	Scenario string      `json:"scenario"`
	Level    int         `json:"level"`
	Metric   string      `json:"metric"`
	Env      string      `json:"env"`
	Higher   bool        `json:"higher_is_better"`
	Points   []pointJSON `json:"points"`
	BandFrom int         `json:"band_from"`
	BandLow  *float64    `json:"band_low"`
	BandHigh *float64    `json:"band_high"`
	CPs      []cpJSON    `json:"change_points"`
	Open     []regJSON   `json:"open"`
	Accepted string      `json:"accepted,omitempty"`
}

type data struct {
	Title     string       `json:"title"`
	Generated string       `json:"generated"`
	CommitURL string       `json:"commit_url"`
	Series    []seriesJSON `json:"series"`
}

// build is the page's data: every checked series of pts.
func build(pts []history.Point, results []history.Result, so Options) data {
	if so.Now.IsZero() {
		so.Now = time.Now()
	}
	d := data{Title: so.Title, Generated: so.Now.UTC().Format(time.RFC3339)}
	if d.Title == "" {
		d.Title = "perfgate history"
	}
	if u, err := url.Parse(strings.ReplaceAll(so.CommitURL, "{sha}", "x")); err == nil && (u.Scheme == "https" || u.Scheme == "http") && strings.Contains(so.CommitURL, "{sha}") {
		d.CommitURL = so.CommitURL
	}
	for i, r := range results {
		ps := history.SeriesPoints(pts, r)
		s := seriesJSON{ID: fmt.Sprintf("s%d", i+1), Scenario: r.Series.Scenario, Level: r.Series.Level, Metric: r.Series.Metric, Env: r.Series.Env,
			Higher: metric.HigherIsBetter(r.Series.Metric), BandFrom: r.BandFrom, Accepted: r.Accepted}
		for _, p := range ps {
			s.Points = append(s.Points, pointJSON{Commit: p.Commit, Value: p.Value, Time: p.Time.UTC().Format(time.RFC3339), Branch: p.Branch})
		}
		if !math.IsNaN(r.BandLow) {
			lo, hi := r.BandLow, r.BandHigh
			s.BandLow, s.BandHigh = &lo, &hi
		}
		for _, c := range r.ChangePoints {
			s.CPs = append(s.CPs, cpJSON{Index: c.Index, ChangePct: c.ChangePct, Worse: c.Worse})
		}
		for _, g := range r.Open() {
			s.Open = append(s.Open, regJSON{FirstBad: g.FirstBad, LastGood: g.LastGood, Index: g.Index, ChangePct: g.ChangePct, Provisional: g.Provisional})
		}
		d.Series = append(d.Series, s)
	}
	return d
}

// Page is the dashboard: index.html, and history.json (the same data, for
// scripts), with how many series and open regressions it shows.
type Page struct {
	HTML, JSON   []byte
	Series, Open int
}

// Render builds the page from the points and their checked series (what
// history.Check returned for them).
func Render(pts []history.Point, results []history.Result, so Options) (Page, error) {
	d := build(pts, results, so)
	js, err := json.Marshal(d) // escapes <, > and & so the data cannot end the script element
	if err != nil {
		return Page{}, err
	}
	var b bytes.Buffer
	if err := page.Execute(&b, map[string]any{"Title": d.Title, "Data": template.JS(js)}); err != nil {
		return Page{}, err
	}
	pg := Page{HTML: b.Bytes(), JSON: js, Series: len(d.Series)}
	for _, s := range d.Series {
		pg.Open += len(s.Open)
	}
	return pg, nil
}

// Write writes the page into dir (index.html and history.json).
func (pg Page) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), pg.HTML, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "history.json"), pg.JSON, 0o644)
}
