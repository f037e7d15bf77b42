//go:build !unix

package engine

import (
	"context"
	"errors"

	"github.com/perfgate/perfgate/internal/scenario"
)

func startVLLM(context.Context, *scenario.Scenario, Options) (Engine, error) {
	return nil, errors.New("engine kind vllm needs a Unix system (process groups)")
}
