package arch

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pathRe finds repository paths in docs and comments: docs/x.md,
// internal/pkg/file.go, testdata/..., scenarios/..., .ci/run.
var pathRe = regexp.MustCompile("(?:^|[\\s`(\"'])((?:docs|internal|testdata|scenarios|examples|cmd|\\.ci)/[A-Za-z0-9_./-]*[A-Za-z0-9_])")

// sectionRe finds a section named in prose: "docs/x.md, *Heading*".
var sectionRe = regexp.MustCompile(`((?:docs/)[A-Za-z0-9_/.-]+\.md)[,;]? \*([^*]+)\*`)

// linkRe finds markdown links to a file of the repository, with an anchor.
var linkRe = regexp.MustCompile(`\]\(([^)#\s]+\.md)?(#[^)\s]+)?\)`)

// TestDocsNameWhatExists: every repository path a doc or a Go comment
// names exists, and every markdown link to a section of a doc finds its
// heading. A file moved or a section renamed breaks the test, not the
// reader.
func TestDocsNameWhatExists(t *testing.T) {
	root := "../.."
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("no git here: %v", err)
	}
	var files []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, ".md") || (strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go")) {
			files = append(files, f)
		}
	}
	anchors := map[string]map[string]bool{}
	headingsOf := func(doc string) map[string]bool {
		if h, ok := anchors[doc]; ok {
			return h
		}
		h := map[string]bool{}
		if b, err := os.ReadFile(filepath.Join(root, doc)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "#") {
					h[slug(strings.TrimLeft(line, "# "))] = true
				}
			}
		}
		anchors[doc] = h
		return h
	}
	for _, f := range files {
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		inFence := false
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if strings.HasSuffix(f, ".go") {
				i := strings.Index(line, "//")
				if i < 0 {
					continue
				}
				line = line[i:]
			} else if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
			}
			for _, m := range pathRe.FindAllStringSubmatch(line, -1) {
				p := strings.TrimRight(m[1], ".")
				if strings.ContainsAny(p, "*{<") || inFence {
					continue // a pattern, a placeholder, or a shell example
				}
				// from the repository's root, or from the file's folder (a
				// link in a doc, a package's own testdata)
				_, err1 := os.Stat(filepath.Join(root, p))
				_, err2 := os.Stat(filepath.Join(root, filepath.Dir(f), p))
				if err1 != nil && err2 != nil {
					t.Errorf("%s:%d names %s, which does not exist", f, n, p)
				}
			}
			for _, m := range sectionRe.FindAllStringSubmatch(line, -1) {
				if !hasHeading(filepath.Join(root, m[1]), m[2]) {
					t.Errorf("%s:%d names the section %q of %s, which has no heading that starts so", f, n, m[2], m[1])
				}
			}
			if !strings.HasSuffix(f, ".md") {
				continue
			}
			for _, m := range linkRe.FindAllStringSubmatch(line, -1) {
				target, anchor := m[1], strings.TrimPrefix(m[2], "#")
				if target == "" && anchor == "" {
					continue
				}
				doc := f
				if target != "" {
					if strings.Contains(target, "://") {
						continue
					}
					doc = filepath.ToSlash(filepath.Join(filepath.Dir(f), target))
					if _, err := os.Stat(filepath.Join(root, doc)); err != nil {
						t.Errorf("%s:%d links %s, which does not exist", f, n, target)
						continue
					}
				}
				if anchor != "" && !headingsOf(doc)[anchor] {
					t.Errorf("%s:%d links %s#%s, a section %s does not have", f, n, target, anchor, doc)
				}
			}
		}
		fh.Close()
	}
}

// hasHeading reports whether the doc has a heading that starts with
// title (a section named by its first words).
func hasHeading(doc, title string) bool {
	b, err := os.ReadFile(doc)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") && strings.HasPrefix(strings.TrimLeft(line, "# "), title) {
			return true
		}
	}
	return false
}

// slug is GitHub's anchor for a heading: lower case, spaces to dashes,
// punctuation other than dashes and underscores dropped.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
