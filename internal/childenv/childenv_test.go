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

// An index address may hold a user and token (https://user:token@host/…):
// pip's and uv's are not passed unless named; their other settings are,
// and so is the runner's RUNNER_TRACKING_ID, which its end-of-job cleanup
// finds leftover processes by.
func TestPackageIndexCredentialsStayUnlessNamed(t *testing.T) {
	t.Setenv("PIP_INDEX_URL", "https://u:pipsecret@pypi.example/simple")
	t.Setenv("PIP_EXTRA_INDEX_URL", "https://u:extrasecret@pypi.example/simple")
	t.Setenv("UV_INDEX_PRIVATE_PASSWORD", "uvsecret")
	t.Setenv("UV_DEFAULT_INDEX", "https://u:uvdefault@pypi.example/simple")
	t.Setenv("UV_CACHE_DIR", "/cache/uv")
	t.Setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
	t.Setenv("RUNNER_TRACKING_ID", "github_1234")
	t.Setenv(passVar, "")
	env := strings.Join(Env(), "\n")
	for _, bad := range []string{"pipsecret", "extrasecret", "uvsecret", "uvdefault"} {
		if strings.Contains(env, bad) {
			t.Errorf("%q reached the child", bad)
		}
	}
	for _, good := range []string{"UV_CACHE_DIR=/cache/uv", "PIP_DISABLE_PIP_VERSION_CHECK=1", "RUNNER_TRACKING_ID=github_1234"} {
		if !strings.Contains(env, good) {
			t.Errorf("%q missing", good)
		}
	}
	t.Setenv(passVar, "PIP_INDEX_URL")
	if env := strings.Join(Env(), "\n"); !strings.Contains(env, "pipsecret") {
		t.Error("PERFGATE_PASS_ENV: PIP_INDEX_URL must pass it")
	}
}
