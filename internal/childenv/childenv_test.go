package childenv

import (
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	t.Setenv("INPUT_GITHUB_TOKEN", "ghs_secret")
	t.Setenv("ACTIONS_RUNTIME_TOKEN", "rt")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc")
	t.Setenv("MY_DB_PASSWORD", "pw")
	t.Setenv("HF_TOKEN", "hf")
	t.Setenv("CUDA_VISIBLE_DEVICES", "0")
	t.Setenv(passVar, "HF_TOKEN, INPUT_GITHUB_TOKEN")
	env := strings.Join(Env("EXTRA=1"), "\n")
	for _, bad := range []string{"ghs_secret", "=rt", "oidc", "pw"} {
		if strings.Contains(env, bad) {
			t.Errorf("%q reached the child: %s", bad, env)
		}
	}
	for _, good := range []string{"HF_TOKEN=hf", "CUDA_VISIBLE_DEVICES=0", "EXTRA=1", "PATH="} {
		if !strings.Contains(env, good) {
			t.Errorf("%q missing", good)
		}
	}
}
