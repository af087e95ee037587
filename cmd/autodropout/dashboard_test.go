package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDashboardCommandErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"no folder", nil, "need at least one run folder"},
		{"run without nats", []string{"--run", "x", t.TempDir()}, "give --nats URL too"},
		{"missing folder", []string{missing}, "nope"},
		{"bad run name", []string{"--nats", "nats://127.0.0.1:1", "--run", "a.b"}, `run name "a.b"`},
		{"bad address", []string{"--addr", "127.0.0.1:http-alt-x", t.TempDir()}, "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := serveDashboard(context.Background(), tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}

// TestDashboardCommand serves a search folder given after the flags,
// reads /api/runs and stops.
func TestDashboardCommand(t *testing.T) {
	dir := t.TempDir()
	line := `{"type":"run_started","time":"2026-01-02T03:04:05Z","config":{"method":"random","budget":3}}` + "\n" +
		`{"type":"trial_finished","time":"2026-01-02T03:04:06Z","trial":0,"reward":0.5}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveDashboard(ctx, []string{"--addr", "127.0.0.1:0", dir}, pw); pw.Close() }()
	first, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	url := regexp.MustCompile(`http://\S+/`).FindString(first)
	if url == "" {
		t.Fatalf("no URL in %q", first)
	}
	resp, err := http.Get(url + "api/runs")
	if err != nil {
		t.Fatal(err)
	}
	var runs struct {
		Searches []struct {
			Method string `json:"method"`
			Done   int    `json:"done"`
		} `json:"searches"`
	}
	err = json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if err != nil || len(runs.Searches) != 1 || runs.Searches[0].Method != "random" || runs.Searches[0].Done != 1 {
		t.Errorf("/api/runs: %+v, %v; want the random search with one trial done", runs, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}
}
