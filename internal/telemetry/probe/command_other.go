//go:build !unix

package probe

import (
	"context"
	"errors"
)

func runCommand(ctx context.Context, argv []string) (stdout, stderr []byte, err error) {
	return nil, nil, errors.New("command probes need a Unix system")
}
