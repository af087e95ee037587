package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/autodropout"
)

func proposals(evs []Event) map[int]Event {
	m := map[int]Event{}
	for _, e := range evs {
		if e.Type == TrialProposed {
			m[*e.Trial] = e
		}
	}
	return m
}

func TestSameSeedSameProposals(t *testing.T) {
	for _, method := range []string{"rl", "random"} {
		_, a := runSyntheticIn(t, t.TempDir(), method, 7, 12, testSites)
		_, b := runSyntheticIn(t, t.TempDir(), method, 7, 12, testSites)
		_, c := runSyntheticIn(t, t.TempDir(), method, 8, 12, testSites)
		pa, pb, pc := proposals(a), proposals(b), proposals(c)
		if len(pa) != 12 {
			t.Fatalf("%s: %d proposals, want 12", method, len(pa))
		}
		same := true
		for id := range pa {
			if !reflect.DeepEqual(pa[id].Choices, pb[id].Choices) {
				t.Errorf("%s: trial %d: same seed, choices %v and %v", method, id, pa[id].Choices, pb[id].Choices)
			}
			same = same && reflect.DeepEqual(pa[id].Choices, pc[id].Choices)
		}
		if same {
			t.Errorf("%s: seeds 7 and 8 proposed the same patterns", method)
		}
	}
}

func TestTornJournal(t *testing.T) {
	for _, tc := range []struct {
		name, tail string
		want       int
	}{
		{"whole", "", 3},
		{"torn", `{"type":"trial_fin`, 3},
		{"torn with newline", "{\"type\":\"trial_fin\n", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			j, err := OpenFileJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if err := j.Append(Event{Type: TrialProposed, Trial: ip(i)}); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(tc.tail)
			f.Close()
			evs, err := ReadJournal(path)
			if err != nil || len(evs) != tc.want {
				t.Fatalf("read %d events, err %v; want %d", len(evs), err, tc.want)
			}
			// Reopening cuts the torn line; the next event is whole.
			j, err = OpenFileJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			j.Append(Event{Type: TrialStarted, Trial: ip(9)})
			j.Close()
			evs, err = ReadJournal(path)
			if err != nil || len(evs) != tc.want+1 || *evs[len(evs)-1].Trial != 9 {
				t.Fatalf("after append: %d events, err %v", len(evs), err)
			}
		})
	}
	// A bad line in the middle is an error, not silently skipped.
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	os.WriteFile(path, []byte("{\"type\":\"run_started\"}\nnot json\n{\"type\":\"run_started\"}\n"), 0o644)
	if _, err := ReadJournal(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("corrupt middle line: err %v, want one naming line 2", err)
	}
}

func TestFailuresRecorded(t *testing.T) {
	out := t.TempDir()
	ok := synthetic(0.01)
	exec := ExecutorFunc(func(ctx context.Context, tr Trial) Result {
		if tr.ID%3 == 0 {
			return Result{Err: errors.New("training diverged (NaN)"), Output: "loss nan"}
		}
		return ok(ctx, tr)
	})
	cfg := Config{Budget: 9, Parallel: 2, SamplesPerUpdate: 3}.WithDefaults()
	s := &Search{Config: cfg, Sites: testSites, Executor: exec, Out: out}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failures != 3 || sum.Finished != 6 || sum.Updates != 3 {
		t.Errorf("summary %+v: want 3 failures, 6 finished, 3 updates", sum)
	}
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	n := 0
	for _, e := range evs {
		if e.Type == TrialFailed {
			n++
			if e.Reason == "" || e.Output != "loss nan" {
				t.Errorf("failed event %+v lacks reason or output", e)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d trial_failed events, want 3", n)
	}
	tops, _ := filepath.Glob(filepath.Join(out, "top", "*.json"))
	if len(tops) != 5 {
		t.Errorf("top/ has %d files, want 5", len(tops))
	}
}

// TestLocalExecutor runs fake trainers (shell scripts) as child processes.
func TestLocalExecutor(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = version ] && { echo \"autodropout fake\"; exit 0; }\nwhile [ $# -gt 0 ]; do [ \"$1\" = --out ] && OUT=$2; shift; done\n"+body+"\n"), 0o755)
		return p
	}
	for _, tc := range []struct {
		name, body, reason string
		reward             float64
	}{
		{"ok", `echo '{"val_acc": 0.75, "steps": 3, "examples": 192, "wall_s": 0.1}' > $OUT/result.json`, "", 0.75},
		{"exit", "echo boom; exit 3", "exit status 3", 0},
		{"nan", "echo 'train: training diverged: loss NaN'; exit 1", "diverged", 0},
		{"noresult", "echo done", "no result", 0},
		{"timeout", "sleep 5", "timeout", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &LocalExecutor{Binary: script(tc.name, tc.body), Timeout: 500 * time.Millisecond}
			pat, err := autodropout.EncodePatterns([]autodropout.SitePattern{{Site: "bn1", Pattern: autodropout.Pattern{Size: 3, Stride: 1, Repeat: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			r := e.Run(context.Background(), Trial{ID: 1, Patterns: pat, Task: Config{}.WithDefaults().Task, Dir: filepath.Join(dir, tc.name+"-trial"), Threads: 1})
			if tc.reason == "" {
				if r.Err != nil || r.Reward != tc.reward || r.Cost.Steps != 3 || r.Cost.Examples != 192 {
					t.Fatalf("result %+v", r)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.Err.Error(), tc.reason) {
				t.Fatalf("err %v, want %q", r.Err, tc.reason)
			}
		})
	}
	// A whole search where every child fails completes, writes its
	// summary and returns an error naming the most common failure: the
	// child's last line.
	cfg := Config{Method: "random", Budget: 3, Parallel: 2}.WithDefaults()
	s := &Search{Config: cfg, Sites: testSites, Out: filepath.Join(dir, "s"),
		Executor: &LocalExecutor{Binary: script("crash", `echo "autodropout train: --batch-size -5: want at least 1" >&2; exit 1`)}}
	sum, err := s.Run(context.Background())
	if sum.Failures != 3 || !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "(3 times): child: exit status 1: autodropout train: --batch-size -5") {
		t.Fatalf("summary %+v err %v", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "s", "summary.json")); err != nil {
		t.Error(err)
	}
}

const childEnv = "AUTODROPOUT_SEARCH_TEST_CHILD"

// killConfig is the search the kill test runs in a child process.
func killSearch(out string) *Search {
	slow := synthetic(0.02)
	ex := ExecutorFunc(func(ctx context.Context, t Trial) Result {
		time.Sleep(20 * time.Millisecond)
		return slow(ctx, t)
	})
	cfg := Config{Budget: 24, Parallel: 2, SamplesPerUpdate: 4, Seed: 3, Controller: ControllerConfig{Kind: os.Getenv(childKindEnv)}}.WithDefaults()
	return &Search{Config: cfg, Sites: testSites[:1], Executor: ex, Out: out}
}

func TestMain(m *testing.M) {
	if out := os.Getenv(libraryEnv); out != "" && os.Getenv(ProbeEnv) != "" {
		// The test binary as a library program that runs a search and
		// ignores its arguments, started by its own search to check its
		// binary: it must refuse rather than start the search again.
		s := &Search{Config: Config{Method: "random", Budget: 2}.WithDefaults(), Sites: testSites, Out: out, Executor: &LocalExecutor{Binary: os.Args[0]}}
		if _, err := s.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ran a search")
		os.Exit(0)
	}
	if out := os.Getenv(childEnv); out != "" {
		if _, err := killSearch(out).Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func journalLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

func TestResumeAfterKill(t *testing.T) {
	ref := t.TempDir()
	if _, err := killSearch(ref).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	journal := filepath.Join(out, "journal.jsonl")
	for _, at := range []int{3, 14, 30, 47, 70} { // journal lines when the kill lands
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
	wait:
		for journalLines(journal) < at {
			select {
			case err := <-done:
				t.Logf("child ended before line %d: %v", at, err)
				break wait
			case <-deadline:
				t.Fatal("child made no progress")
			case <-time.After(2 * time.Millisecond):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		t.Logf("killed at %d lines (wanted %d)", journalLines(journal), at)
	}
	if _, err := killSearch(out).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, _ := ReadJournal(filepath.Join(ref, "journal.jsonl"))
	got, err := ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	count := func(evs []Event) map[int]int {
		m := map[int]int{}
		for _, e := range evs {
			if e.Type == TrialFinished || e.Type == TrialFailed {
				m[*e.Trial]++
			}
		}
		return m
	}
	cw, cg := count(want), count(got)
	if len(cg) != len(cw) || len(cw) != 24 {
		t.Fatalf("finished trials: %d after kills, %d unkilled, want 24", len(cg), len(cw))
	}
	for id, n := range cg {
		if n != 1 {
			t.Errorf("trial %d finished %d times", id, n)
		}
	}
	pw, pg := proposals(want), proposals(got)
	for id := range pw {
		if !reflect.DeepEqual(pw[id].Choices, pg[id].Choices) {
			t.Errorf("trial %d: proposed %v after kills, %v unkilled", id, pg[id].Choices, pw[id].Choices)
		}
	}
}

// TestRerunFinishedSameFiles reruns a finished search: it reads every
// trial back from the journal, and must write the same top/ files and
// summary.json, byte for byte, as the run that did the trials.
func TestRerunFinishedSameFiles(t *testing.T) {
	out := t.TempDir()
	runSyntheticIn(t, out, "rl", 3, 16, testSites)
	files := func() map[string]string {
		m := map[string]string{}
		paths, _ := filepath.Glob(filepath.Join(out, "top", "*.json"))
		for _, p := range append(paths, filepath.Join(out, "summary.json")) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m[filepath.Base(p)] = string(b)
		}
		return m
	}
	first := files()
	if len(first) < 2 {
		t.Fatalf("files after the run: %v, want top patterns and summary.json", first)
	}
	for i := 0; i < 3; i++ {
		runSyntheticIn(t, out, "rl", 3, 16, testSites)
		again := files()
		for name, b := range first {
			if again[name] != b {
				t.Fatalf("rerun %d: %s changed:\n%s\nwas\n%s", i+1, name, again[name], b)
			}
		}
		if len(again) != len(first) {
			t.Fatalf("rerun %d: %d files, was %d", i+1, len(again), len(first))
		}
	}
}

func TestConfigChangeRefused(t *testing.T) {
	out := t.TempDir()
	runSyntheticIn(t, out, "random", 1, 4, testSites)
	cfg := Config{Method: "random", Budget: 4, Parallel: 2, SamplesPerUpdate: 8, Seed: 2, Controller: ControllerConfig{LR: 0.05}}.WithDefaults()
	s := &Search{Config: cfg, Sites: testSites, Executor: synthetic(0), Out: out}
	if _, err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "another configuration (seed 1 then, 2 now; task.seed 1 then, 2 now)") {
		t.Fatalf("err %v, want a refusal naming the seed", err)
	}
	// Another model's sites, the same fields: the refusal says so.
	same := Config{Method: "random", Budget: 4, Parallel: 2, SamplesPerUpdate: 8, Seed: 1, Controller: ControllerConfig{LR: 0.05}}.WithDefaults()
	other := &Search{Config: same, Sites: []string{"bn1", "other.bn2"}, Executor: synthetic(0), Out: out}
	if _, err := other.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "(the model's dropout sites differ)") {
		t.Fatalf("err %v, want a refusal naming the sites", err)
	}
	s.ForceConfig = true
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The method and the controller stay, even forced.
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Method: "rl", Budget: 4, SamplesPerUpdate: 2}, `method "random"; it cannot change to "rl"`},
		{Config{Method: "random", Budget: 4, Controller: ControllerConfig{Kind: "transformer"}}, `controller.kind "lstm"; it cannot change to "transformer"`},
	} {
		tc.cfg.Seed = 2
		s := &Search{Config: tc.cfg.WithDefaults(), Sites: testSites, Executor: synthetic(0), Out: out, ForceConfig: true}
		if _, err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestReadConfig(t *testing.T) {
	cfg, err := ReadConfig("../configs/search-fashion-mnist-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != "rl" || cfg.Budget != 8 || cfg.Controller.BaselineDecay != 0.9 || cfg.Task.Model != "convnet" || cfg.Task.TimeoutDuration().Minutes() != 10 {
		t.Errorf("config %+v", cfg)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ json, err string }{
		{`{"method": "evolution"}`, "method"},
		{`{"budjet": 3}`, `line 1 col 2: unknown field "budjet"; did you mean "budget"?`},
		{`{"task": {"timeout": "soon"}}`, "timeout"},
		{`{"controller": {"baseline_decay": 1.5}}`, "baseline_decay"},
		{`{"budget": 3`, "unexpected end of file (truncated?)"},
		// Issue 27's rows: the file, line, field path and type wanted; a
		// did-you-mean among the known keys.
		{"{\n  \"budget\": \"8\"\n}", `line 2 col 13: budget: got the string "8", want an integer`},
		{"{\"task\": {\n  \"model\": \"convnet\",\n  \"train_subst\": 100}}", `line 3 col 3: task: unknown field "train_subst"; did you mean "train_subset"?`},
	} {
		p := filepath.Join(dir, "c.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want one naming %s and %q", tc.json, err, p, tc.err)
		}
	}
}

func TestConfigDiff(t *testing.T) {
	for _, tc := range []struct{ was, now, want string }{
		{`{"budget": 8}`, `{"budget": 8}`, ""},
		{`{"budget": 8, "parallel": 2}`, `{"budget": 16, "parallel": 4}`, "budget 8 then, 16 now"},
		{`{"task": {"lr": 0.1, "timeout": "1h"}}`, `{"task": {"lr": 0.2, "timeout": "2h"}}`, "task.lr 0.1 then, 0.2 now"},
		{`{"methods": ["rl"]}`, `{"methods": ["rl", "random"]}`, `methods[1] "random" now, absent then`},
		{`{"seed": 1}`, `{}`, "seed 1 then, absent now"},
	} {
		if got := configDiff(json.RawMessage(tc.was), json.RawMessage(tc.now)); got != tc.want {
			t.Errorf("configDiff(%s, %s) = %q, want %q", tc.was, tc.now, got, tc.want)
		}
	}
}
