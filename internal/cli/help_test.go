package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpGolden pins every command's --help (testdata/golden/help/), so a
// change to what perfgate teaches is seen in review; -update rewrites them.
func TestHelpGolden(t *testing.T) {
	for _, path := range commandPaths(newRoot(context.Background(), Env{})) {
		r := runCLI(t, context.Background(), nil, append(path, "--help")...)
		if r.code != ExitOK || r.stderr != "" {
			t.Errorf("%v --help: exit %d, stderr %q", path, r.code, r.stderr)
		}
		name := "perfgate"
		if len(path) > 0 {
			name += "-" + strings.Join(path, "-")
		}
		golden(t, "help/"+name+".txt", r.stdout)
	}
}

// TestUsageErrorsGolden pins what each command says, and its exit code, when
// its arguments or flags are wrong: every message names what was expected.
func TestUsageErrorsGolden(t *testing.T) {
	var b strings.Builder
	root := newRoot(context.Background(), Env{})
	for _, path := range commandPaths(root) {
		cmd, _, _ := root.Find(path)
		for _, extra := range [][]string{{"--no-such-flag"}, {"a", "b", "c", "d"}} {
			if extra[0] == "--no-such-flag" && cmd.DisableFlagParsing {
				continue // sim serve takes vllm serve's command line and warns
			}
			args := append(append([]string{}, path...), extra...)
			r := runCLI(t, context.Background(), nil, args...)
			if r.code == ExitOK {
				continue // takes any number of arguments, or prints help
			}
			if r.code != ExitUsage {
				t.Errorf("perfgate %s: exit %d, want %d (usage)", strings.Join(args, " "), r.code, ExitUsage)
			}
			fmt.Fprintf(&b, "$ perfgate %s\nexit %d\n%s\n", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	golden(t, "usage-errors.txt", b.String())
}

// commandPaths lists every available command below root, root itself
// first, as the arguments that reach it.
func commandPaths(root *cobra.Command) [][]string {
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && sub.Name() != "completion" {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	walk(root, nil)
	return out
}
