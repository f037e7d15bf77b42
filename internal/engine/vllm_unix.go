//go:build unix

package engine

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/perfgate/perfgate/internal/scenario"
)

func startVLLM(ctx context.Context, s *scenario.Scenario, o Options) (Engine, error) {
	bin := o.Bin
	if bin == "" {
		bin = s.Engine.VLLMBin
	}
	if bin == "" && o.PathPrefix != "" {
		bin = filepath.Join(o.PathPrefix, "vllm")
	}
	if bin == "" {
		p, err := exec.LookPath("vllm")
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("engine kind vllm: no vllm on PATH; set engine.vllm_bin, or let perfgate ab install a checkout")}
		}
		bin = p
	}
	if o.LogPath == "" {
		return nil, fmt.Errorf("engine kind vllm needs a log path")
	}
	env := s.Engine.Env
	if s.Engine.TrialPolicy == scenario.TrialReset || (s.Phases.BetweenLevels == scenario.BetweenReset && len(s.LevelSpecs()) > 1) {
		// vLLM mounts POST /reset_prefix_cache only in development mode;
		// engine.env may still say otherwise (it comes after).
		env = append([]string{"VLLM_SERVER_DEV_MODE=1"}, env...)
	}
	if o.EnvDir != "" {
		env = append([]string{"PERFGATE_ENV_DIR=" + o.EnvDir, "VIRTUAL_ENV=" + o.EnvDir}, env...)
	}
	if o.StartSeed != nil {
		env = append([]string{StartSeedEnv + "=" + strconv.FormatUint(*o.StartSeed, 10)}, env...)
	}
	return StartProcess(ctx, ProcessOptions{Bin: bin, PathPrefix: o.PathPrefix, Model: s.Model, Args: s.Engine.Args, Env: env,
		LogPath: o.LogPath, HealthTimeout: s.Engine.HealthTimeout.D()})
}
