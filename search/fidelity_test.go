package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// rungKey names one rung of one trial.
type rungKey struct{ trial, rung int }

// fakeRungs is a multi-fidelity executor: a trial's score at E epochs is
// its synthetic quality times E/(E+1) plus noise seeded by trial and
// rung. It writes the states it is asked to save, checks that the state
// it resumes from exists, and counts the rungs it runs.
type fakeRungs struct {
	mu   sync.Mutex
	runs map[rungKey]int
	bad  []string
}

func (f *fakeRungs) Run(ctx context.Context, t Trial) Result {
	f.mu.Lock()
	if f.runs == nil {
		f.runs = map[rungKey]int{}
	}
	f.runs[rungKey{t.ID, t.Rung}]++
	f.mu.Unlock()
	if t.ResumeState != "" {
		if _, err := os.Stat(t.ResumeState); err != nil {
			f.mu.Lock()
			f.bad = append(f.bad, fmt.Sprintf("trial %d rung %d: %v", t.ID, t.Rung, err))
			f.mu.Unlock()
		}
	}
	epochs := t.Task.Epochs
	if t.StopEpoch > 0 {
		epochs = t.StopEpoch
	}
	if t.SaveState != "" {
		os.MkdirAll(filepath.Dir(t.SaveState), 0o755)
		os.WriteFile(t.SaveState, []byte("state"), 0o644)
	}
	q := synthetic(0)(ctx, t).Reward
	r := q*float64(epochs)/float64(epochs+1) + 0.05*rand.New(rand.NewSource(int64(t.ID*10+t.Rung))).NormFloat64()
	if t.ID == 4 && t.Rung == 0 {
		return Result{Err: errors.New("diverged"), Cost: Cost{CPUS: 0.5}}
	}
	return Result{Reward: r, Metrics: map[string]float64{"val_acc": r}, Cost: Cost{WallS: float64(epochs), CPUS: float64(epochs), Steps: epochs}}
}

// mfSearch: 2 batches of 6 trials, rungs 1, 3, 9 epochs, reduction 3.
func mfSearch(out, method string, parallel int, ex Executor) *Search {
	cfg := Config{Method: method, Budget: 12, Parallel: parallel, SamplesPerUpdate: 6, Seed: 5,
		Task:          Task{Epochs: 9},
		MultiFidelity: &MultiFidelity{Rungs: []int{1, 3, 9}, Reduction: 3}}.WithDefaults()
	return &Search{Config: cfg, Sites: testSites[:1], Executor: ex, Out: out}
}

// outcome is what a journal says of every trial, without times and order.
func outcome(t *testing.T, out string) []string {
	t.Helper()
	evs, err := ReadJournal(filepath.Join(out, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range evs {
		switch e.Type {
		case RungFinished, TrialPromoted, TrialStopped, TrialFinished, TrialFailed, TrialProposed:
			line := fmt.Sprintf("%s trial %d", e.Type, *e.Trial)
			if e.Rung != nil {
				line += fmt.Sprintf(" rung %d epochs %d", *e.Rung, e.Epochs)
			}
			if e.Reward != nil {
				line += fmt.Sprintf(" reward %.12g", *e.Reward)
			}
			if e.Cost != nil {
				line += fmt.Sprintf(" cpu %g", e.Cost.CPUS)
			}
			if e.Type == TrialProposed {
				line += fmt.Sprint(" ", e.Choices)
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return lines
}

func TestMultiFidelitySchedule(t *testing.T) {
	for _, method := range []string{"rl", "random"} {
		t.Run(method, func(t *testing.T) {
			ref := t.TempDir()
			ex := &fakeRungs{}
			sum, err := mfSearch(ref, method, 1, ex).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.bad) > 0 {
				t.Errorf("resumed from missing states: %v", ex.bad)
			}
			// Batch of 6: rung 0 runs 6 (trial 4 fails), promotes 2; rung 1
			// runs 2, promotes 1; rung 2 runs 1.
			perRung := map[int]int{}
			for k, n := range ex.runs {
				if n != 1 {
					t.Errorf("trial %d rung %d ran %d times", k.trial, k.rung, n)
				}
				perRung[k.rung]++
			}
			if !reflect.DeepEqual(perRung, map[int]int{0: 12, 1: 4, 2: 2}) {
				t.Errorf("rungs run %v, want 12, 4, 2", perRung)
			}
			if sum.FullFidelity != 2 || sum.Finished != 2 || sum.Failures != 1 || sum.Stopped != 9 ||
				!reflect.DeepEqual(sum.StoppedPerRung, []int{7, 2}) || sum.Trials != 12 {
				t.Errorf("summary %+v", sum)
			}
			if want := 12*1.0 + 4*3 + 2*9 - 1 + 0.5; math.Abs(sum.CPUS-want) > 1e-9 {
				t.Errorf("total CPU %v, want every rung's: %v", sum.CPUS, want)
			}
			checkRewards(t, ref, sum)
			states, _ := filepath.Glob(filepath.Join(ref, "trials", "*", "*.state"))
			if len(states) > 0 {
				t.Errorf("rung states left after the search: %v", states)
			}
			// Any parallelism: the same journal.
			par := t.TempDir()
			if _, err := mfSearch(par, method, 3, &fakeRungs{}).Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if a, b := outcome(t, ref), outcome(t, par); !reflect.DeepEqual(a, b) {
				t.Errorf("parallel 3 differs from parallel 1:\n%s\n---\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"))
			}
		})
	}
}

// checkRewards checks promotions, stopped rewards and the best trial
// against the journal.
func checkRewards(t *testing.T, out string, sum Summary) {
	t.Helper()
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	rung := map[rungKey]float64{}
	final := map[int]Event{}
	promoted := map[rungKey]bool{}
	for _, e := range evs {
		switch e.Type {
		case RungFinished:
			rung[rungKey{*e.Trial, *e.Rung}] = *e.Reward
		case TrialPromoted:
			promoted[rungKey{*e.Trial, *e.Rung}] = true
		case TrialFinished, TrialFailed, TrialStopped:
			if _, dup := final[*e.Trial]; dup {
				t.Errorf("trial %d ended twice", *e.Trial)
			}
			final[*e.Trial] = e
		}
	}
	best, bestID := math.Inf(-1), -1
	for b := 0; b < 2; b++ {
		// The promoted at rung 0 are the two best of the batch's rung-0 scores.
		var scores []rungKey
		for id := b * 6; id < b*6+6; id++ {
			if _, ok := rung[rungKey{id, 0}]; ok {
				scores = append(scores, rungKey{id, 0})
			}
		}
		sort.Slice(scores, func(i, j int) bool { return rung[scores[i]] > rung[scores[j]] })
		for i, k := range scores {
			if promoted[k] != (i < 2) {
				t.Errorf("batch %d: trial %d (rank %d at rung 0) promoted %v", b, k.trial, i, promoted[k])
			}
		}
	}
	for id, e := range final {
		switch e.Type {
		case TrialFinished:
			if *e.Rung != 2 {
				t.Errorf("trial %d finished at rung %d", id, *e.Rung)
			}
			if *e.Reward > best {
				best, bestID = *e.Reward, id
			}
		case TrialStopped:
			h := *e.Rung
			var gains []float64
			for j, f := range final {
				if f.Type == TrialFinished && j < (id/6+1)*6 {
					gains = append(gains, *f.Reward-rung[rungKey{j, h}])
				}
			}
			if want := StoppedReward(rung[rungKey{id, h}], gains); math.Abs(*e.Reward-want) > 1e-12 || len(gains) == 0 {
				t.Errorf("trial %d stopped at rung %d: reward %v, want %v (gains %v)", id, h, *e.Reward, want, gains)
			}
		}
	}
	if sum.BestTrial != bestID || sum.BestReward != best {
		t.Errorf("best trial %d (%v), want the best full-fidelity trial %d (%v)", sum.BestTrial, sum.BestReward, bestID, best)
	}
}

func TestStoppedReward(t *testing.T) {
	for _, tc := range []struct {
		score float64
		gains []float64
		want  float64
	}{
		{0.5, nil, 0.5},
		{0.5, []float64{0.1, 0.3}, 0.7},
		{0.4, []float64{-0.1}, 0.3},
	} {
		if got := StoppedReward(tc.score, tc.gains); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("StoppedReward(%v, %v) = %v, want %v", tc.score, tc.gains, got, tc.want)
		}
	}
}

// killJournal fails every append after the first n, as a kill there would.
type killJournal struct {
	*FileJournal
	n int
}

func (k *killJournal) Append(e Event) error {
	if k.n <= 0 {
		return errKill
	}
	k.n--
	return k.FileJournal.Append(e)
}

// TestMultiFidelityKillAnywhere kills the search after every journal
// event in turn and resumes it: the journal and summary equal an unkilled
// run's, and no rung whose result was journaled runs again.
func TestMultiFidelityKillAnywhere(t *testing.T) {
	ref := t.TempDir()
	want, err := mfSearch(ref, "rl", 2, &fakeRungs{}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantOut := outcome(t, ref)
	evs, _ := ReadJournal(filepath.Join(ref, "journal.jsonl"))
	for n := 1; n < len(evs); n += 2 {
		out := t.TempDir()
		fj, err := OpenFileJournal(filepath.Join(out, "journal.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		s := mfSearch(out, "rl", 2, &fakeRungs{})
		s.Journal = &killJournal{fj, n}
		if _, err := s.Run(context.Background()); !errors.Is(err, errKill) {
			t.Fatalf("kill after %d events: err %v", n, err)
		}
		fj.Close()
		kept, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		recorded := map[rungKey]bool{}
		for _, e := range kept {
			if e.Rung != nil && (e.Type == RungFinished || e.Type == TrialFinished || e.Type == TrialFailed) {
				recorded[rungKey{*e.Trial, *e.Rung}] = true
			}
		}
		ex := &fakeRungs{}
		got, err := mfSearch(out, "rl", 2, ex).Run(context.Background())
		if err != nil {
			t.Fatalf("resume after %d events: %v", n, err)
		}
		for k := range ex.runs {
			if recorded[k] {
				t.Errorf("kill after %d events: trial %d rung %d ran again", n, k.trial, k.rung)
			}
		}
		if len(ex.bad) > 0 {
			t.Errorf("kill after %d events: %v", n, ex.bad)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("kill after %d events: summary %+v, want %+v", n, got, want)
		}
		if g := outcome(t, out); !reflect.DeepEqual(g, wantOut) {
			t.Errorf("kill after %d events: journal differs:\n%s\n---\n%s", n, strings.Join(g, "\n"), strings.Join(wantOut, "\n"))
		}
	}
}

// TestRealMultiFidelitySearch runs configs/search-fashion-mnist-multifidelity-tiny.json
// through the real autodropout binary: rung states are saved and resumed
// by real trainings.
func TestRealMultiFidelitySearch(t *testing.T) {
	cfg, err := ReadConfig("../configs/search-fashion-mnist-multifidelity-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MultiFidelity == nil || len(cfg.MultiFidelity.Rungs) != 2 {
		t.Fatalf("multi_fidelity %+v", cfg.MultiFidelity)
	}
	if testing.Short() {
		t.Skip("trains real models")
	}
	const dataDir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dataDir); err != nil {
		t.Skip("no Fashion-MNIST:", err)
	}
	cfg.Task.DataDir, cfg.Cores = dataDir, 1
	out := t.TempDir()
	s := &Search{Config: cfg, Sites: []string{"bn1", "bn2"}, Out: out, Executor: &LocalExecutor{Binary: buildBinary(t), Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary %+v", sum)
	if sum.FullFidelity != 2 || sum.Stopped != 4 || sum.Failures != 0 || sum.Updates != 2 {
		evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		t.Fatalf("summary %+v; journal %+v", sum, evs)
	}
	if sum.BestReward <= 0.1 || sum.BestReward > 1 || sum.CPUS <= 0 {
		t.Errorf("summary %+v: want a reward above chance and CPU time", sum)
	}
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	for _, e := range evs {
		if e.Type == TrialFinished && (e.Epochs != 2 || e.Metrics["val_acc"] != *e.Reward) {
			t.Errorf("trial %d finished at %d epochs with reward %v", *e.Trial, e.Epochs, *e.Reward)
		}
	}
}

// A rung whose previous state is gone (a search resumed on another machine
// from its committed journal) trains from the start to its stop epoch
// instead of failing; a rung whose state is there resumes from it.
func TestLocalRungWithoutState(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "train.sh")
	os.WriteFile(bin, []byte(`#!/bin/sh
echo "$*" > `+filepath.Join(dir, "args")+`
while [ $# -gt 0 ]; do [ "$1" = --out ] && OUT=$2; shift; done
echo '{"val_acc": 0.5, "steps": 1, "examples": 8, "wall_s": 0.1}' > $OUT/result.json
`), 0o755)
	pat, err := autodropout.EncodePatterns([]autodropout.SitePattern{{Site: "bn1", Pattern: autodropout.Pattern{Size: 3, Stride: 1, Repeat: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "trial", "rung-0.state")
	for _, have := range []bool{false, true} {
		if have {
			os.WriteFile(state, []byte("state"), 0o644)
		}
		tr := Trial{ID: 1, Patterns: pat, Task: Task{Epochs: 10}, Dir: filepath.Join(dir, "trial"), Threads: 1,
			Rung: 1, StopEpoch: 3, ResumeState: state, SaveState: filepath.Join(dir, "trial", "rung-1.state")}
		if r := (&LocalExecutor{Binary: bin}).Run(context.Background(), tr); r.Err != nil {
			t.Fatal(r.Err)
		}
		args, _ := os.ReadFile(filepath.Join(dir, "args"))
		if resumes := strings.Contains(string(args), "--resume-state"); resumes != have || !strings.Contains(string(args), "--stop-epoch 3") {
			t.Errorf("state present %v: train %s", have, args)
		}
	}
}
