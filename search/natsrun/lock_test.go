package natsrun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
