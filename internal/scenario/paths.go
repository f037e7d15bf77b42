package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// file checks that a path is given. Whether the file is there is
// CheckFiles's business: a run folder's scenario.yaml must load on a machine
// without the files.
func (c *checker) file(p, path string) {
	if path == "" {
		c.at(p, "is required: the file's path, relative to the scenario file")
	}
}

// CheckFiles checks that the files the scenario reads (datasets, a trace)
// are there, as a *ValidationError at their lines. Running a scenario needs
// them; reading a run folder does not.
func (s *Scenario) CheckFiles() error {
	if ps := s.fileProblems(); len(ps) > 0 {
		return &ValidationError{File: s.File, Problems: ps}
	}
	return nil
}

func (s *Scenario) fileProblems() []Problem {
	c := &checker{s: s}
	for i, cl := range s.Workload.Classes {
		if cl.Dataset.Path != "" {
			c.exists(fmt.Sprintf("workload.classes[%d].dataset.path", i), cl.Dataset.Path)
		}
	}
	if s.Load.Arrival == ArrivalTrace && s.Load.Trace.Path != "" {
		c.exists("load.trace.path", s.Load.Trace.Path)
	}
	return c.problems
}

func (c *checker) exists(p, path string) {
	full := resolvePath(c.s.File, path)
	fi, err := os.Stat(full)
	switch {
	case err != nil:
		c.at(p, "%s cannot be read: %v", full, errors.Unwrap(err))
	case fi.IsDir():
		c.at(p, "%s is a directory, not a file", full)
	}
}

func absPath(p string) string {
	if p == "" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// resolvePath is path relative to the folder of the scenario file.
func resolvePath(scenarioFile, path string) string {
	if path == "" || filepath.IsAbs(path) || scenarioFile == "" {
		return path
	}
	return filepath.Join(filepath.Dir(scenarioFile), path)
}
