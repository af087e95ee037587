package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/search"
)

// fakeTrainer writes an executable shell script standing in for
// `autodropout train`.
func fakeTrainer(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-autodropout")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = version ] && { echo \"autodropout fake\"; exit 0; }\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSearchRefusesBadTasks runs `autodropout search` on bad tasks: each
// must fail before any trial runs (the fake trainer would record it),
// naming the field, and with no doubled prefix.
func TestSearchRefusesBadTasks(t *testing.T) {
	data := toyData(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	fake := fakeTrainer(t, "touch "+ran+"; exit 1")
	for _, tc := range []struct{ task, err string }{
		{`"batch_size": -5`, "task.batch_size -5"},
		{`"val_frac": 1.5`, "task.val_frac 1.5"},
		{`"train_subset": -10`, "task.train_subset -10"},
		{`"epochs": 0, "steps": 3`, "task.steps: not used by classify"},
		{`"data_dir": "` + filepath.Join(dir, "missing") + `"`, "task.data_dir " + filepath.Join(dir, "missing")},
		{`"data": "mnist", "data_dir": "` + dir + `"`, "train-images-idx3-ubyte or train-images-idx3-ubyte.gz not found"},
		{`"model": "resnet7", "data_dir": "` + data + `"`, "task.model resnet7"},
	} {
		cfg := filepath.Join(dir, "search.json")
		os.WriteFile(cfg, []byte(`{"budget": 2, "task": {`+tc.task+`}}`), 0o644)
		out := filepath.Join(dir, "out")
		err := runSearch([]string{"--config", cfg, "--out", out, "--binary", fake})
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), cfg) {
			t.Errorf("%s: err %v, want one naming %s and %q", tc.task, err, cfg, tc.err)
		}
		if err != nil && strings.HasPrefix(err.Error(), "search:") {
			t.Errorf("%s: err %q repeats the command's prefix", tc.task, err)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Fatalf("%s: a trial ran", tc.task)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: the search created %s", tc.task, out)
		}
	}
}

// TestSearchAllTrialsFail runs a search whose every trial exits non-zero:
// it must fail, naming the most common failure (the child's last line).
func TestSearchAllTrialsFail(t *testing.T) {
	data := toyData(t)
	fake := fakeTrainer(t, `case "$*" in *--seed*) ;; esac
echo "loading..."; echo "autodropout train: load model.ot: no space left on device" >&2; exit 1`)
	cfg := filepath.Join(t.TempDir(), "search.json")
	os.WriteFile(cfg, []byte(`{"method": "random", "budget": 3, "task": {"data_dir": "`+data+`"}}`), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	var err error
	printed := captureStdoutErr(t, func() error {
		err = runSearch([]string{"--config", cfg, "--out", out, "--binary", fake})
		return nil
	})
	if !errors.Is(err, search.ErrAllFailed) || !strings.Contains(err.Error(), "(3 times): child: exit status 1: autodropout train: load model.ot: no space left on device") {
		t.Fatalf("err %v, want all failed with the trainer's last line", err)
	}
	if strings.Contains(printed, "best reward NaN") {
		t.Errorf("printed a NaN best reward:\n%s", printed)
	}
}

// captureStdoutErr is captureStdout for a function whose error the test
// looks at itself.
func captureStdoutErr(t *testing.T, f func() error) string {
	t.Helper()
	return captureStdout(t, f)
}

// TestSearchInterrupt sends the search SIGINT from its third trial (as
// Ctrl-C in a terminal would): the error says what was kept and how to
// resume, and rerunning the command finishes the search.
func TestSearchInterrupt(t *testing.T) {
	data := toyData(t)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := fakeTrainer(t, `echo run >> `+count+`
while [ $# -gt 0 ]; do [ "$1" = --out ] && OUT=$2; shift; done
if [ "$(wc -l < `+count+`)" -eq 3 ]; then kill -INT $PPID; sleep 5; fi
echo '{"val_acc": 0.5}' > $OUT/result.json`)
	cfg := filepath.Join(dir, "search.json")
	os.WriteFile(cfg, []byte(`{"method": "random", "budget": 4, "task": {"data_dir": "`+data+`"}}`), 0o644)
	out := filepath.Join(dir, "out")
	args := []string{"--config", cfg, "--out", out, "--binary", fake}
	var err error
	captureStdout(t, func() error { err = runSearch(args); return nil })
	var ie *search.InterruptedError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "2 of 4 trials done") || !strings.Contains(err.Error(), "rerun the same command to resume") {
		t.Fatalf("err %v, want an interrupt that says 2 of 4 trials are kept and how to resume", err)
	}
	t.Logf("autodropout search: %v", err)
	captureStdout(t, func() error { return runSearch(args) })
	sum, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || !strings.Contains(string(sum), `"trials": 4`) {
		t.Fatalf("summary after resume: %s, %v", sum, err)
	}
	// A refused resume says so once, without a second "search:" prefix
	// (main adds "autodropout search: ").
	os.WriteFile(cfg, []byte(`{"method": "random", "budget": 5, "task": {"data_dir": "`+data+`"}}`), 0o644)
	err = runSearch(args)
	if err == nil || !strings.HasPrefix(err.Error(), out+" was started with another configuration") {
		t.Errorf("changed config: err %v, want a refusal naming %s first", err, out)
	}
}

// TestExperimentInterrupt sends the experiment SIGINT from its fifth final
// training (the second pattern's, after the three baselines' and the
// searches): the error says what is kept and how to resume, and rerunning
// finishes without repeating them.
func TestExperimentInterrupt(t *testing.T) {
	data := toyData(t)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := fakeTrainer(t, `FINAL=1
while [ $# -gt 0 ]; do
  case "$1" in --out) OUT=$2;; --test=false) FINAL=0;; esac
  shift
done
if [ $FINAL = 1 ]; then
  echo run >> `+count+`
  if [ "$(wc -l < `+count+`)" -eq 5 ]; then kill -INT $PPID; sleep 5; fi
fi
mkdir -p "$OUT"
echo '{"val_acc": 0.5, "test_acc": 0.5, "wall_s": 0.1}' > "$OUT/result.json"`)
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 2, "samples_per_update": 2, "task": {"data_dir": "`+data+`"}}`), 0o644)
	ecfg := filepath.Join(dir, "experiment.json")
	os.WriteFile(ecfg, []byte(`{"search": "`+scfg+`", "final": {"data_dir": "`+data+`", "seeds": [1], "drop_rate": 0.1, "block_size": 3}}`), 0o644)
	out := filepath.Join(dir, "run")
	args := []string{"--config", ecfg, "--out", out, "--binary", fake}
	var err error
	captureStdout(t, func() error { err = runExperiment(args); return nil })
	if err == nil || !strings.Contains(err.Error(), "during the final training of the patterns") || !strings.Contains(err.Error(), "1 of 2 pattern trainings are done") ||
		!strings.Contains(err.Error(), "rerun the same command to resume") {
		t.Fatalf("err %v, want an interrupt that says 1 of 2 pattern trainings are kept and how to resume", err)
	}
	t.Logf("autodropout experiment: %v", err)
	captureStdout(t, func() error { return runExperiment(args) })
	b, _ := os.ReadFile(count)
	if n := strings.Count(string(b), "\n"); n != 6 {
		t.Errorf("%d final trainings in all, want 5 and the interrupted one again", n)
	}
}

// TestTrainRefusesAHeldFolder: a training whose --out another process
// holds (here: this one, as a search would) fails before reading data,
// naming the folder and the holder.
func TestTrainRefusesAHeldFolder(t *testing.T) {
	out := t.TempDir()
	l, err := runlock.Acquire(out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	err = runTrain([]string{"--data", "mnist", "--data-dir", filepath.Join(out, "no-data"), "--threads", "1", "--out", out})
	if want := "--out " + out + " is in use by process " + strconv.Itoa(os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want one with %q", err, want)
	}
}
