package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/perfgate/perfgate/internal/comparison"
	"github.com/perfgate/perfgate/internal/metric"
	"github.com/perfgate/perfgate/internal/record"
	"github.com/perfgate/perfgate/internal/svgsafe"
)

// ResultsFile is the manifest of a results folder: what mode benchmark
// leaves for the reporter job.
const ResultsFile = "perfgate-results.json"

// Limits on an untrusted results folder.
const (
	maxManifest  = 1 << 20
	maxScenarios = 100
	maxPlotBytes = 4 << 20
	maxPlotTotal = 64 << 20
	maxPlots     = 40 // per scenario
	// maxComparisonTotal bounds the comparison.json files one artifact
	// has rechecked (each may be 8 MiB; one that size takes a minute).
	maxComparisonTotal = 24 << 20
	// maxFilesTotal bounds the blobs one artifact writes to the assets branch.
	maxFilesTotal = 200
)

// Results is perfgate-results.json.
type Results struct {
	SchemaVersion int              `json:"schema_version"`
	Set           string           `json:"set"`
	Profile       string           `json:"profile"`
	PR            int              `json:"pr"`
	BaseSHA       string           `json:"base_sha"`
	HeadSHA       string           `json:"head_sha"`
	BaseRef       string           `json:"base_ref"`
	HeadRef       string           `json:"head_ref"`
	Verdict       metric.Verdict   `json:"verdict"`
	Error         string           `json:"error,omitempty"`
	Scenarios     []ResultScenario `json:"scenarios"`
	History       *HistoryGate     `json:"history,omitempty"`
}

// HistoryGate is the release candidate checked against the recent history
// of main (mode release with a history store): its medians against the
// band of each series' current segment, two-sided.
type HistoryGate struct {
	Against string         `json:"against"` // what the candidate was compared with, in words
	Verdict metric.Verdict `json:"verdict"` // pass, warn (outside on the better side: review), fail
	Lines   []string       `json:"lines"`   // one per series outside its band
}

// ResultScenario is one scenario's folder (holding comparison.json and
// plots/), relative to the results folder.
type ResultScenario struct {
	Name  string `json:"name"`
	Dir   string `json:"dir"`
	Error string `json:"error,omitempty"`
}

// WriteResults writes the manifest into dir.
func WriteResults(dir string, r Results) error {
	r.SchemaVersion = 1
	return record.WriteJSONAtomic(filepath.Join(dir, ResultsFile), r)
}

// Expect is what the trusted side knows: the reporter's event names the head
// commit (and the pull request, checked against the API by the caller).
type Expect struct {
	HeadSHA string
}

// LocalFile is a plot file on disk, by its name in the report.
type LocalFile struct {
	Scenario, Name, Path string
	// Data is the file as checked (a PNG decoded and encoded again); nil
	// means read Path.
	Data []byte
}

var (
	setRe   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	plotRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,80}\.(svg|png)$`)
	fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// LoadResults reads a results folder strictly, as a reporter must read an
// artifact that a job running pull-request code produced: the manifest's
// schema and sizes, the commits against the trusted event, every
// comparison.json (comparison.ValidateComparison, naming the same commits),
// plot names, sizes and contents (PNG signature; SVG without scripts,
// foreign objects, event handlers or outside references), and no path that
// leaves the folder or passes through a link.
func LoadResults(dir string, exp Expect) (*Results, *Report, []LocalFile, error) {
	r, err := readManifest(dir, exp)
	if err != nil {
		return nil, nil, nil, err
	}
	rep := &Report{Set: r.Set, Verdict: r.Verdict, Error: r.Error, PR: r.PR, BaseSHA: r.BaseSHA, HeadSHA: r.HeadSHA,
		BaseRef: r.BaseRef, HeadRef: r.HeadRef, Profile: r.Profile, History: r.History}
	pl := &plotLoader{dir: dir}
	worst := metric.Pass
	names, dirs := map[string]bool{}, map[string]bool{}
	budget := int64(maxComparisonTotal)
	for i, s := range r.Scenarios {
		if s.Name == "" || len(s.Name) > 200 || len(s.Error) > 8000 {
			return nil, nil, nil, manifestErr("scenario %d: a name of 1 to 200 bytes, please", i)
		}
		// Each scenario once, each in a folder of its own: a hundred
		// scenarios naming one 8 MiB comparison would cost a recheck each.
		if names[s.Name] || (s.Dir != "" && dirs[filepath.Clean(s.Dir)]) {
			return nil, nil, nil, manifestErr("scenario %q: its name or folder %q is another scenario's too", s.Name, s.Dir)
		}
		names[s.Name] = true
		if s.Dir != "" {
			dirs[filepath.Clean(s.Dir)] = true
		}
		sr := ScenarioResult{Name: s.Name, Error: s.Error}
		if s.Error != "" {
			worst = metric.Error
			rep.Scenarios = append(rep.Scenarios, sr)
			continue
		}
		if sr.Comparison, err = loadComparison(dir, s, r, &budget); err != nil {
			return nil, nil, nil, err
		}
		worst = metric.Worst(worst, sr.Comparison.Outcome.Verdict)
		if err := pl.load(s); err != nil {
			return nil, nil, nil, err
		}
		rep.Scenarios = append(rep.Scenarios, sr)
	}
	if r.Verdict != metric.Error && metric.Worst(worst, r.Verdict) != r.Verdict {
		return nil, nil, nil, manifestErr("verdict %q, but the comparisons say %q", r.Verdict, worst)
	}
	return r, rep, pl.files, nil
}

// manifestErr is an error in perfgate-results.json.
func manifestErr(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{ResultsFile}, args...)...)
}

// readManifest reads perfgate-results.json strictly (no unknown field, no
// trailing data) and checks every field: names, verdicts, full SHAs, the
// head commit the workflow ran on, sizes.
func readManifest(dir string, exp Expect) (*Results, error) {
	data, err := readLimited(dir, ResultsFile, maxManifest)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Results
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", ResultsFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the object", ResultsFile)
	}
	switch {
	case r.SchemaVersion != 1:
		return nil, manifestErr("schema_version %d, want 1", r.SchemaVersion)
	case !setRe.MatchString(r.Set):
		return nil, manifestErr("set %q is not a name", r.Set)
	case !r.Verdict.Known():
		return nil, manifestErr("verdict %q", r.Verdict)
	case r.Profile != "pr" && r.Profile != "release":
		return nil, manifestErr("profile %q", r.Profile)
	case r.PR < 0 || r.PR > 1<<31:
		return nil, manifestErr("pr %d", r.PR)
	case !fullSHA.MatchString(r.HeadSHA) || (r.BaseSHA != "" && !fullSHA.MatchString(r.BaseSHA)):
		return nil, manifestErr("commits %q, %q are not full SHAs", r.BaseSHA, r.HeadSHA)
	case r.Verdict != metric.Error && r.BaseSHA == "":
		return nil, manifestErr("no baseline commit")
	case exp.HeadSHA != "" && r.HeadSHA != exp.HeadSHA:
		return nil, manifestErr("head commit %s is not the one the workflow ran on (%s)", r.HeadSHA, exp.HeadSHA)
	case len(r.Scenarios) > maxScenarios:
		return nil, manifestErr("%d scenarios, over %d", len(r.Scenarios), maxScenarios)
	case len(r.Error) > 8000 || len(r.BaseRef) > 1000 || len(r.HeadRef) > 1000:
		return nil, manifestErr("a field is too long")
	}
	if h := r.History; h != nil {
		if !h.Verdict.Known() || h.Verdict == metric.Error || len(h.Against) > 1000 || len(h.Lines) > 200 {
			return nil, manifestErr("history: verdict %q, or a field too long", h.Verdict)
		}
		for _, l := range h.Lines {
			if len(l) > 1000 {
				return nil, manifestErr("history: a line over 1000 bytes")
			}
		}
	}
	return &r, nil
}

// loadComparison reads a scenario's comparison.json from its folder (a
// plain relative path without links) strictly, and checks that it compares
// the manifest's two commits; its bytes come off budget, the artifact's
// comparisons in all.
func loadComparison(dir string, s ResultScenario, r *Results, budget *int64) (*comparison.ValidComparison, error) {
	if !filepath.IsLocal(s.Dir) || s.Dir != filepath.Clean(s.Dir) {
		return nil, manifestErr("scenario %q: folder %q is not a plain relative path", s.Name, s.Dir)
	}
	if err := noLinks(dir, s.Dir); err != nil {
		return nil, err
	}
	cj, err := readLimited(dir, filepath.Join(s.Dir, record.ComparisonFile), comparison.MaxComparisonBytes)
	if err != nil {
		return nil, err
	}
	// the artifact's comparisons in all, before any is rechecked
	if *budget -= int64(len(cj)); *budget < 0 {
		return nil, manifestErr("the comparisons are over %d MiB in all", maxComparisonTotal>>20)
	}
	c, err := comparison.ValidateComparison(cj, r.HeadSHA, r.BaseSHA)
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", s.Name, err)
	}
	if c.Commits["candidate"] != r.HeadSHA || c.Commits["baseline"] != r.BaseSHA {
		return nil, fmt.Errorf("scenario %q: comparison.json compares %v, not %s against %s", s.Name, c.Commits, r.HeadSHA, r.BaseSHA)
	}
	return c, nil
}

// plotLoader reads the scenarios' plots/: only files perfgate writes, each
// checked as an image (PNGs re-encoded), within per-file, per-scenario and
// total limits.
type plotLoader struct {
	dir   string
	files []LocalFile
	total int64
}

func (pl *plotLoader) load(s ResultScenario) error {
	ents, err := os.ReadDir(filepath.Join(pl.dir, s.Dir, "plots"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for n, e := range ents {
		if !plotRe.MatchString(e.Name()) || !e.Type().IsRegular() {
			return fmt.Errorf("scenario %q: plots/%q is not a plot file perfgate writes", s.Name, e.Name())
		}
		if n+1 > maxPlots {
			return fmt.Errorf("scenario %q: more than %d plot files", s.Name, maxPlots)
		}
		rel := filepath.Join(s.Dir, "plots", e.Name())
		b, err := readLimited(pl.dir, rel, maxPlotBytes)
		if err != nil {
			return err
		}
		if pl.total += int64(len(b)); pl.total > maxPlotTotal {
			return fmt.Errorf("the plots are over %d MiB in all", maxPlotTotal>>20)
		}
		if err := checkImage(e.Name(), b); err != nil {
			return fmt.Errorf("scenario %q: plots/%s: %w", s.Name, e.Name(), err)
		}
		if strings.HasSuffix(e.Name(), ".png") {
			b, _ = reencodePNG(b) // checked above
		}
		if len(pl.files) >= maxFilesTotal {
			return fmt.Errorf("more than %d plot files in all", maxFilesTotal)
		}
		pl.files = append(pl.files, LocalFile{Scenario: s.Name, Name: e.Name(), Path: filepath.Join(pl.dir, rel), Data: b})
	}
	return nil
}

// noLinks refuses a path any of whose parts below dir is a symbolic link.
func noLinks(dir, rel string) error {
	p := dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: refused", p)
		}
	}
	return nil
}

// readLimited reads dir/rel, a regular file (no link) of at most limit bytes.
func readLimited(dir, rel string, limit int64) ([]byte, error) {
	if err := noLinks(dir, rel); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", rel, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: over %d bytes", rel, limit)
	}
	return b, err
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// checkImage accepts a PNG by its signature and an SVG that is well-formed
// XML without anything that runs or fetches.
func checkImage(name string, b []byte) error {
	if strings.HasSuffix(name, ".png") {
		_, err := reencodePNG(b)
		return err
	}
	return svgsafe.Check(b)
}

// maxPNGPixels bounds a plot's decoded size (a decompression bomb is small
// on disk and huge in memory).
const maxPNGPixels = 4096 * 4096

// reencodePNG decodes a PNG and encodes its pixels again: whatever rode
// along (text chunks, data after the end, a polyglot) is gone.
func reencodePNG(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, pngMagic) {
		return nil, errors.New("not a PNG")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a PNG: %w", err)
	}
	if cfg.Width*cfg.Height > maxPNGPixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("a %d×%d PNG is larger than a plot", cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a PNG: %w", err)
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// LoadMerged reads dir as LoadResults does, or, when dir holds no manifest
// itself, every subfolder that does (the artifacts of a sharded benchmark,
// downloaded side by side) as one report: the shards must agree on the
// scenario set, the commits, the pull request and the profile, and name each
// scenario once.
func LoadMerged(dir string, exp Expect) (*Results, *Report, []LocalFile, error) {
	if _, err := os.Lstat(filepath.Join(dir, ResultsFile)); err == nil {
		return LoadResults(dir, exp)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	var res *Results
	var rep *Report
	var files []LocalFile
	seen := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Lstat(filepath.Join(sub, ResultsFile)); err != nil {
			continue
		}
		r, p, fs, err := LoadResults(sub, exp)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("shard %s: %w", e.Name(), err)
		}
		for _, s := range r.Scenarios {
			if seen[s.Name] {
				return nil, nil, nil, fmt.Errorf("shard %s: scenario %q is in another shard too", e.Name(), s.Name)
			}
			seen[s.Name] = true
		}
		if res == nil {
			res, rep, files = r, p, fs
			continue
		}
		if r.Set != res.Set || r.BaseSHA != res.BaseSHA || r.HeadSHA != res.HeadSHA || r.PR != res.PR || r.Profile != res.Profile {
			return nil, nil, nil, fmt.Errorf("shard %s compares %s/%.12s..%.12s (#%d, %s), the others %s/%.12s..%.12s (#%d, %s): not one run",
				e.Name(), r.Set, r.BaseSHA, r.HeadSHA, r.PR, r.Profile, res.Set, res.BaseSHA, res.HeadSHA, res.PR, res.Profile)
		}
		res.Scenarios = append(res.Scenarios, r.Scenarios...)
		rep.Scenarios = append(rep.Scenarios, p.Scenarios...)
		files = append(files, fs...)
		res.Verdict = metric.Worst(res.Verdict, r.Verdict)
		rep.Verdict = res.Verdict
		if r.Error != "" {
			rep.Error = strings.TrimPrefix(rep.Error+"; "+r.Error, "; ")
			res.Error = rep.Error
		}
	}
	if res == nil {
		return nil, nil, nil, fmt.Errorf("%s holds no %s, nor do its subfolders", dir, ResultsFile)
	}
	return res, rep, files, nil
}
