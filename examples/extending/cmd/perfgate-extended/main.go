// Command perfgate-extended is perfgate with the extensions of the worked
// example (examples/extending) registered: the same CLI, four more names a
// scenario may use. Build your own the same way: register, then cli.Main.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/perfgate/perfgate/examples/extending"
	"github.com/perfgate/perfgate/internal/cli"
)

func main() {
	extending.Register()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Args: os.Args,
		IsTerminal: term.IsTerminal(int(os.Stderr.Fd())),
	})
	stop()
	os.Exit(code)
}
