package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
)

// answer plays a worker in-process: it takes n trials (or rungs) of run
// and publishes for each the results reward(its key) returns, in order
// (more than one: a late finisher), then acks.
func answer(ctx context.Context, t *testing.T, js jetstream.JetStream, run string, n int, rewards func(k key) []float64) {
	t.Helper()
	w := &Worker{Run: run, AckWait: testAckWait}
	w.defaults()
	if _, err := trialsStream(ctx, js); err != nil {
		t.Error(err)
		return
	}
	cons, _, err := w.consumer(ctx, js)
	if err != nil {
		t.Error(err)
		return
	}
	for done := 0; done < n && ctx.Err() == nil; {
		m, err := w.next(ctx, cons)
		if m == nil {
			if err != nil {
				t.Error(err)
				return
			}
			continue
		}
		var tm trialMsg
		if err := json.Unmarshal(m.Data(), &tm); err != nil {
			t.Error(err)
			return
		}
		k := tm.key()
		for i, rw := range rewards(k) {
			r := resultMsg{Run: run, Trial: k.Trial, Rung: k.rung(), Worker: fmt.Sprintf("fake-%d", i), Delivery: 1, Reward: rw,
				Metrics: map[string]float64{"val_acc": rw}}
			b, _ := json.Marshal(r)
			if _, err := js.Publish(ctx, resultKeySubject(run, k), b); err != nil {
				t.Error(err)
				return
			}
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Error(err)
		}
		done++
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDuplicateResult: a trial answered twice (a worker presumed dead
// finishes late) returns the first result; the second is logged and
// counted, also by a controller started after both came in, which does
// not queue the trial again.
func TestDuplicateResult(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "dup"
	var log syncBuffer
	e, err := NewExecutor(ctx, js, run, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	go answer(ctx, t, js, run, 1, func(key) []float64 { return []float64{0.7, 0.1} })
	tr := search.Trial{ID: 5, Seed: 1, Task: search.Config{}.WithDefaults().Task, Dir: "/nonexistent/0005"}
	if r := e.Run(ctx, tr); r.Err != nil || r.Reward != 0.7 {
		t.Fatalf("result %+v, want reward 0.7 (the first)", r)
	}
	eventually(t, "the duplicate", func() bool { return e.Duplicates() == 1 })
	if !strings.Contains(log.String(), "duplicate result for trial 5 from worker fake-1") {
		t.Errorf("log %q does not report the duplicate", log.String())
	}

	var log2 syncBuffer
	e2, err := NewExecutor(ctx, js, run, &log2)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if r := e2.Run(ctx, tr); r.Err != nil || r.Reward != 0.7 {
		t.Fatalf("after restart: result %+v, want reward 0.7", r)
	}
	eventually(t, "the duplicate after restart", func() bool { return e2.Duplicates() == 1 })
	trials, _ := trialsStream(ctx, js)
	if _, err := trials.GetLastMsgForSubject(ctx, trialSubject(run, 5)); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("answered trial queued again (err %v)", err)
	}
	if !strings.Contains(log2.String(), "has a result already") {
		t.Errorf("log %q does not say the trial was answered", log2.String())
	}
}

// TestRungResults: the rungs of a trial and the whole trial of the same
// id are queued and answered apart, each its first result; a duplicate
// of a rung's result is ignored and counted, also after a restart.
func TestRungResults(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "rungs"
	var log syncBuffer
	e, err := NewExecutor(ctx, js, run, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	reward := func(k key) float64 { return float64(k.Trial) + float64(k.Rung+2)/10 }
	go answer(ctx, t, js, run, 3, func(k key) []float64 { return []float64{reward(k), 0.01} })
	task := search.Config{}.WithDefaults().Task
	trials := []search.Trial{
		{ID: 5, Task: task, Dir: "/nonexistent/0005", Rung: 0, StopEpoch: 1, SaveState: "/nonexistent/0005/rung-0.state"},
		{ID: 5, Task: task, Dir: "/nonexistent/0005", Rung: 1, ResumeState: "/nonexistent/0005/rung-0.state"},
		{ID: 5, Task: task, Dir: "/nonexistent/0005"},
	}
	for _, tr := range trials {
		k := keyOf(tr)
		if r := e.Run(ctx, tr); r.Err != nil || r.Reward != reward(k) {
			t.Errorf("%v: result %+v, want reward %v", k, r, reward(k))
		}
	}
	eventually(t, "three duplicates", func() bool { return e.Duplicates() == 3 })
	if !strings.Contains(log.String(), "duplicate result for trial 5 rung 1 from worker fake-1") {
		t.Errorf("log %q does not report the rung's duplicate", log.String())
	}
	e2, err := NewExecutor(ctx, js, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if r := e2.Run(ctx, trials[1]); r.Err != nil || r.Reward != reward(key{5, 1}) {
		t.Errorf("after restart: rung 1 result %+v", r)
	}
	trialsS, _ := trialsStream(ctx, js)
	if _, err := trialsS.GetLastMsgForSubject(ctx, trialKeySubject(run, key{5, 1})); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("answered rung queued again (err %v)", err)
	}
}

// TestSearchCountsFirstResults runs a whole search whose every trial is
// answered twice: the journal and the summary count each trial once,
// with its first reward.
func TestSearchCountsFirstResults(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "twice"
	first := func(id int) float64 { return 0.5 + float64(id)/100 }
	go answer(ctx, t, js, run, 6, func(k key) []float64 { return []float64{first(k.Trial), 0.01} })
	e, err := NewExecutor(ctx, js, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	j, err := OpenJournal(ctx, js, run)
	if err != nil {
		t.Fatal(err)
	}
	cfg := search.Config{Method: "random", Budget: 6, Parallel: 3}.WithDefaults()
	s := &search.Search{Config: cfg, Sites: []string{"bn1"}, Executor: e, Journal: j, Out: t.TempDir()}
	sum, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Finished != 6 || sum.Trials != 6 || sum.BestReward != first(5) {
		t.Errorf("summary %+v: want 6 trials, best %v", sum, first(5))
	}
	evs, err := j.Events()
	if err != nil {
		t.Fatal(err)
	}
	n := map[int]int{}
	for _, ev := range evs {
		if ev.Type == search.TrialFinished {
			n[*ev.Trial]++
			if *ev.Reward != first(*ev.Trial) {
				t.Errorf("trial %d: reward %v journaled, want the first, %v", *ev.Trial, *ev.Reward, first(*ev.Trial))
			}
		}
	}
	for id := range 6 {
		if n[id] != 1 {
			t.Errorf("trial %d finished %d times in the journal", id, n[id])
		}
	}
	eventually(t, "six duplicates", func() bool { return e.Duplicates() == 6 })
}

// TestWorkerAcksAnsweredTrial: a redelivered trial that has a result
// (its worker died between storing the result and acking) is acked, not
// run again; a trial delivered too often is a failure, not run.
func TestWorkerAcksAnsweredTrial(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "answered"
	trials, _ := trialsStream(ctx, js)
	results, _ := resultsStream(ctx, js)
	b, _ := json.Marshal(resultMsg{Run: run, Trial: 7, Worker: "gone", Reward: 0.3})
	if _, err := js.Publish(ctx, resultSubject(run, 7), b); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int{7, 8} {
		b, _ = json.Marshal(trialMsg{Run: run, Trial: search.Trial{ID: id, Dir: filepath.Join(t.TempDir(), "t")}})
		if _, err := js.Publish(ctx, trialSubject(run, id), b); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	var log syncBuffer
	w := &Worker{Run: run, Name: "w", AckWait: testAckWait, MaxDeliveries: 1, Log: &log,
		Executor: search.ExecutorFunc(func(ctx context.Context, t search.Trial) search.Result {
			runs.Add(1)
			if t.ID == 8 {
				<-ctx.Done() // never answers: a dying worker
			}
			return search.Result{Err: ctx.Err()}
		})}
	wctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- w.Serve(wctx, js) }()
	eventually(t, "trial 7 acked", func() bool {
		_, err := trials.GetLastMsgForSubject(ctx, trialSubject(run, 7))
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	eventually(t, "trial 8 running", func() bool { return runs.Load() == 1 })
	stop() // trial 8 is handed back (nak) and comes again as delivery 2 > MaxDeliveries
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	w2 := &Worker{Run: run, Name: "w2", MaxDeliveries: 1, Log: &log, Executor: w.Executor}
	wctx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { served <- w2.Serve(wctx, js) }()
	var r resultMsg
	eventually(t, "trial 8 failed", func() bool {
		var ok bool
		r, ok, _ = firstResult(ctx, results, run, key{8, noRung})
		return ok
	})
	if !r.Failed || !strings.Contains(r.Reason, "delivered 2 times") || runs.Load() != 1 {
		t.Errorf("trial 8: result %+v after %d runs; want a failure without a second run", r, runs.Load())
	}
	if !strings.Contains(log.String(), "trial 7 of run answered has a result already") {
		t.Errorf("log %q", log.String())
	}
}

// TestWorkerRetriesConnect: a worker started before its server retries
// with a growing wait, says so, and connects once the server is up.
func TestWorkerRetriesConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("nats://u:secret@127.0.0.1:%d", port)
	var log syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type conn struct {
		ok  bool
		err error
	}
	got := make(chan conn, 1)
	go func() {
		nc, err := ConnectRetry(ctx, url, Options{}, Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond}, "worker", &log)
		if err == nil {
			nc.Close()
		}
		got <- conn{err == nil, err}
	}()
	eventually(t, "four retries", func() bool { return log.Count("retrying in") >= 4 })
	startServer(t, port) // no users configured: any credentials are accepted
	if c := <-got; !c.ok {
		t.Fatalf("no connection after the server started: %v", c.err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	want := regexp.MustCompile(`^worker: nats://REDACTED@127\.0\.0\.1:\d+: .*connection refused; retrying in (50ms|100ms|200ms)$`)
	for i, l := range lines {
		if !want.MatchString(l) {
			t.Errorf("line %q does not match %q", l, want)
		}
		if strings.Contains(l, "secret") {
			t.Errorf("line %q shows the password", l)
		}
		if i < 3 && !strings.HasSuffix(l, []string{"50ms", "100ms", "200ms"}[i]) {
			t.Errorf("line %d %q: want waits of 50ms, 100ms, 200ms", i, l)
		}
	}
}

// TestJournal: events come back in order; a second writer fences the
// first; an append whose acknowledgement was lost is recognised.
func TestJournal(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx := context.Background()
	j1, err := OpenJournal(ctx, js, "j")
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := j1.Events(); err != nil || len(evs) != 0 {
		t.Fatalf("new journal: %d events, err %v", len(evs), err)
	}
	for i := range 700 { // more than one fetch
		if err := j1.Append(search.Event{Type: search.TrialStarted, Trial: &i}); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := OpenJournal(ctx, js, "other") // another run does not interfere
	if err := other.Append(search.Event{Type: search.RunStarted}); err != nil {
		t.Fatal(err)
	}
	// A lost acknowledgement: the same append again from the same position.
	before := j1.last
	last := 700
	if err := j1.Append(search.Event{Type: search.TrialStarted, Trial: &last}); err != nil {
		t.Fatal(err)
	}
	j1.last = before
	if err := j1.Append(search.Event{Type: search.TrialStarted, Trial: &last}); err != nil {
		t.Fatalf("retried append: %v", err)
	}
	evs, err := j1.Events()
	if err != nil || len(evs) != 701 {
		t.Fatalf("%d events, err %v; want 701", len(evs), err)
	}
	for i, e := range evs {
		if *e.Trial != i {
			t.Fatalf("event %d is trial %d", i, *e.Trial)
		}
	}
	j2, err := OpenJournal(ctx, js, "j")
	if err != nil {
		t.Fatal(err)
	}
	if err := j2.Append(search.Event{Type: search.ControllerUpdated}); !errors.Is(err, search.ErrInUse) {
		t.Fatalf("second writer while the first holds the run: err %v, want a refusal", err)
	}
	// A writer that bypasses the claim is fenced all the same.
	if _, err := js.Publish(ctx, journalSubject("j"), []byte(`{"type": "controller_updated"}`)); err != nil {
		t.Fatal(err)
	}
	if err := j1.Append(search.Event{Type: search.ControllerUpdated}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("after another writer: err %v, want a refusal", err)
	}
	if err := j1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j2.Events(); err != nil { // as a resuming search reads it first
		t.Fatal(err)
	}
	if err := j2.Append(search.Event{Type: search.ControllerUpdated}); err != nil {
		t.Errorf("second writer after the first closed: %v", err)
	}
	j2.Close()
}

// TestCheckpoints: a saved checkpoint comes back into an empty folder;
// with none stored, Restore leaves the file alone.
func TestCheckpoints(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx := context.Background()
	c, err := OpenCheckpoints(ctx, js, "ck")
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(t.TempDir(), "controller.json")
	os.WriteFile(a, []byte(`{"step": 1}`), 0o644)
	if err := c.Restore(a); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(a); string(b) != `{"step": 1}` {
		t.Errorf("Restore with nothing stored changed the file to %s", b)
	}
	if err := c.Saved(a); err != nil {
		t.Fatal(err)
	}
	other, _ := OpenCheckpoints(ctx, js, "ck2")
	b := filepath.Join(t.TempDir(), "controller.json")
	if err := other.Restore(b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Errorf("another run's checkpoint restored: %v", err)
	}
	if err := c.Restore(b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b); string(got) != `{"step": 1}` {
		t.Errorf("restored %q", got)
	}
}
