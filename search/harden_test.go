package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// The tests in this file reproduce the failures of issue 19: a kill
// between journal and checkpoint, a deleted checkpoint, a short journal
// write, leftovers of atomic writes, interrupts, and bad configurations.

var errKill = errors.New("killed by the test")

// windowSearch is a small controller search: 3 batches of 4 trials.
func windowSearch(out string) *Search {
	cfg := Config{Budget: 12, Parallel: 2, SamplesPerUpdate: 4, Seed: 5}.WithDefaults()
	return &Search{Config: cfg, Sites: testSites[:1], Executor: synthetic(0.02), Out: out}
}

// setHook sets the controller-update hook for the test.
func setHook(t *testing.T, h func(point string, step int) error) {
	t.Helper()
	hook = h
	t.Cleanup(func() { hook = nil })
}

// updateSteps lists the controller_updated steps of a journal in order.
func updateSteps(t *testing.T, out string) []int {
	t.Helper()
	evs, err := ReadJournal(filepath.Join(out, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, e := range evs {
		if e.Type == ControllerUpdated {
			steps = append(steps, *e.Step)
		}
	}
	return steps
}

// TestControllerUpdateWindow kills a search (through the test hook) at
// both ends of a controller update and resumes it: the journal must end
// with one controller_updated per batch, the summary must count them, and
// the proposals must be those of a search never killed.
func TestControllerUpdateWindow(t *testing.T) {
	ref := t.TempDir()
	if _, err := windowSearch(ref).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, _ := ReadJournal(filepath.Join(ref, "journal.jsonl"))
	for _, tc := range []struct {
		name  string
		point string // where the kill lands in the update of step 2
		// dropLast removes the last controller_updated line after the kill:
		// the order of older versions (checkpoint saved, event not yet
		// appended).
		dropLast      bool
		recoveredStep int
	}{
		{name: "journal ahead of checkpoint", point: "journaled"},
		{name: "checkpoint ahead of journal", point: "saved", dropLast: true, recoveredStep: 2},
		{name: "both at the same step", point: "saved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			setHook(t, func(point string, step int) error {
				if point == tc.point && step == 2 {
					return errKill
				}
				return nil
			})
			if _, err := windowSearch(out).Run(context.Background()); !errors.Is(err, errKill) {
				t.Fatalf("first run: err %v, want the kill", err)
			}
			hook = nil
			if tc.dropLast {
				dropLastUpdate(t, filepath.Join(out, "journal.jsonl"))
			}
			sum, err := windowSearch(out).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if steps := updateSteps(t, out); !reflect.DeepEqual(steps, []int{1, 2, 3}) || sum.Updates != 3 {
				t.Errorf("controller_updated steps %v, summary %d updates; want [1 2 3] and 3", steps, sum.Updates)
			}
			got, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
			pw, pg := proposals(want), proposals(got)
			if len(pg) != 12 {
				t.Fatalf("%d proposals, want 12", len(pg))
			}
			for id := range pw {
				if !reflect.DeepEqual(pw[id].Choices, pg[id].Choices) {
					t.Errorf("trial %d: proposed %v after the kill, %v unkilled", id, pg[id].Choices, pw[id].Choices)
				}
			}
			for _, e := range got {
				if e.Type == ControllerUpdated && e.Recovered != (*e.Step == tc.recoveredStep) {
					t.Errorf("step %d: recovered %v", *e.Step, e.Recovered)
				}
			}
			ctl, err := LoadController(filepath.Join(out, "controller.json"), ConvNetSpace{autodropout.DefaultSearchSpace()})
			if err == nil && ctl.Step != 3 {
				t.Errorf("checkpoint at step %d, want 3", ctl.Step)
			}
		})
	}
}

// dropLastUpdate removes the journal's last controller_updated line.
func dropLastUpdate(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.Contains(lines[i], []byte(`"type":"controller_updated"`)) {
			lines = append(lines[:i], lines[i+1:]...)
			break
		}
	}
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFromAnotherRun refuses a checkpoint ahead of trials the
// journal never recorded.
func TestCheckpointFromAnotherRun(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := windowSearch(a).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, _ := os.ReadFile(filepath.Join(a, "controller.json"))
	os.WriteFile(filepath.Join(b, "controller.json"), ck, 0o644)
	if _, err := windowSearch(b).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "controller.json is at controller step 3") {
		t.Fatalf("err %v, want a refusal naming the checkpoint", err)
	}
}

// TestRebuildKeepsHistory deletes the checkpoint of a finished search:
// the controller is rebuilt from the journal, which stays as it was.
func TestRebuildKeepsHistory(t *testing.T) {
	out := t.TempDir()
	if _, err := windowSearch(out).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(out, "journal.jsonl")
	before, _ := os.ReadFile(journal)
	os.Remove(filepath.Join(out, "controller.json"))
	sum, err := windowSearch(out).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(journal)
	if !bytes.Equal(before, after) {
		t.Errorf("rebuilding the controller changed the journal: %d bytes, was %d; updates %v", len(after), len(before), updateSteps(t, out))
	}
	if sum.Updates != 3 {
		t.Errorf("summary says %d updates, want 3", sum.Updates)
	}
	ctl, err := LoadController(filepath.Join(out, "controller.json"), ConvNetSpace{autodropout.DefaultSearchSpace()})
	if err != nil || ctl.Step != 3 {
		t.Errorf("rebuilt checkpoint: %v, %v; want step 3", ctl, err)
	}
}

// failingFile is a journal file that writes only half of the write it
// fails on (a full disk), or fails its first sync, or its truncates.
type failingFile struct {
	journalFile
	failWrite, failSync, failTruncate bool
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.failWrite {
		n, _ := f.journalFile.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return f.journalFile.Write(p)
}

func (f *failingFile) Sync() error {
	if f.failSync {
		f.failSync = false // once: the rollback's sync succeeds
		return syscall.EIO
	}
	return f.journalFile.Sync()
}

func (f *failingFile) Truncate(n int64) error {
	if f.failTruncate {
		return syscall.EIO
	}
	return f.journalFile.Truncate(n)
}

// TestJournalWholeLines makes appends fail the ways a full or failing
// disk does: the journal must keep whole lines only and go on appending
// once the disk is back, or refuse every later append when it cannot cut
// the partial line off (reopening then cuts it).
func TestJournalWholeLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   failingFile
		broken bool
	}{
		{"short write", failingFile{failWrite: true}, false},
		{"sync fails", failingFile{failSync: true}, false},
		{"short write, truncate fails", failingFile{failWrite: true, failTruncate: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			j, err := OpenFileJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { j.Close() }()
			for i := 0; i < 2; i++ {
				if err := j.Append(Event{Type: TrialStarted, Trial: ip(i)}); err != nil {
					t.Fatal(err)
				}
			}
			whole, _ := os.ReadFile(path)
			ff := tc.fail
			ff.journalFile = j.f
			j.f = &ff
			err = j.Append(Event{Type: TrialFailed, Trial: ip(2), Reason: strings.Repeat("x", 5000)})
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("failed append: err %v, want one naming %s", err, path)
			}
			now, _ := os.ReadFile(path)
			if tc.broken {
				if bytes.Equal(now, whole) {
					t.Fatal("the test's truncate failure did not leave a partial line")
				}
			} else if !bytes.Equal(now, whole) {
				t.Fatalf("after a failed append the journal holds %d bytes, want its %d whole ones", len(now), len(whole))
			}
			j.f = ff.journalFile // the disk is back
			err = j.Append(Event{Type: TrialStarted, Trial: ip(3)})
			if tc.broken {
				if err == nil {
					t.Fatal("appended after a failed rollback")
				}
				j.Close()
				if j, err = OpenFileJournal(path); err != nil {
					t.Fatal(err)
				}
				err = j.Append(Event{Type: TrialStarted, Trial: ip(3)})
			}
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ReadJournal(path)
			if err != nil || len(evs) != 3 || *evs[2].Trial != 3 {
				t.Fatalf("journal: %d events, err %v; want trials 0, 1, 3", len(evs), err)
			}
		})
	}
}

// TestSearchSurvivesFullDisk fails the journal's 9th append in a search,
// then resumes: every trial ends exactly once.
func TestSearchSurvivesFullDisk(t *testing.T) {
	out := t.TempDir()
	j, err := OpenFileJournal(filepath.Join(out, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ff := &countingFile{journalFile: j.f, failAt: 9}
	j.f = ff
	s := windowSearch(out)
	s.Journal = j
	if _, err := s.Run(context.Background()); err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err %v, want no space left", err)
	}
	j.Close()
	sum, err := windowSearch(out).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Trials != 12 || sum.Updates != 3 {
		t.Errorf("summary %+v", sum)
	}
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	ends := map[int]int{}
	for _, e := range evs {
		if e.Type == TrialFinished || e.Type == TrialFailed {
			ends[*e.Trial]++
		}
	}
	for id := 0; id < 12; id++ {
		if ends[id] != 1 {
			t.Errorf("trial %d ended %d times", id, ends[id])
		}
	}
}

type countingFile struct {
	journalFile
	n, failAt int32
}

func (f *countingFile) Write(p []byte) (int, error) {
	if atomic.AddInt32(&f.n, 1) == f.failAt {
		n, _ := f.journalFile.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return f.journalFile.Write(p)
}

// TestResumeRemovesTemps leaves the temporary files of atomic writes a
// kill would leave; resuming deletes them and nothing else.
func TestResumeRemovesTemps(t *testing.T) {
	out := t.TempDir()
	if _, err := windowSearch(out).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	temps := []string{
		filepath.Join(out, ".controller.json.tmp123"),
		filepath.Join(out, ".summary.json.tmp4"),
		filepath.Join(out, "trials", "0003", ".pattern.json.tmp56"),
		filepath.Join(out, "trials", "0003", ".result.json.tmp7"),
	}
	keep := filepath.Join(out, "trials", "0003", "notes.tmp1")
	for _, p := range append(temps, keep) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := windowSearch(out).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after resume", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("resume removed a file not its own: %v", err)
	}
}

// TestInterruptSaysWhatWasKept cancels a search after its 5th trial: the
// error says how many trials the journal kept, and resuming finishes the
// budget without running a finished trial again.
func TestInterruptSaysWhatWasKept(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran atomic.Int32
	inner := synthetic(0)
	s := windowSearch(out)
	s.Config.Parallel = 1
	s.Executor = ExecutorFunc(func(c context.Context, t Trial) Result {
		if ran.Add(1) == 6 {
			cancel()
			return Result{Err: c.Err()}
		}
		return inner(c, t)
	})
	_, err := s.Run(ctx)
	var ie *InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want an InterruptedError wrapping context.Canceled", err)
	}
	if ie.Done != 5 || ie.Unfinished != 1 || ie.Budget != 12 || !strings.Contains(err.Error(), "5 of 12 trials done") || !strings.Contains(err.Error(), "journal.jsonl") {
		t.Errorf("err %q (%+v): want 5 of 12 done, 1 unfinished, and the journal named", err, *ie)
	}
	ran.Store(100)
	sum, err := windowSearch(out).Run(context.Background())
	if err != nil || sum.Trials != 12 || sum.Failures != 0 {
		t.Fatalf("resume: %+v, %v", sum, err)
	}
}

// TestProgressPlan checks that the plan comes first and every trial's
// start is printed.
func TestProgressPlan(t *testing.T) {
	var buf bytes.Buffer
	s := windowSearch(t.TempDir())
	s.Config.Parallel = 1
	s.Progress = &buf
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	if !strings.HasPrefix(lines[0], "search rl: 12 trials, 4 per controller update, 1 at a time") {
		t.Errorf("first line %q, want the plan", lines[0])
	}
	for id := 0; id < 12; id++ {
		start := fmt.Sprintf("trial %d started (batch %d): ", id, id/4)
		i := slicesIndexPrefix(lines, start)
		if i < 0 {
			t.Fatalf("no line %q in\n%s", start, buf.String())
		}
		if want := fmt.Sprintf("trials %d/12", id+1); !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("after %q: %q, want %q (one trial at a time)", lines[i], lines[i+1], want)
		}
	}
}

func slicesIndexPrefix(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// TestTrialsSkipTheTestSplit runs a trial of each kind through a fake
// trainer that records its arguments: neither may evaluate a test split.
func TestTrialsSkipTheTestSplit(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake")
	os.WriteFile(bin, []byte(`#!/bin/sh
echo "$@" > `+dir+`/args
while [ $# -gt 0 ]; do [ "$1" = --out ] && OUT=$2; shift; done
echo '{"val_acc": 0.5, "val_ppl": 100}' > $OUT/result.json
`), 0o755)
	for _, task := range []Task{{}, {Kind: "lm"}} {
		task = Config{Task: task}.WithDefaults().Task
		r := (&LocalExecutor{Binary: bin}).Run(context.Background(), Trial{ID: 1, Patterns: []byte("[]"), Task: task, Dir: filepath.Join(dir, task.Kind), Threads: 1})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		args, _ := os.ReadFile(filepath.Join(dir, "args"))
		if !strings.Contains(" "+string(args), " --test=false ") {
			t.Errorf("%s trial ran train %s; want --test=false", task.Kind, args)
		}
	}
}

// TestChildOwnProcessGroup checks that a trial's process is out of the
// terminal's reach: Ctrl-C goes to the search, which decides.
func TestChildOwnProcessGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "cut -d' ' -f5 /proc/$$/stat")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := RunChild(cmd); err != nil {
		t.Fatal(err)
	}
	if got, mine := strings.TrimSpace(out.String()), strconv.Itoa(syscall.Getpgrp()); got == mine || got == "" {
		t.Errorf("child's process group %q, the test's %s: want its own", got, mine)
	}
}
