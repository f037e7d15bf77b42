// Package childenv builds the environment of every process perfgate starts
// — installs, vllm serve, command probes, git — from an allow-list of
// perfgate's own environment. Whatever perfgate holds for itself (the
// Action's GitHub token, the runner's credentials, an endpoint's API key)
// never reaches code that came from a pull request: an allow-list, not a
// deny-list, so a credential with a name nobody foresaw stays out too.
//
// PERFGATE_PASS_ENV (names separated by commas or spaces) lets a user pass
// more variables on purpose, an HF_TOKEN for a gated model for example;
// GitHub's own credentials (INPUT_*, ACTIONS_*, GITHUB_TOKEN) are never
// passed, even when listed.
package childenv

import (
	"os"
	"slices"
	"strings"
)

// passVar names the variable that lists extra names to pass.
const passVar = "PERFGATE_PASS_ENV"

var exact = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "TERM",
	"LD_LIBRARY_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CC", "CXX", "MAX_JOBS", "NVCC_THREADS",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_HUB_ENABLE_HF_TRANSFER", "TRANSFORMERS_CACHE", "TRANSFORMERS_OFFLINE",
	"PERFGATE_ENV_DIR", "PERFGATE_TEST_BIN", "PERFGATE_CLI_MAIN",
	// the runner's tag on every process of the job: its end-of-job cleanup
	// finds an orphaned vllm serve by it
	"RUNNER_TRACKING_ID",
	// pip's and uv's settings that carry no credential; their index
	// addresses (PIP_INDEX_URL, UV_INDEX_URL, UV_INDEX_*…) may hold a
	// user and token, so they pass only when PERFGATE_PASS_ENV names them
	"PIP_CACHE_DIR", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_PREFER_BINARY", "PIP_ONLY_BINARY", "PIP_NO_BINARY",
	"PIP_NO_BUILD_ISOLATION", "PIP_NO_INPUT", "PIP_PROGRESS_BAR", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "PIP_BREAK_SYSTEM_PACKAGES",
	"UV_CACHE_DIR", "UV_NO_CACHE", "UV_LINK_MODE", "UV_PYTHON", "UV_PYTHON_PREFERENCE", "UV_PYTHON_DOWNLOADS", "UV_HTTP_TIMEOUT",
	"UV_CONCURRENT_DOWNLOADS", "UV_CONCURRENT_BUILDS", "UV_CONCURRENT_INSTALLS", "UV_NO_BUILD_ISOLATION", "UV_TORCH_BACKEND",
	"UV_COMPILE_BYTECODE", "UV_NO_PROGRESS", "UV_OFFLINE", "UV_PRERELEASE", "UV_INDEX_STRATEGY", "UV_SYSTEM_PYTHON", "UV_BREAK_SYSTEM_PACKAGES",
}

var prefixes = []string{
	"LC_", "XDG_", "CUDA_", "NVIDIA_", "NCCL_", "VLLM_", "TORCH_", "TORCHINDUCTOR_", "TRITON_", "PYTORCH_",
	"PYTHON", "OMP_", "MKL_", "CCACHE_", "GOCOVERDIR",
}

// never are names (or prefixes, ending in _) no list can pass: GitHub's
// credentials.
var never = []string{"INPUT_", "ACTIONS_", "GITHUB_TOKEN", "GH_TOKEN", "RUNNER_TOKEN"}

// forbidden reports whether a variable may never reach a child process.
func forbidden(name string) bool {
	for _, n := range never {
		if name == n || (strings.HasSuffix(n, "_") && strings.HasPrefix(name, n)) {
			return true
		}
	}
	return false
}

// Allowed reports whether a variable of perfgate's environment reaches the
// processes it starts.
func Allowed(name string) bool {
	if forbidden(name) {
		return false
	}
	if slices.Contains(exact, name) {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return slices.Contains(passed(), name)
}

func passed() []string {
	return strings.FieldsFunc(os.Getenv(passVar), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
}

// Env is the environment for a child process: the allowed part of
// perfgate's own, then extra ("NAME=value", later entries win, as exec
// does). extra is the caller's to choose (a scenario's engine.env): it is
// not filtered.
func Env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if Allowed(name) {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
