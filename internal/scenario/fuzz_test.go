package scenario

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// The loader never panics; what it accepts, it writes back as a snapshot that
// loads again; what it rejects, it rejects as a ValidationError.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !IsValidation(err) {
				t.Fatalf("not a ValidationError: %T %v", err, err)
			}
			return
		}
		b, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if _, err := Parse("snapshot.yaml", b); err != nil {
			t.Fatalf("the snapshot of an accepted scenario does not load: %v\n%s", err, b)
		}
	})
}
