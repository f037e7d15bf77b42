package history

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/perfgate/perfgate/internal/childenv"
)

// FormatVersion of a stored point; bump on an incompatible change.
const FormatVersion = 1

// Point is one result: a metric of a scenario level at a commit.
type Point struct {
	Version  int       `json:"v"`
	Scenario string    `json:"scenario"`
	Level    int       `json:"level"` // 1-based
	Metric   string    `json:"metric"`
	Value    float64   `json:"value"`
	Commit   string    `json:"commit"`
	Branch   string    `json:"branch,omitempty"`
	Time     time.Time `json:"time"`
	Env      string    `json:"env"`    // GPU, driver and simulator profile: only like points are compared
	RunID    string    `json:"run_id"` // the run folder's name
	Trials   int       `json:"trials"` // values per side that the median came from
	// FailPct is the scenario's fail threshold for the metric when the
	// point was taken (percentage points for error_rate): the smallest step
	// the checks count, unless --min-change says otherwise.
	FailPct float64 `json:"fail_pct,omitempty"`
	// Kind is "" for a measured point and KindAccept for a re-baselining
	// marker (perfgate history accept): from Commit on, the series start
	// anew. A marker with an empty Scenario or Metric applies to all.
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// KindAccept marks an intended change.
const KindAccept = "accept"

func (p Point) key() string {
	return strings.Join([]string{p.Kind, p.Scenario, fmt.Sprint(p.Level), p.Metric, p.Commit, p.RunID}, "\x00")
}

// Series identifies one line of history.
type Series struct {
	Scenario string
	Level    int
	Metric   string
	Env      string
}

func (p Point) series() Series { return Series{p.Scenario, p.Level, p.Metric, p.Env} }

// Store keeps points.
type Store interface {
	Load(ctx context.Context) ([]Point, error)
	// Append adds the points not stored yet (by scenario, level, metric,
	// commit and run id) and says how many it added.
	Append(ctx context.Context, pts []Point) (int, error)
}

// Open returns the store STORE names: "git:BRANCH" (a branch of the git
// repository at repo) or a directory.
func Open(store, repo string) (Store, error) {
	if branch, ok := strings.CutPrefix(store, "git:"); ok {
		if branch == "" {
			return nil, fmt.Errorf("git: needs a branch name, as in git:perfgate-history")
		}
		return &GitStore{Repo: repo, Branch: branch}, nil
	}
	if store == "" {
		return nil, fmt.Errorf("--store names a directory or git:BRANCH")
	}
	return &DirStore{Dir: store}, nil
}

// Parse reads a store file's points (name is for messages).
func Parse(name string, data []byte) ([]Point, error) { return parse(name, data) }

// Encode writes points as store lines.
func Encode(pts []Point) []byte { return encode(pts) }

// NewPoints is pts less those the store has (by scenario, level, metric,
// commit and run id), grouped by store file: what an append adds.
func NewPoints(have, pts []Point) map[string][]Point { return newPoints(have, pts) }

func fileName(scenario string) string {
	if scenario == "" {
		return "history-_all.jsonl" // markers that apply to every scenario
	}
	return "history-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, scenario) + ".jsonl"
}

func parse(name string, data []byte) ([]Point, error) {
	var out []Point
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var p Point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s:%d: not a history point: %v", name, line, err)
		}
		if p.Version != FormatVersion {
			return nil, fmt.Errorf("%s:%d: format version %d, this perfgate reads %d", name, line, p.Version, FormatVersion)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

func encode(pts []Point) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, p := range pts {
		enc.Encode(p)
	}
	return b.Bytes()
}

// newPoints keeps the points whose keys are not in have, grouped by file.
func newPoints(have []Point, pts []Point) map[string][]Point {
	seen := map[string]bool{}
	for _, p := range have {
		seen[p.key()] = true
	}
	byFile := map[string][]Point{}
	for _, p := range pts {
		if seen[p.key()] {
			continue
		}
		seen[p.key()] = true
		p.Version = FormatVersion
		byFile[fileName(p.Scenario)] = append(byFile[fileName(p.Scenario)], p)
	}
	return byFile
}

// DirStore is a directory of history-<scenario>.jsonl files: easy to keep in a
// CI cache or artifact.
//
// It survives torn writes: an append holds a lock on the directory
// (.perfgate-history.lock) while it reads the files and replaces each one it
// adds to with a complete new copy (written beside it, then renamed over
// it), so concurrent appends never lose a point and a crash or a full disk
// leaves the old file whole. A file whose last line was cut short (written
// by an older perfgate, or by hand) has that line skipped with a warning,
// and the next append drops it.
type DirStore struct {
	Dir string
	// Warn is told of a torn line skipped (nil: not told).
	Warn func(string)
}

// lockName is the lock file in a DirStore's directory.
const lockName = ".perfgate-history.lock"

// Load implements Store.
func (d *DirStore) Load(context.Context) ([]Point, error) {
	pts, _, err := d.load()
	return pts, err
}

// load reads every file: their points, and each file's complete lines by
// name (what an append writes its points after).
func (d *DirStore) load() ([]Point, map[string][]byte, error) {
	files, _ := filepath.Glob(filepath.Join(d.Dir, "history-*.jsonl"))
	slices.Sort(files)
	var out []Point
	contents := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		b = d.whole(f, b)
		pts, err := parse(f, b)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, pts...)
		contents[filepath.Base(f)] = b
	}
	return out, contents, nil
}

// whole is a file's complete lines: a last line without its newline that
// is not a point is a torn write, left out with a warning.
func (d *DirStore) whole(name string, b []byte) []byte {
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return b
	}
	i := bytes.LastIndexByte(b, '\n') + 1
	var p Point
	if json.Unmarshal(b[i:], &p) == nil {
		return b // a complete point, only without its newline
	}
	if d.Warn != nil {
		d.Warn(fmt.Sprintf("%s:%d: the last line is cut short (%d bytes, a write that did not finish): skipped; the next append drops it", name, 1+bytes.Count(b[:i], []byte("\n")), len(b)-i))
	}
	return b[:i]
}

// Append implements Store.
func (d *DirStore) Append(ctx context.Context, pts []Point) (int, error) {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return 0, err
	}
	lock := flock.New(filepath.Join(d.Dir, lockName))
	locked, err := lock.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil || !locked {
		return 0, fmt.Errorf("locking the history store %s: %w", d.Dir, cmp.Or(err, ctx.Err()))
	}
	defer lock.Unlock()
	have, contents, err := d.load()
	if err != nil {
		return 0, err
	}
	add := newPoints(have, pts)
	names := slices.Sorted(maps.Keys(add))
	n := 0
	for _, name := range names {
		path := filepath.Join(d.Dir, name)
		old := slices.Clip(contents[name])
		if len(old) > 0 && old[len(old)-1] != '\n' {
			old = append(old, '\n')
		}
		if err := replaceFile(path, append(old, encode(add[name])...)); err != nil {
			return n, err
		}
		n += len(add[name])
	}
	return n, nil
}

// replaceFile writes data to path whole or not at all: to a file beside it,
// synced, then renamed over it.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s (it is unchanged): %w", path, err)
	}
	return nil
}

// GitStore keeps the files on a branch of a local git repository (an orphan
// branch, created when absent), one commit per append, without touching the
// working tree. Pushing it is the caller's business.
type GitStore struct{ Repo, Branch string }

func (g *GitStore) git(ctx context.Context, env []string, stdin []byte, args ...string) (string, error) {
	return childenv.GitWith(ctx, childenv.GitOpts{Env: env, Stdin: stdin}, g.Repo, args...)
}

func (g *GitStore) head(ctx context.Context) string {
	sha, err := g.git(ctx, nil, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+g.Branch)
	if err != nil {
		return ""
	}
	return sha
}

// Load implements Store.
func (g *GitStore) Load(ctx context.Context) ([]Point, error) {
	head := g.head(ctx)
	if head == "" {
		return nil, nil
	}
	names, err := g.git(ctx, nil, nil, "ls-tree", "--name-only", head)
	if err != nil {
		return nil, err
	}
	var out []Point
	for _, name := range strings.Fields(names) {
		if !strings.HasPrefix(name, "history-") {
			continue
		}
		data, err := g.git(ctx, nil, nil, "show", head+":"+name)
		if err != nil {
			return nil, err
		}
		pts, err := parse(g.Branch+":"+name, []byte(data))
		if err != nil {
			return nil, err
		}
		out = append(out, pts...)
	}
	return out, nil
}

// Append implements Store.
func (g *GitStore) Append(ctx context.Context, pts []Point) (int, error) {
	head := g.head(ctx)
	have, err := g.Load(ctx)
	if err != nil {
		return 0, err
	}
	add := newPoints(have, pts)
	if len(add) == 0 {
		return 0, nil
	}
	idx, err := os.CreateTemp("", "perfgate-index")
	if err != nil {
		return 0, err
	}
	idx.Close()
	os.Remove(idx.Name())
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	if head != "" {
		if _, err := g.git(ctx, env, nil, "read-tree", head); err != nil {
			return 0, err
		}
	}
	n := 0
	names := make([]string, 0, len(add))
	for name := range add {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var old []byte
		if head != "" {
			if s, err := g.git(ctx, nil, nil, "show", head+":"+name); err == nil && s != "" {
				old = append([]byte(s), '\n')
			}
		}
		blob, err := g.git(ctx, nil, append(old, encode(add[name])...), "hash-object", "-w", "--stdin")
		if err != nil {
			return 0, err
		}
		if _, err := g.git(ctx, env, nil, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+name); err != nil {
			return 0, err
		}
		n += len(add[name])
	}
	tree, err := g.git(ctx, env, nil, "write-tree")
	if err != nil {
		return 0, err
	}
	args := []string{"commit-tree", tree, "-m", fmt.Sprintf("perfgate history: %d point(s)", n)}
	if head != "" {
		args = append(args, "-p", head)
	}
	ident := []string{"GIT_AUTHOR_NAME=perfgate", "GIT_AUTHOR_EMAIL=perfgate@localhost", "GIT_COMMITTER_NAME=perfgate", "GIT_COMMITTER_EMAIL=perfgate@localhost"}
	commit, err := g.git(ctx, ident, nil, args...)
	if err != nil {
		return 0, err
	}
	// Compare-and-swap: a concurrent append makes this fail instead of losing points.
	old := head
	if old == "" {
		old = strings.Repeat("0", 40) // the branch must not exist yet
	}
	if _, err := g.git(ctx, nil, nil, "update-ref", "refs/heads/"+g.Branch, commit, old); err != nil {
		return 0, fmt.Errorf("the history branch moved while appending (try again): %w", err)
	}
	return n, nil
}
