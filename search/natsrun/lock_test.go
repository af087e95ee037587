package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/search"
)

// TestWorkerWaitsForAHeldFolder: a worker never trains in a trial folder
// another process holds (on shared storage, a worker presumed dead that
// still trains there). It waits, saying who holds it; then it acks a
// trial the holder answered meanwhile, and runs one it did not.
func TestWorkerWaitsForAHeldFolder(t *testing.T) {
	defer func(d time.Duration) { lockPoll = d }(lockPoll)
	lockPoll = 20 * time.Millisecond
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const run = "held"
	trials, _ := trialsStream(ctx, js)
	results, _ := resultsStream(ctx, js)
	dirs := map[int]string{3: filepath.Join(t.TempDir(), "0003"), 4: filepath.Join(t.TempDir(), "0004")}
	locks := map[int]*runlock.Lock{}
	for id, dir := range dirs {
		os.MkdirAll(dir, 0o755)
		l, err := runlock.AcquireFile(filepath.Join(dir, trialLock)) // the other holder
		if err != nil {
			t.Fatal(err)
		}
		locks[id] = l
		b, _ := json.Marshal(trialMsg{Run: run, Trial: search.Trial{ID: id, Dir: dir}})
		if _, err := js.Publish(ctx, trialSubject(run, id), b); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	var log syncBuffer
	w := &Worker{Run: run, Name: "w", Parallel: 2, AckWait: testAckWait, Log: &log,
		Executor: search.ExecutorFunc(func(ctx context.Context, tr search.Trial) search.Result {
			runs.Add(1)
			return search.Result{Reward: 0.4, Metrics: map[string]float64{"val_acc": 0.4}}
		})}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- w.Serve(wctx, js) }()
	for id, dir := range dirs {
		want := "trial " + strconv.Itoa(id) + " of run held waits for its folder: " + dir + " is in use by process " + strconv.Itoa(os.Getpid())
		eventually(t, "the worker waiting for trial "+strconv.Itoa(id), func() bool { return strings.Contains(log.String(), want) })
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("%d trials run in held folders", n)
	}
	// The holder of trial 3 stores its result and lets go; trial 4's only lets go.
	b, _ := json.Marshal(resultMsg{Run: run, Trial: 3, Worker: "other", Reward: 0.3})
	if _, err := js.Publish(ctx, resultSubject(run, 3), b); err != nil {
		t.Fatal(err)
	}
	locks[3].Release()
	locks[4].Release()
	var r resultMsg
	eventually(t, "trial 4's result", func() bool {
		var ok bool
		r, ok, _ = firstResult(ctx, results, run, key{4, noRung})
		return ok
	})
	eventually(t, "both trials acked", func() bool {
		info, err := trials.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if r.Worker != "w" || r.Reward != 0.4 || runs.Load() != 1 {
		t.Errorf("trial 4: result %+v after %d runs; want w's, run once", r, runs.Load())
	}
	if !strings.Contains(log.String(), "trial 3 of run held has a result already, from the process that held its folder") {
		t.Errorf("log %q: want trial 3 acked for its holder's result", log.String())
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestLockRun: a second controller of a run is refused with one line
// naming the run and the holder; a released claim is free at once, a
// killed controller's lapses after the TTL; a claim taken over is lost,
// and its journal appends no more.
func TestLockRun(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx := context.Background()
	l1, err := LockRun(ctx, js, "r")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockRun(ctx, js, "r")
	var he *RunHeldError
	if !errors.As(err, &he) || !errors.Is(err, search.ErrInUse) {
		t.Fatalf("second claim: %v, want a *RunHeldError", err)
	}
	host, _ := os.Hostname()
	if want := "run r is controlled by process " + strconv.Itoa(os.Getpid()) + " on " + host + " (natsrun.test"; !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("second claim: %q, want one line with %q", err, want)
	}
	other, err := LockRun(ctx, js, "other-run")
	if err != nil {
		t.Fatalf("another run: %v", err)
	}
	other.Release()
	time.Sleep(testControllerTTL / 2) // heartbeats keep the claim past its TTL
	time.Sleep(testControllerTTL)
	if _, err := LockRun(ctx, js, "r"); !errors.Is(err, search.ErrInUse) {
		t.Fatalf("claim after a TTL of heartbeats: %v, want a refusal", err)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockRun(ctx, js, "r")
	if err != nil {
		t.Fatalf("claim after Release: %v", err)
	}
	l2.Release()

	// A controller killed with SIGKILL: refused while its claim lasts,
	// free once it lapses.
	p := startProc(t, "claimer", "claim", urlEnv+"="+url, runEnv+"=r")
	p.waitLine(t, regexp.MustCompile(`claimed`), 30*time.Second)
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	_, err = LockRun(ctx, js, "r")
	if !errors.As(err, &he) || he.Holder.PID != p.cmd.Process.Pid {
		t.Fatalf("claim right after the kill: %v, want a refusal naming pid %d", err, p.cmd.Process.Pid)
	}
	var l3 *RunLock
	killed := time.Now()
	eventually(t, "the killed controller's claim to lapse", func() bool {
		l3, err = LockRun(ctx, js, "r")
		return err == nil
	})
	t.Logf("the claim lapsed %v after the kill (TTL %v)", time.Since(killed).Round(time.Millisecond), testControllerTTL)

	// Taken over (its heartbeats did not reach the server for a TTL, and
	// another controller claimed the run): lost, and its journal refuses.
	j, err := OpenJournal(ctx, js, "r")
	if err != nil {
		t.Fatal(err)
	}
	j.lock = l3
	kv, _, _ := controllersBucket(ctx, js)
	kv.Put(ctx, "r", []byte(`{"id": "x", "host": "elsewhere", "pid": 7, "command": "autodropout search"}`))
	eventually(t, "the claim to be lost", func() bool { return l3.Err() != nil })
	err = j.Append(search.Event{Type: search.RunStarted})
	if err == nil || !strings.Contains(err.Error(), "lost the claim on run r: run r is controlled by process 7 on elsewhere") {
		t.Errorf("append after the claim was lost: %v", err)
	}
	j.Close()
}
