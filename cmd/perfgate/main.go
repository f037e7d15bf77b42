// Command perfgate benchmarks vLLM and OpenAI-compatible servers and gates
// changes on statistically sound regressions. See README.md.
package main

import (
	"context"
	"os"

	"golang.org/x/term"

	"github.com/perfgate/perfgate/internal/cli"
)

func main() {
	// The first signal asks for a graceful stop; a second one stops the
	// engines perfgate started and ends perfgate at once (cli.WithSignals).
	ctx, stop := cli.WithSignals(context.Background(), os.Stderr)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Getenv:     os.Getenv,
		Args:       os.Args,
		IsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}
