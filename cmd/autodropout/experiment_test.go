package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/search"
)

// TestDryRunShippedConfigs checks every search and experiment
// configuration in configs/ with --dry-run: it must load, resolve its
// sites and give a cost estimate.
func TestDryRunShippedConfigs(t *testing.T) {
	t.Chdir("../..") // configs name each other from the repository root
	files, _ := filepath.Glob("configs/*.json")
	more, _ := filepath.Glob("configs/paper/*.json")
	files = append(files, more...)
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
			if !strings.Contains(out, "whole search: ") || !strings.Contains(out, "FLOPs") {
				t.Errorf("dry run printed no cost estimate:\n%s", out)
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

func TestEstimateTask(t *testing.T) {
	const convnetMACs = 4241152 // nn.ForwardMACs("convnet", 1×28×28, 10)
	task := search.Config{Task: search.Task{TrainSubset: 2048}}.WithDefaults().Task
	c, err := estimateTask(task, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * 2 * float64(convnetMACs) * 2048; c.TrainFLOPs != want {
		t.Errorf("train FLOPs %g, want %g", c.TrainFLOPs, want)
	}
	if want := 2 * float64(convnetMACs) * 6000; c.EvalFLOPs != want {
		t.Errorf("validation FLOPs %g, want %g (6,000 held-out examples)", c.EvalFLOPs, want)
	}
	final, _ := estimateTask(task, true)
	if want := 2 * float64(convnetMACs) * 16000; final.EvalFLOPs != want {
		t.Errorf("final evaluation FLOPs %g, want %g (validation and test)", final.EvalFLOPs, want)
	}
	if _, err := estimateTask(search.Task{Model: "convnet", Data: "svhn"}, false); err == nil || !strings.Contains(err.Error(), "svhn") {
		t.Errorf("unknown dataset: err %v", err)
	}
}

func TestReadExperimentConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ json, err string }{
		{`{"search": "s.json", "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, ""},
		{`{"final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "search"},
		{`{"search": "s.json", "final": {"drop_rate": 0.1, "block_size": 3}}`, "seeds"},
		{`{"search": "s.json", "final": {"seeds": [1], "drop_rate": 1.5, "block_size": 3}}`, "drop_rate"},
		{`{"search": "s.json", "final": {"seeds": [1]}, "parralel": 2}`, "unknown field"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}}`, ""},
	} {
		p := filepath.Join(dir, "e.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		c, err := readExperimentConfig(p)
		if tc.err == "" {
			if err != nil || c.Parallel != 1 || c.Final.Model == "" {
				t.Errorf("%s: %+v, %v", tc.json, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want one naming %s and %q", tc.json, err, p, tc.err)
		}
	}
}

// TestExperimentResumes runs a whole experiment with a fake trainer (a
// shell script writing result.json), then again: the second run trains
// nothing and rewrites the report.
func TestExperimentResumes(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := filepath.Join(dir, "fake-autodropout")
	// Validation accuracy grows with the pattern file's size, so rewards differ.
	os.WriteFile(fake, []byte(`#!/bin/sh
echo run >> `+count+`
PAT=""
while [ $# -gt 0 ]; do
  case "$1" in --out) OUT=$2;; --pattern) PAT=$2;; esac
  shift
done
N=0; [ -n "$PAT" ] && N=$(wc -c < "$PAT")
ACC=0.$(( 5000 + N % 4000 ))
mkdir -p "$OUT"
echo "{\"val_acc\": $ACC, \"test_acc\": $ACC, \"steps\": 4, \"examples\": 256, \"wall_s\": 0.1, \"cpu_s\": 0.1, \"regularizer\": \"x\"}" > "$OUT/result.json"
`), 0o755)
	data := toyData(t) // checked for before the first trial
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 4, "parallel": 2, "samples_per_update": 2, "task": {"model": "convnet", "data": "fashion-mnist", "data_dir": "`+data+`"}}`), 0o644)
	ecfg := filepath.Join(dir, "experiment.json")
	os.WriteFile(ecfg, []byte(`{"search": "`+scfg+`", "final": {"model": "convnet", "data_dir": "`+data+`", "seeds": [1, 2], "drop_rate": 0.1, "block_size": 3}, "parallel": 2}`), 0o644)
	out := filepath.Join(dir, "run")
	args := []string{"--config", ecfg, "--out", out, "--binary", fake}
	captureStdout(t, func() error { return runExperiment(args) })
	lines := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "\n")
	}
	if n := lines(); n != 4+4+5*2 {
		t.Fatalf("%d trainings, want 8 trials and 10 final runs", n)
	}
	for _, label := range []string{"none", "dropout", "dropblock", "random-best", "autodropout-best"} {
		if _, err := os.Stat(filepath.Join(out, "final", label, "seed-2", "result.json")); err != nil {
			t.Errorf("final %s: %v", label, err)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "autodropout-best") {
		t.Errorf("report does not mention the best AutoDropout pattern:\n%s", report)
	}
	printed := captureStdout(t, func() error { return runExperiment(args) })
	if n := lines(); n != 18 {
		t.Errorf("rerun trained %d more models, want none", n-18)
	}
	if !strings.Contains(printed, "already done") {
		t.Errorf("rerun output does not say the final runs are done:\n%s", printed)
	}
}
