package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/search"
)

// Worker takes the trials of one run from the work queue and runs them.
type Worker struct {
	Run           string          // run whose trials it takes (default DefaultRun)
	Name          string          // in results and logs (default HOST-PID)
	Parallel      int             // trials at once (default 1)
	Threads       int             // libtorch threads per trial (default cores/Parallel)
	Binary        string          // autodropout binary for search.LocalExecutor; required without Executor (the command passes its own)
	TrialsDir     string          // "": run in the trial's own Dir (shared storage); else in TrialsDir/RUN/<its base name>
	AckWait       time.Duration   // for a consumer this worker creates (default DefaultAckWait)
	MaxDeliveries int             // deliveries after which a trial is a failure (default 5)
	Executor      search.Executor // nil: search.LocalExecutor with the task's timeout
	Log           io.Writer       // what the worker does; nil: none

	js       jetstream.JetStream
	statesMu sync.Mutex
	states   jetstream.ObjectStore // StatesBucket, opened when first needed
}

// fetchWait is how long one pull waits for a trial.
var fetchWait = 5 * time.Second

func (w *Worker) defaults() {
	if w.Run == "" {
		w.Run = DefaultRun
	}
	if w.Name == "" {
		host, _ := os.Hostname()
		w.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	w.Parallel = max(w.Parallel, 1)
	if w.Threads <= 0 {
		w.Threads = max(1, runtime.NumCPU()/w.Parallel)
	}
	if w.AckWait <= 0 {
		w.AckWait = DefaultAckWait
	}
	if w.MaxDeliveries <= 0 {
		w.MaxDeliveries = 5
	}
	if w.Log == nil {
		w.Log = io.Discard
	}
}

func (w *Worker) logf(format string, a ...any) {
	fmt.Fprintf(w.Log, "worker %s: "+format+"\n", append([]any{w.Name}, a...)...)
}

// Serve runs trials until ctx ends; then it kills the trials it runs and
// naks them, so that other workers take them at once. It returns nil
// after ctx ends, or the error that stopped it.
func (w *Worker) Serve(ctx context.Context, js jetstream.JetStream) error {
	w.defaults()
	if err := CheckRun(w.Run); err != nil {
		return err
	}
	if err := search.Probed(); err != nil {
		return err
	}
	if w.Executor == nil && w.Binary == "" {
		return fmt.Errorf("worker: set Binary (the autodropout binary that trains the trials) or Executor")
	}
	if w.Executor == nil { // refuse a binary that is not autodropout before taking a trial
		if err := search.CheckBinary(ctx, w.Binary); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
	}
	w.js = js
	if _, err := trialsStream(ctx, js); err != nil {
		return err
	}
	results, err := resultsStream(ctx, js)
	if err != nil {
		return err
	}
	cons, ackWait, err := w.consumer(ctx, js)
	if err != nil {
		return err
	}
	w.logf("serving run %s: %d trial(s) at once, %d thread(s) each, ack wait %v", w.Run, w.Parallel, w.Threads, ackWait)

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	slots := make(chan struct{}, w.Parallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	quiet := false // report a failing pull once, not every few seconds
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return fatal(ctx)
		}
		m, err := w.next(ctx, cons)
		if m == nil {
			<-slots
			if ctx.Err() != nil {
				return fatal(ctx)
			}
			if err != nil {
				if !quiet {
					w.logf("waiting for trials: %v", err)
				}
				quiet = true
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		quiet = false
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := w.handle(ctx, m, results, ackWait); err != nil {
				stop(err)
			}
		}()
	}
}

// fatal is what Serve returns once ctx is done: nil when its parent was
// cancelled, the cause when a trial stopped the worker.
func fatal(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// consumer returns the run's durable consumer, creating it if needed.
// An existing one is used as it is, and its ack wait sets the heartbeat:
// workers with different --ack-wait must not shorten each other's.
func (w *Worker) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, time.Duration, error) {
	name := consumerName(w.Run)
	c, err := js.Consumer(ctx, TrialsStream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		c, err = js.CreateConsumer(ctx, TrialsStream, jetstream.ConsumerConfig{
			Durable:       name,
			Description:   "autodropout workers of run " + w.Run,
			FilterSubject: "autodropout.trials." + w.Run + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.AckWait,
			MaxAckPending: -1,
		})
		if errors.Is(err, jetstream.ErrConsumerExists) {
			c, err = js.Consumer(ctx, TrialsStream, name)
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("consumer %s: %w", name, err)
	}
	ack := c.CachedInfo().Config.AckWait
	if ack != w.AckWait {
		w.logf("consumer %s has ack wait %v (not %v); heartbeats follow it", name, ack, w.AckWait)
	}
	return c, ack, nil
}

// next pulls one trial, or nothing after fetchWait.
func (w *Worker) next(ctx context.Context, c jetstream.Consumer) (jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := c.Fetch(1, jetstream.FetchContext(fctx))
	if err != nil {
		return nil, err
	}
	for m := range batch.Messages() {
		return m, nil
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
		return nil, err
	}
	return nil, nil
}

// handle runs one trial message to its end: result stored, then acked. An
// error stops the worker (its machine cannot run trials).
func (w *Worker) handle(ctx context.Context, m jetstream.Msg, results jetstream.Stream, ackWait time.Duration) error {
	meta, err := m.Metadata()
	if err != nil {
		w.logf("trial message without metadata: %v; left for redelivery", err)
		return nil
	}
	var tm trialMsg
	if err := json.Unmarshal(m.Data(), &tm); err != nil {
		// Undecodable now means undecodable on every worker.
		w.logf("message %d (%s) is not a trial: %v; terminated", meta.Sequence.Stream, m.Subject(), err)
		m.TermWithReason("not a trial: " + err.Error())
		return nil
	}
	t := tm.Trial
	delivery := meta.NumDelivered
	// Keep the message ours while we look and run: looking takes a round
	// trip, running may take hours.
	hb, stopHB := context.WithCancel(context.Background())
	var hbDone sync.WaitGroup
	hbDone.Add(1)
	go func() {
		defer hbDone.Done()
		tick := time.NewTicker(max(ackWait/4, 50*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-hb.Done():
				return
			case <-tick.C:
				m.InProgress() // a lost heartbeat only risks a duplicate, which the controller drops
			}
		}
	}()
	stopHeartbeat := func() { stopHB(); hbDone.Wait() }

	k := tm.key()
	// Its previous holder may have died between storing the result and
	// acking: then only the ack is missing.
	if r, ok, err := firstResult(ctx, results, tm.Run, k); err == nil && ok {
		stopHeartbeat()
		w.logf("%v of run %s has a result already (worker %s); acking delivery %d", k, tm.Run, r.Worker, delivery)
		w.ack(ctx, m)
		return nil
	}
	var res search.Result
	var states *rungStates
	if int(delivery) > w.MaxDeliveries {
		res = search.Result{Err: fmt.Errorf("delivered %d times without a result (workers killed or lost mid-trial?)", delivery)}
		w.logf("%v of run %s: %v; recorded as failed", k, tm.Run, res.Err)
	} else {
		t.Threads = w.Threads
		if w.TrialsDir != "" {
			t.Dir = filepath.Join(w.TrialsDir, tm.Run, filepath.Base(t.Dir))
		}
		if err := os.MkdirAll(t.Dir, 0o755); err != nil {
			stopHeartbeat()
			m.Nak()
			return fmt.Errorf("trial %d: cannot make its folder here (mount the shared storage, or give --trials DIR): %w", t.ID, err)
		}
		lock, answered, err := w.lockTrial(ctx, results, tm.Run, k, t.Dir)
		switch {
		case err != nil && ctx.Err() != nil:
			stopHeartbeat()
			m.Nak()
			w.logf("%v of run %s interrupted while waiting for its folder; handed back", k, tm.Run)
			return nil
		case err != nil:
			stopHeartbeat()
			m.Nak()
			return fmt.Errorf("trial %d: %w", t.ID, err)
		case answered:
			stopHeartbeat()
			w.logf("%v of run %s has a result already, from the process that held its folder; acking delivery %d", k, tm.Run, delivery)
			w.ack(ctx, m)
			return nil
		}
		defer lock.Release()
		if k.Rung != noRung {
			var err error
			states, err = w.prepareRung(ctx, results, tm.Run, k, &t)
			var fail rungFailure
			switch {
			case errors.As(err, &fail):
				res = search.Result{Err: fail.error}
			case err != nil:
				// The server is away or slow: not the trial's fault.
				stopHeartbeat()
				states.cleanup()
				if ctx.Err() != nil {
					m.Nak()
				} else {
					m.NakWithDelay(5 * time.Second)
				}
				w.logf("%v of run %s: %v; handed back", k, tm.Run, err)
				return nil
			}
		}
		if res.Err == nil {
			w.logf("%v of run %s started (delivery %d) in %s", k, tm.Run, delivery, t.Dir)
			ex := w.Executor
			if ex == nil {
				ex = &search.LocalExecutor{Binary: w.Binary, Timeout: t.Task.TimeoutDuration()}
			}
			res = ex.Run(ctx, t)
			if ctx.Err() != nil {
				stopHeartbeat()
				states.cleanup()
				m.Nak() // stopping: hand the trial back now rather than after the ack wait
				w.logf("%v of run %s interrupted; handed back", k, tm.Run)
				return nil
			}
		}
	}
	// Store the result even while stopping: it cost a trial.
	pctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := fromResult(tm.Run, k, w.Name, delivery, res)
	if states != nil && res.Err == nil && states.save != "" {
		// The state first, then the result that names it, then the ack:
		// whoever sees the result finds the state.
		name := stateObject(tm.Run, k, meta.Sequence.Stream, delivery)
		stored, err := w.storeState(context.WithoutCancel(ctx), results, tm.Run, k, states.save, name)
		var fail rungFailure
		if err != nil && !errors.As(err, &fail) {
			stopHeartbeat()
			states.cleanup()
			w.logf("%v of run %s: %v; left for redelivery", k, tm.Run, err)
			return nil
		}
		if err != nil {
			r = fromResult(tm.Run, k, w.Name, delivery, search.Result{Err: fail.error, Cost: res.Cost, Output: res.Output})
		} else if stored {
			r.State = name
		}
	}
	states.cleanup()
	b, err := json.Marshal(r)
	if err != nil {
		stopHeartbeat()
		return fmt.Errorf("%v: encode result: %w", k, err)
	}
	id := fmt.Sprintf("%s.%s.%d.%d", tm.Run, k.token(), meta.Sequence.Stream, delivery)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		_, err = w.publish(pctx, resultKeySubject(tm.Run, k), b, id)
		if err == nil || pctx.Err() != nil {
			break
		}
		w.logf("%v: store result: %v; retrying in %v", k, err, wait)
		time.Sleep(wait)
	}
	stopHeartbeat()
	if err != nil {
		// Without the result stored, the message must stay: it will be redelivered.
		w.logf("%v: could not store its result: %v; left for redelivery", k, err)
		return nil
	}
	if r.Failed {
		w.logf("%v of run %s failed: %s", k, tm.Run, r.Reason)
	} else {
		w.logf("%v of run %s finished: reward %.4f", k, tm.Run, res.Reward)
	}
	w.ack(ctx, m)
	return nil
}

func (w *Worker) publish(ctx context.Context, subj string, b []byte, id string) (*jetstream.PubAck, error) {
	return w.js.Publish(ctx, subj, b, jetstream.WithMsgID(id))
}

func (w *Worker) ack(ctx context.Context, m jetstream.Msg) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		// The result is stored: a redelivery will only be acked.
		w.logf("ack %s: %v", m.Subject(), err)
	}
}

// trialLock is the file a worker locks in a trial folder while it works
// there (package runlock); the training it starts locks the folder's own
// runlock.Name.
const trialLock = ".worker.lock"

// lockPoll is how often a worker looks whether a trial folder it waits
// for is free.
var lockPoll = 2 * time.Second

// lockTrial takes the worker lock of trial folder dir. While another
// process holds it (on shared storage, a worker presumed dead that still
// trains there), it waits, says so once, and keeps the message with the
// heartbeat; two trainings never write one folder. After a wait the
// other may have stored the trial's result: answered says so, and the
// lock is released. An error is the lock file's (the folder is not
// writable) or ctx's.
func (w *Worker) lockTrial(ctx context.Context, results jetstream.Stream, run string, k key, dir string) (l *runlock.Lock, answered bool, err error) {
	waited := false
	for {
		l, err = runlock.AcquireFile(filepath.Join(dir, trialLock))
		if !errors.Is(err, runlock.ErrHeld) {
			break
		}
		if !waited {
			w.logf("%v of run %s waits for its folder: %v", k, run, err)
			waited = true
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
	if err != nil || !waited {
		return l, false, err
	}
	// A failed look-up only risks a duplicate, which the controller drops.
	if _, answered, _ = firstResult(ctx, results, run, k); answered {
		l.Release()
		return nil, true, nil
	}
	return l, false, nil
}
