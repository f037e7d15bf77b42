package arch

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// perfgate builds for every system a user may run it on, not only the
// Linux GPU runners: the precise sleep and the process-group handling are
// Linux/Unix code behind build tags, and a missing fallback once broke the
// macOS and Windows builds unnoticed. cgo is off, as in a cross build (NVML
// then says once that it is unavailable).
func TestBuildsForMacOSAndWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles perfgate")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("no go command here: %v", err)
	}
	for _, goos := range []string{"darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "perfgate"), "../../cmd/perfgate")
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s go build ./cmd/perfgate: %v\n%s", goos, err, out)
			}
		})
	}
}
