package search

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// A task's precision reaches the child as --precision (none: the
// trial's default, auto), and the precision the child reports in
// result.json is journaled with the trial's cost.
func TestPrecisionReachesTrialAndJournal(t *testing.T) {
	task := Config{Task: Task{Precision: "bf16"}}.WithDefaults().Task
	if args := strings.Join(task.Spec().Args(), " "); !strings.HasSuffix(args, " --precision bf16") {
		t.Errorf("args %q lack --precision bf16", args)
	}
	if s := (Config{}).WithDefaults().Task.Spec(); s.Precision != "" || strings.Contains(s.String(), "--precision") {
		t.Errorf("spec %q passes a precision nobody asked for", s)
	}

	dir := t.TempDir()
	// The fake trainer writes the precision it was given, as train does.
	bin := filepath.Join(dir, "train.sh")
	os.WriteFile(bin, []byte(`#!/bin/sh
[ "$1" = version ] && { echo "autodropout fake"; exit 0; }
P=fp32
while [ $# -gt 0 ]; do [ "$1" = --out ] && OUT=$2; [ "$1" = --precision ] && P=$2; shift; done
echo "{\"val_acc\": 0.5, \"steps\": 1, \"examples\": 8, \"wall_s\": 0.1, \"precision\": \"$P\"}" > $OUT/result.json
`), 0o755)
	pat, err := autodropout.EncodePatterns([]autodropout.SitePattern{{Site: "bn1", Pattern: autodropout.Pattern{Size: 3, Stride: 1, Repeat: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	r := (&LocalExecutor{Binary: bin}).Run(context.Background(), Trial{ID: 1, Patterns: pat, Task: task, Dir: filepath.Join(dir, "trial"), Threads: 1})
	if r.Err != nil || r.Cost.Precision != "bf16" {
		t.Fatalf("result %+v, want cost precision bf16", r)
	}

	cfg := Config{Method: "random", Budget: 2, Task: Task{Precision: "bf16"}}.WithDefaults()
	s := &Search{Config: cfg, Sites: testSites, Out: filepath.Join(dir, "s"), Executor: &LocalExecutor{Binary: bin}}
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	j, err := OpenFileJournal(filepath.Join(dir, "s", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	evs, err := j.Events()
	if err != nil {
		t.Fatal(err)
	}
	finished := 0
	for _, e := range evs {
		if e.Type == TrialFinished {
			finished++
			if e.Cost == nil || e.Cost.Precision != "bf16" {
				t.Errorf("trial %d journaled cost %+v, want precision bf16", *e.Trial, e.Cost)
			}
		}
	}
	if finished != 2 {
		t.Errorf("%d finished trials in the journal, want 2", finished)
	}
}
