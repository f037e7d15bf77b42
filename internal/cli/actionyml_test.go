package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// actionStep is the shell of one step of action.yml, by name prefix.
func actionStep(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Runs struct {
			Steps []struct{ Name, Run string }
		}
	}
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Name, name) {
			return s.Run
		}
	}
	t.Fatalf("action.yml has no step %q", name)
	return ""
}

func bash(t *testing.T, script string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Issue 17: a Go older than go.mod's on the runner is not taken for one
// that can build perfgate; setup-go runs instead.
func TestActionYAMLChecksGoVersion(t *testing.T) {
	script := actionStep(t, "Look for Go")
	abs, _ := filepath.Abs(filepath.Join("..", ".."))
	for _, c := range []struct {
		version string
		found   bool
	}{{"go1.21.0", false}, {"go9.99.0", true}} {
		bin := t.TempDir()
		os.WriteFile(filepath.Join(bin, "go"), []byte("#!/bin/sh\necho "+c.version+"\n"), 0o755)
		out := filepath.Join(t.TempDir(), "out")
		if log, err := bash(t, script, "PATH="+bin+":/usr/bin:/bin", "GITHUB_ACTION_PATH="+abs, "GITHUB_OUTPUT="+out); err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		b, _ := os.ReadFile(out)
		if got := strings.Contains(string(b), "found=true"); got != c.found {
			t.Errorf("%s: %s", c.version, b)
		}
	}
}

// Issue 17: a module planted in the runner's module cache is not compiled
// into perfgate: the build step verifies the cache against go.sum first.
// The step runs on a small module of the same shape (cmd/perfgate) with a
// module cache of its own, once clean and once with a source file changed.
func TestActionYAMLRefusesAPlantedModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with go")
	}
	const mod, ver = "github.com/aclements/go-moremath", "v0.0.0-20210112150236-f10218a38794"
	real := strings.TrimSpace(sh(t, ".", "go", "env", "GOMODCACHE"))
	dl := filepath.Join(real, "cache", "download", mod, "@v")
	if _, err := os.Stat(filepath.Join(dl, ver+".zip")); err != nil {
		t.Skipf("the module cache has no zip of %s (%v)", mod, err)
	}
	sum, _ := os.ReadFile(filepath.Join("..", "..", "go.sum"))
	var lines []string
	for _, l := range strings.Split(string(sum), "\n") {
		if strings.HasPrefix(l, mod+" "+ver) {
			lines = append(lines, l)
		}
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "cmd", "perfgate"), 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/pgtest\n\ngo 1.26.0\n\nrequire "+mod+" "+ver+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "go.sum"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "cmd", "perfgate", "main.go"), []byte("package main\n\nimport \"github.com/aclements/go-moremath/stats\"\n\nfunc main() { _ = stats.Mean([]float64{1}) }\n"), 0o644)
	cache := t.TempDir()
	dst := filepath.Join(cache, "cache", "download", mod, "@v")
	os.MkdirAll(dst, 0o755)
	for _, ext := range []string{".mod", ".info", ".zip", ".ziphash"} {
		b, err := os.ReadFile(filepath.Join(dl, ver+ext))
		if err != nil {
			t.Skipf("module cache: %v", err)
		}
		os.WriteFile(filepath.Join(dst, ver+ext), b, 0o644)
	}
	script := actionStep(t, "Build perfgate")
	build := func() (string, error) {
		return bash(t, script, "GITHUB_ACTION_PATH="+src, "RUNNER_TEMP="+t.TempDir(), "GITHUB_ENV="+filepath.Join(t.TempDir(), "env"),
			"GOMODCACHE="+cache, "GOPROXY=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local", "BINARY_CACHE=")
	}
	if out, err := build(); err != nil {
		t.Fatalf("a clean cache must build: %v\n%s", err, out)
	}
	// plant code in the extracted module
	var planted string
	filepath.WalkDir(filepath.Join(cache, mod+"@"+ver), func(p string, d os.DirEntry, err error) error {
		if err == nil && planted == "" && strings.HasSuffix(p, ".go") {
			planted = p
		}
		return nil
	})
	if planted == "" {
		t.Fatal("the module was not extracted")
	}
	os.Chmod(planted, 0o644)
	f, _ := os.OpenFile(planted, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\nfunc init() { println(\"planted\") }\n")
	f.Close()
	out, err := build()
	if err == nil || !strings.Contains(out, "modified") {
		t.Errorf("a planted module must stop the build: %v\n%s", err, out)
	}
}
