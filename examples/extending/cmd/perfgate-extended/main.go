// Command perfgate-extended is perfgate with the extensions of the worked
// example (examples/extending) registered: the same CLI, four more names a
// scenario may use. Build your own the same way: register, then cli.Main.
package main

import (
	"context"
	"os"

	"golang.org/x/term"

	"github.com/perfgate/perfgate/examples/extending"
	"github.com/perfgate/perfgate/internal/cli"
)

func main() {
	extending.Register()
	ctx, stop := cli.WithSignals(context.Background(), os.Stderr) // as cmd/perfgate: a second signal stops the engines and exits
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Args: os.Args,
		IsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}
