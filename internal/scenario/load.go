package scenario

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
)

// LoadFile reads, decodes, validates and completes a scenario file. A bad file
// gives a *ValidationError with every problem in it.
func LoadFile(path string) (*Scenario, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// MaxFileBytes is the largest scenario file read: scenarios are a few
// hundred bytes; datasets and traces live in files of their own.
const MaxFileBytes = 1 << 20

// MaxProblems is how many problems one file reports; the rest are counted.
const MaxProblems = 50

// readFile reads a scenario file: a regular file of at most MaxFileBytes
// (a FIFO would hang, /dev/zero would never end).
func readFile(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO for reading blocks until a writer comes.
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such scenario file (perfgate run, validate, ab and bisect take the path of a YAML scenario; scenarios/ has examples)", path)
	}
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): a scenario is a YAML file", path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is over %d KiB: a scenario is a few hundred bytes of YAML (datasets and traces are files of their own)", path, MaxFileBytes>>10)
	}
	return data, nil
}

// LoadForRun is LoadFile that also checks that the files the scenario
// reads (datasets, a trace) are there, reporting every problem at once: a
// scenario about to run. LoadFile leaves that out, so that a run folder's
// scenario.yaml loads on a machine without the files.
func LoadForRun(path string) (*Scenario, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parseScenario(path, data, true)
}

// Parse is Load on bytes already read; file names them in messages.
func Parse(file string, data []byte) (*Scenario, error) { return parseScenario(file, data, false) }

func parseScenario(file string, data []byte, files bool) (*Scenario, error) {
	s, problems, bad := parse(data)
	s.File = file
	if bad != nil {
		// Check the values too, except those a decoding problem already
		// explains (a misspelled "ratee" would also make "rate" look missing).
		vs := s.validate()
		if files {
			vs = append(vs, s.fileProblems()...)
		}
		for _, p := range vs {
			if !bad.covers(p.path) {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool {
			if problems[i].Line != problems[j].Line {
				return problems[i].Line < problems[j].Line
			}
			return problems[i].Col < problems[j].Col
		})
		if len(problems) > MaxProblems {
			n := len(problems) - MaxProblems
			problems = append(problems[:MaxProblems], Problem{Msg: fmt.Sprintf("… and %d more problem(s); fix these first", n)})
		}
		return nil, &ValidationError{File: file, Problems: problems}
	}
	s.applyDefaults()
	return s, nil
}

// IsValidation reports whether err is a problem with the scenario's content.
func IsValidation(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}
