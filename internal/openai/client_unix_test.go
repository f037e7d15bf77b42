//go:build unix

package openai

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfgate/perfgate/internal/record"
)

// When perfgate's own process runs out of open files, its requests are
// recorded as the client's failure (class client), not as the server
// refusing connections: a helper process with a limit of 24 open files
// sends 60 requests at once to a server that holds each for a while.
func TestOutOfOpenFilesIsTheClients(t *testing.T) {
	if url := os.Getenv("PERFGATE_TEST_FD_SERVER"); url != "" {
		fdHelper(url)
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, textChunk("a")+usageChunk+"data: [DONE]\n\n")
	}))
	defer srv.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutOfOpenFilesIsTheClients$")
	cmd.Env = append(os.Environ(), "PERFGATE_TEST_FD_SERVER="+srv.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var client, connect, ok int
	if _, err := fmt.Sscanf(lastLine(string(out)), "client %d connect %d ok %d", &client, &connect, &ok); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if client == 0 || connect != 0 {
		t.Errorf("out of open files: %d as the client's, %d as connect errors, %d ok\n%s", client, connect, ok, out)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "client ") {
			return lines[i]
		}
	}
	return ""
}

func fdHelper(url string) {
	lim := syscall.Rlimit{Cur: 24, Max: 24}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(1)
	}
	c := New(Options{BaseURL: url, MaxConns: 60, Clock: record.NewClock()})
	defer c.Close()
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := run(c, 10*time.Second)
			mu.Lock()
			counts[rec.Error]++
			if rec.Error != "" && counts[rec.Error] == 1 {
				fmt.Println(rec.Error, rec.ErrorMsg)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Printf("client %d connect %d ok %d\n", counts[record.ErrClient], counts[record.ErrConnect], counts[""])
}
