package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunShippedConfigs checks every search and experiment
// configuration in configs/, configs/paper/ and configs/study/ with --dry-run: it must load, resolve its
// sites and give a cost and a memory estimate.
func TestDryRunShippedConfigs(t *testing.T) {
	t.Chdir("../..") // configs name each other from the repository root
	files, _ := filepath.Glob("configs/*.json")
	for _, dir := range []string{"configs/paper", "configs/study"} {
		more, _ := filepath.Glob(dir + "/*.json")
		files = append(files, more...)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil {
			continue // pattern lists
		}
		var run func([]string) error
		switch {
		case probe["final"] != nil:
			run = runExperiment
		case probe["task"] != nil:
			run = runSearch
		default:
			continue // model recipes, pattern files
		}
		n++
		t.Run(f, func(t *testing.T) {
			out := captureStdout(t, func() error { return run([]string{"--config", f, "--dry-run"}) })
			// An experiment without a search (fixed patterns only) prints
			// its total alone.
			if !strings.Contains(out, "whole search: ") && !strings.Contains(out, "experiment: ") || !strings.Contains(out, "FLOPs") {
				t.Errorf("dry run printed no cost estimate:\n%s", out)
			}
			if !strings.Contains(out, "memory of a training step at batch ") {
				t.Errorf("dry run printed no memory estimate:\n%s", out)
			}
		})
	}
	if n < 10 {
		t.Errorf("dry-ran %d configurations, want the demo's and the paper's (at least 10)", n)
	}
}

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	err = f()
	os.Stdout = old
	w.Close()
	out := <-done
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}
