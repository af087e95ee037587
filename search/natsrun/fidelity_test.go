package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
)

// rungTrainer is a worker's stand-in for multi-fidelity training. A
// rung's score depends on the trial's choices, its epochs and the score
// in the state it resumes from; the state it saves holds its trial, rung
// and score. So a rung resumed from any other state than its previous
// rung's scores differently, and the journal shows it.
type rungTrainer struct {
	worker string
	dir    string // the worker's trials folder: states must be fetched into it
	shared *rungLog
}

// rungLog is what every rungTrainer of a test saw.
type rungLog struct {
	mu      sync.Mutex
	runs    map[key]int
	resumed map[key]string // the state each rung > 0 resumed from
	bad     []string
	// hold, if set, is called at the start of a rung; true: the rung
	// blocks until its worker stops (a worker lost mid-rung).
	hold func(worker string, t search.Trial) bool
	// check is called at the start of a rung.
	check func(t search.Trial)
}

func (l *rungLog) errorf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, fmt.Sprintf(format, a...))
}

func stateText(id, rung int, score float64) string {
	return fmt.Sprintf("trial %d rung %d score %.17g", id, rung, score)
}

func (f *rungTrainer) Run(ctx context.Context, t search.Trial) search.Result {
	l := f.shared
	k := key{t.ID, t.Rung}
	l.mu.Lock()
	l.runs[k]++
	hold, check := l.hold, l.check
	l.mu.Unlock()
	if check != nil {
		check(t)
	}
	if hold != nil && hold(f.worker, t) {
		<-ctx.Done()
		return search.Result{Err: ctx.Err()}
	}
	prev := 0.0
	if t.ResumeState != "" {
		if f.dir != "" && !strings.HasPrefix(t.ResumeState, f.dir) {
			l.errorf("%v resumes from %s, outside worker %s's folder", k, t.ResumeState, f.worker)
		}
		b, err := os.ReadFile(t.ResumeState)
		if err != nil {
			return search.Result{Err: err}
		}
		var id, rung int
		if _, err := fmt.Sscanf(string(b), "trial %d rung %d score %g", &id, &rung, &prev); err != nil || id != t.ID || rung != t.Rung-1 {
			l.errorf("%v resumed from state %q", k, b)
		}
		l.mu.Lock()
		l.resumed[k] = string(b)
		l.mu.Unlock()
	}
	hit, n := 0, 0
	for s, c := range t.Choices {
		for j := range c {
			n++
			if c[j]%2 == s%2 {
				hit++
			}
		}
	}
	epochs := t.Task.Epochs
	if t.StopEpoch > 0 {
		epochs = t.StopEpoch
	}
	q := float64(hit) / float64(n)
	r := 0.3*prev + 0.7*q*float64(epochs)/float64(epochs+1) + 0.05*rand.New(rand.NewSource(int64(t.ID*10+t.Rung))).NormFloat64()
	if t.ID == 4 && t.Rung == 0 {
		return search.Result{Err: errors.New("diverged"), Cost: search.Cost{CPUS: 0.5}}
	}
	if t.SaveState != "" {
		if f.dir != "" && !strings.HasPrefix(t.SaveState, f.dir) {
			l.errorf("%v saves to %s, outside worker %s's folder", k, t.SaveState, f.worker)
		}
		os.MkdirAll(filepath.Dir(t.SaveState), 0o755)
		if err := os.WriteFile(t.SaveState, []byte(stateText(t.ID, t.Rung, r)), 0o644); err != nil {
			return search.Result{Err: err}
		}
	}
	return search.Result{Reward: r, Metrics: map[string]float64{"val_acc": r},
		Cost: search.Cost{WallS: float64(epochs), CPUS: float64(epochs), Steps: epochs}}
}

// mfSearch: 2 batches of 6 trials, rungs 1, 3, 9 epochs, reduction 3.
func mfSearch(method, out string, ex search.Executor) *search.Search {
	cfg := search.Config{Method: method, Budget: 12, Parallel: 3, SamplesPerUpdate: 6, Seed: 5,
		Task:          search.Task{Epochs: 9},
		MultiFidelity: &search.MultiFidelity{Rungs: []int{1, 3, 9}, Reduction: 3}}.WithDefaults()
	return &search.Search{Config: cfg, Sites: []string{"bn1", "block.bn2"}, Executor: ex, Out: out}
}

// outcome is what a journal says of every trial, without times and order.
func outcome(evs []search.Event) []string {
	var lines []string
	for _, e := range evs {
		switch e.Type {
		case search.RungFinished, search.TrialPromoted, search.TrialStopped, search.TrialFinished, search.TrialFailed, search.TrialProposed, search.ControllerUpdated:
			line := e.Type
			if e.Trial != nil {
				line += fmt.Sprintf(" trial %d", *e.Trial)
			}
			if e.Rung != nil {
				line += fmt.Sprintf(" rung %d epochs %d", *e.Rung, e.Epochs)
			}
			if e.Reward != nil {
				line += fmt.Sprintf(" reward %.12g", *e.Reward)
			}
			if e.Reason != "" {
				line += " reason " + e.Reason
			}
			if e.Cost != nil {
				line += fmt.Sprintf(" cpu %g", e.Cost.CPUS)
			}
			if e.Step != nil {
				line += fmt.Sprintf(" step %d", *e.Step)
			}
			if e.MeanReward != nil {
				line += fmt.Sprintf(" mean %.12g", *e.MeanReward)
			}
			if e.Type == search.TrialProposed {
				line += fmt.Sprint(" ", e.Choices)
			}
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return lines
}

func newRungLog() *rungLog {
	return &rungLog{runs: map[key]int{}, resumed: map[key]string{}}
}

// TestMultiFidelityOverNATS runs a multi-fidelity search on two workers
// with their own trial folders, so that rung states can only travel
// through the server, and loses one worker in the middle of a rung. The
// journal must say what the same search says on the local executor:
// the same rung results, promotions, stops, rewards and controller
// updates. Every rung after the first resumes from the state its trial's
// previous rung saved, and a batch's states are gone from the server
// once the batch ends.
func TestMultiFidelityOverNATS(t *testing.T) {
	for _, method := range []string{"rl", "random"} {
		t.Run(method, func(t *testing.T) { testMultiFidelityOverNATS(t, method) })
	}
}

func testMultiFidelityOverNATS(t *testing.T, method string) {
	ref := t.TempDir()
	local := newRungLog()
	refSum, err := mfSearch(method, ref, &rungTrainer{worker: "local", shared: local}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refEvs, err := search.ReadJournal(filepath.Join(ref, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}

	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const run = "mf"
	obs, err := statesBucket(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	l := newRungLog()
	// The first rung > 0 to start blocks: its worker is then stopped.
	lost := make(chan string, 1)
	var held key
	l.hold = func(worker string, tr search.Trial) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if tr.Rung == 0 || held != (key{}) {
			return false
		}
		held = key{tr.ID, tr.Rung}
		lost <- worker
		return true
	}
	// Once batch 1 runs, no state of batch 0 is left on the server.
	var batch1States []string
	l.check = func(tr search.Trial) {
		if tr.ID < 6 || tr.Rung != 0 {
			return
		}
		objs, err := obs.List(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
			l.errorf("list states: %v", err)
		}
		for _, o := range objs {
			var id int
			if _, err := fmt.Sscanf(o.Name, run+"/%d/", &id); err == nil && id < 6 {
				l.mu.Lock()
				batch1States = append(batch1States, o.Name)
				l.mu.Unlock()
			}
		}
	}
	type worker struct {
		dir  string
		stop context.CancelFunc
		done chan error
	}
	workers := map[string]*worker{}
	var log syncBuffer
	start := func(name string) {
		dir := filepath.Join(t.TempDir(), name)
		wctx, stop := context.WithCancel(ctx)
		w := &worker{dir: dir, stop: stop, done: make(chan error, 1)}
		workers[name] = w
		sv := &Worker{Run: run, Name: name, TrialsDir: dir, AckWait: testAckWait, Log: &log,
			Executor: &rungTrainer{worker: name, dir: dir, shared: l}}
		go func() { w.done <- sv.Serve(wctx, js) }()
	}
	start("w1")
	start("w2")

	ex, err := NewExecutor(ctx, js, run, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	j, err := OpenJournal(ctx, js, run)
	if err != nil {
		t.Fatal(err)
	}
	s := mfSearch(method, t.TempDir(), ex)
	s.Journal = j
	type ended struct {
		sum search.Summary
		err error
	}
	ran := make(chan ended, 1)
	go func() {
		sum, err := s.Run(ctx)
		ran <- ended{sum, err}
	}()
	select {
	case name := <-lost:
		workers[name].stop() // hands the rung back
		if err := <-workers[name].done; err != nil {
			t.Errorf("worker %s stopped with %v", name, err)
		}
		start("w3")
	case <-time.After(30 * time.Second):
		t.Fatal("no rung after the first started")
	}
	var got ended
	select {
	case got = <-ran:
	case <-ctx.Done():
		t.Fatalf("search over NATS did not finish; log:\n%s", log.String())
	}
	for _, w := range workers {
		w.stop()
	}
	if got.err != nil {
		t.Fatalf("search over NATS: %v\nlog:\n%s", got.err, log.String())
	}
	evs, err := j.Events()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := outcome(refEvs), outcome(evs); !reflect.DeepEqual(a, b) {
		t.Errorf("journal over NATS differs from the local one:\n%s\n--- local:\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"))
	}
	if got.sum.BestReward != refSum.BestReward || got.sum.BestTrial != refSum.BestTrial || got.sum.Stopped != refSum.Stopped ||
		got.sum.FullFidelity != refSum.FullFidelity || got.sum.Failures != refSum.Failures || got.sum.CPUS != refSum.CPUS ||
		!reflect.DeepEqual(got.sum.StoppedPerRung, refSum.StoppedPerRung) {
		t.Errorf("summary over NATS %+v, local %+v", got.sum, refSum)
	}
	if refSum.FullFidelity != 2 || refSum.Stopped != 9 {
		t.Errorf("local summary %+v: want 2 trials at full fidelity, 9 stopped", refSum)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range append(local.bad, l.bad...) {
		t.Error(b)
	}
	if len(batch1States) > 0 {
		t.Errorf("states of batch 0 on the server while batch 1 ran: %v", batch1States)
	}
	// The same rungs resumed from the same states as on the local executor.
	if !reflect.DeepEqual(l.resumed, local.resumed) || len(l.resumed) != 6 {
		t.Errorf("states resumed over NATS %v\nlocally %v\nwant the same 6", l.resumed, local.resumed)
	}
	if l.runs[held] != 2 {
		t.Errorf("%v, held by the lost worker, ran %d times; want 2", held, l.runs[held])
	}
	for k, n := range l.runs {
		if n != 1 && k != held {
			t.Errorf("%v ran %d times", k, n)
		}
	}
	if objs, err := obs.List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		var names []string
		for _, o := range objs {
			names = append(names, o.Name)
		}
		t.Errorf("states left on the server after the search: %v (err %v)", names, err)
	}
	for _, w := range workers {
		if left, _ := filepath.Glob(filepath.Join(w.dir, run, "*", "*.state*")); len(left) > 0 {
			t.Errorf("worker left state files: %v", left)
		}
	}
	if !strings.Contains(log.String(), fmt.Sprintf("%v of run %s interrupted; handed back", held, run)) {
		t.Errorf("log does not say %v was handed back:\n%s", held, log.String())
	}
}

// TestWorkerRungWithoutState: a rung whose previous rung's state is not
// on the server (deleted with its batch, a failed previous rung) fails
// with the reason, and is not run.
func TestWorkerRungWithoutState(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "nostate"
	if _, err := trialsStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	results, err := resultsStream(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	// Trial 1's rung 0 names a state nobody stored; trial 2 has no rung 0 result.
	zero := 0
	b, _ := json.Marshal(resultMsg{Run: run, Trial: 1, Rung: &zero, Worker: "gone", Reward: 0.3, State: stateObject(run, key{1, 0}, 1, 1)})
	if _, err := js.Publish(ctx, resultKeySubject(run, key{1, 0}), b); err != nil {
		t.Fatal(err)
	}
	one := 1
	for _, id := range []int{1, 2} {
		tr := search.Trial{ID: id, Dir: filepath.Join(t.TempDir(), "t"), Rung: 1, ResumeState: "x/rung-0.state", SaveState: "x/rung-1.state", StopEpoch: 3}
		b, _ = json.Marshal(trialMsg{Run: run, Trial: tr, Rung: &one})
		if _, err := js.Publish(ctx, trialKeySubject(run, key{id, 1}), b); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	w := &Worker{Run: run, Name: "w", AckWait: testAckWait,
		Executor: search.ExecutorFunc(func(ctx context.Context, t search.Trial) search.Result {
			runs.Add(1)
			return search.Result{Reward: 1}
		})}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go w.Serve(wctx, js)
	for id, want := range map[int]string{1: "is gone from bucket " + StatesBucket, 2: "no result of trial 2 rung 0 stored"} {
		var r resultMsg
		eventually(t, fmt.Sprintf("trial %d rung 1 failed", id), func() bool {
			var ok bool
			r, ok, _ = firstResult(ctx, results, run, key{id, 1})
			return ok
		})
		if !r.Failed || !strings.Contains(r.Reason, want) || r.Rung == nil || *r.Rung != 1 {
			t.Errorf("trial %d rung 1: result %+v; want a failure saying %q", id, r, want)
		}
	}
	if runs.Load() != 0 {
		t.Errorf("%d rungs ran without their state", runs.Load())
	}
}
