package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// actionStep is the shell of one step of action.yml, by name prefix, and
// the environment its env: block sets (as NAME=value, the constant ones;
// an expression is left out), which the runner gives the shell.
func actionStep(t *testing.T, name string) (script string, env []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Runs struct {
			Steps []struct {
				Name, Run string
				Env       map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Runs.Steps {
		if strings.HasPrefix(s.Name, name) {
			for k, v := range s.Env {
				if !strings.Contains(v, "${{") {
					env = append(env, k+"="+v)
				}
			}
			return s.Run, env
		}
	}
	t.Fatalf("action.yml has no step %q", name)
	return "", nil
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
	script, _ := actionStep(t, "Look for Go")
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
	script, stepEnv := actionStep(t, "Build perfgate")
	build := func() (string, error) {
		return bash(t, script, append(stepEnv, "GITHUB_ACTION_PATH="+src, "RUNNER_TEMP="+t.TempDir(), "GITHUB_ENV="+filepath.Join(t.TempDir(), "env"),
			"GOMODCACHE="+cache, "GOPROXY=off", "GOFLAGS=-modcacherw", "BINARY_CACHE=")...)
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

// What a pull request's code can leave behind as the runner's user does
// not steer the build of perfgate in a later job: a go env file (go env -w
// CC=…, which compiled a planted constructor into perfgate), or a global
// git configuration. The build step runs on a small cgo module; a control
// build with the runner's own settings shows the plant would have run.
func TestActionYAMLIgnoresPlantedGoEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with go and cgo")
	}
	home := t.TempDir()
	marker := filepath.Join(home, "planted-cc-ran")
	evil := filepath.Join(home, "evil-cc")
	os.WriteFile(evil, []byte("#!/bin/sh\ntouch "+marker+"\nexec gcc \"$@\"\n"), 0o755)
	goenv := filepath.Join(home, ".config", "go", "env")
	os.MkdirAll(filepath.Dir(goenv), 0o755)
	os.WriteFile(goenv, []byte("CC="+evil+"\n"), 0o644)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "cmd", "perfgate"), 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/pgcgo\n\ngo 1.26.0\n"), 0o644)
	os.WriteFile(filepath.Join(src, "go.sum"), nil, 0o644)
	os.WriteFile(filepath.Join(src, "cmd", "perfgate", "main.go"), []byte("package main\n\n// int one(void) { return 1; }\nimport \"C\"\n\nfunc main() { _ = C.one() }\n"), 0o644)
	runnerEnv := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "GOPROXY=off", "GOFLAGS=-modcacherw",
		"GOCACHE=" + t.TempDir(), "CGO_ENABLED=1"}
	// the control: a plain build with the runner's settings runs the plant
	if out, err := bash(t, "cd "+src+" && go build -o /dev/null ./cmd/perfgate", runnerEnv...); err != nil {
		t.Fatalf("control build: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the planted go env file did not take effect even for a plain build: the test proves nothing")
	}
	os.Remove(marker)
	script, stepEnv := actionStep(t, "Build perfgate")
	out, err := bash(t, script, append(append(runnerEnv, stepEnv...), "GITHUB_ACTION_PATH="+src, "RUNNER_TEMP="+t.TempDir(),
		"GITHUB_ENV="+filepath.Join(t.TempDir(), "env"), "BINARY_CACHE=")...)
	if err != nil {
		t.Fatalf("the build step: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the build step ran the C compiler a go env file named:\n%s", out)
	}
}

// perfgate-version takes a release tag or source; anything else is an
// error that names the input, before anything is downloaded.
func TestActionYAMLRefusesABadVersion(t *testing.T) {
	script, _ := actionStep(t, "Use a released perfgate")
	out, err := bash(t, script, "WANT=latest; echo pwned", "GITHUB_OUTPUT="+filepath.Join(t.TempDir(), "out"), "GITHUB_ENV="+filepath.Join(t.TempDir(), "env"),
		"RUNNER_TEMP="+t.TempDir(), "RELEASE_URL=http://127.0.0.1:9/none")
	if err == nil || !strings.Contains(out, `perfgate-version: "latest; echo pwned" is not a release tag`) {
		t.Errorf("a bad perfgate-version: %v\n%s", err, out)
	}
}
