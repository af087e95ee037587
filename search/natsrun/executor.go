package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/autodropout/autodropout/search"
)

// Executor is the controller's side: a search.Executor that queues every
// trial for the workers and waits for its first result.
type Executor struct {
	js       jetstream.JetStream
	run      string
	trials   jetstream.Stream
	results  jetstream.Stream
	log      io.Writer
	consumer jetstream.ConsumeContext

	mu    sync.Mutex
	first map[key]resultMsg     // first result per trial or rung
	wake  map[key]chan struct{} // closed when the first result arrives
	dups  int

	statesMu sync.Mutex
	states   jetstream.ObjectStore // StatesBucket, opened when first needed
}

// resultPoll is how often a waiting Run asks the results stream itself,
// in case the subscription that normally wakes it has stalled.
var resultPoll = 15 * time.Second

// NewExecutor returns the executor of run, creating the streams if
// needed. Duplicate results and retries are reported on log (nil: none).
// Close stops its subscription.
func NewExecutor(ctx context.Context, js jetstream.JetStream, run string, log io.Writer) (*Executor, error) {
	if err := CheckRun(run); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	e := &Executor{js: js, run: run, log: log, first: map[key]resultMsg{}, wake: map[key]chan struct{}{}}
	var err error
	if e.trials, err = trialsStream(ctx, js); err != nil {
		return nil, err
	}
	if e.results, err = resultsStream(ctx, js); err != nil {
		return nil, err
	}
	// Every result of the run, old ones first: it wakes waiting trials and
	// sees the duplicates.
	c, err := js.OrderedConsumer(ctx, ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"autodropout.results." + run + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: subscribe to results: %w", run, err)
	}
	e.consumer, err = c.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			fmt.Fprintf(e.log, "run %s: result message: %v\n", run, err)
			return
		}
		r, err := decodeResult(m.Data(), meta.Sequence.Stream)
		if err != nil {
			fmt.Fprintf(e.log, "run %s: %v; ignored\n", run, err)
			return
		}
		e.record(r)
	})
	if err != nil {
		return nil, fmt.Errorf("run %s: subscribe to results: %w", run, err)
	}
	return e, nil
}

func decodeResult(b []byte, seq uint64) (resultMsg, error) {
	var r resultMsg
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("result message %d: %w", seq, err)
	}
	r.seq = seq
	return r, nil
}

// record keeps r if it is the first result of its trial (or rung) and
// reports it as a duplicate otherwise. The same message seen twice
// (looked up, then delivered) is neither.
func (e *Executor) record(r resultMsg) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := r.key()
	if f, ok := e.first[k]; ok {
		if f.seq == r.seq {
			return
		}
		e.dups++
		fmt.Fprintf(e.log, "run %s: duplicate result for %v from worker %s (delivery %d, reward %.4f) ignored: the first came from worker %s (delivery %d, reward %.4f)\n",
			e.run, k, r.Worker, r.Delivery, r.Reward, f.Worker, f.Delivery, f.Reward)
		return
	}
	e.first[k] = r
	if ch, ok := e.wake[k]; ok {
		close(ch)
	} else {
		ch = make(chan struct{})
		close(ch)
		e.wake[k] = ch
	}
}

func (e *Executor) waitFor(k key) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.wake[k]
	if !ok {
		ch = make(chan struct{})
		e.wake[k] = ch
	}
	return ch
}

// Duplicates is the number of results seen after a trial's first.
func (e *Executor) Duplicates() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dups
}

// Run queues the trial, unless it is queued or answered already, and
// waits for its first result or for ctx to end. An ended ctx leaves the
// trial queued: a worker may finish it, and the next controller picks up
// the result.
//
// A multi-fidelity rung (t.Rung, t.StopEpoch, t.ResumeState,
// t.SaveState set by the search) is queued and answered as its own
// (trial, rung). The state paths in t are the controller's; the worker
// resumes from the state the previous rung's first result names in
// StatesBucket and stores the state it saves there (see the package
// comment).
func (e *Executor) Run(ctx context.Context, t search.Trial) search.Result {
	k := keyOf(t)
	wait := DefaultBackoff.Min
	for {
		err := e.submit(ctx, t)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return search.Result{Err: fmt.Errorf("cancelled: %w", ctx.Err())}
		}
		// The server is away (restarting, network): the trial has not
		// failed, so wait for it rather than record a failure.
		fmt.Fprintf(e.log, "run %s: %v: %v; retrying in %v\n", e.run, k, err, wait)
		select {
		case <-ctx.Done():
			return search.Result{Err: fmt.Errorf("cancelled: %w", ctx.Err())}
		case <-time.After(wait):
		}
		wait = min(2*wait, DefaultBackoff.Max)
	}
	ch := e.waitFor(k)
	poll := time.NewTicker(resultPoll)
	defer poll.Stop()
	for {
		select {
		case <-ch:
			e.mu.Lock()
			r := e.first[k]
			e.mu.Unlock()
			return r.result()
		case <-ctx.Done():
			return search.Result{Err: fmt.Errorf("cancelled: %w", ctx.Err())}
		case <-poll.C:
			if r, ok, err := firstResult(ctx, e.results, e.run, k); err == nil && ok {
				e.record(r)
			}
		}
	}
}

// submit makes sure the trial is queued or answered. A trial message
// leaves the queue only after its result is stored, so asking in this
// order (queued? answered?) leaves no moment where a trial being run is
// neither, and a trial that is neither is run by nobody.
func (e *Executor) submit(ctx context.Context, t search.Trial) error {
	k := keyOf(t)
	subj := trialKeySubject(e.run, k)
	_, err := e.trials.GetLastMsgForSubject(ctx, subj)
	switch {
	case err == nil:
		fmt.Fprintf(e.log, "run %s: %v is queued already; waiting for its result\n", e.run, k)
		return nil
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("look up queued trial: %w", err)
	}
	r, ok, err := firstResult(ctx, e.results, e.run, k)
	if err != nil {
		return err
	}
	if ok {
		fmt.Fprintf(e.log, "run %s: %v has a result already (worker %s); not run again\n", e.run, k, r.Worker)
		e.record(r)
		return nil
	}
	b, err := json.Marshal(trialMsg{Run: e.run, Trial: t, Rung: k.rung()})
	if err != nil {
		return fmt.Errorf("encode %v: %w", k, err)
	}
	// The id makes a retried publish (lost acknowledgement) a no-op.
	id := e.run + "." + k.token() + "." + nuid.Next()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.js.Publish(pctx, subj, b, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(5)); err != nil {
		return fmt.Errorf("queue trial: %w", err)
	}
	return nil
}

// RemoveRungStates deletes the rung states stored for trials (a batch
// that has ended) from StatesBucket; search.Search calls it (it makes
// Executor a search.StateStore).
func (e *Executor) RemoveRungStates(ctx context.Context, trials []search.Trial) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointTimeout)
	defer cancel()
	e.statesMu.Lock()
	defer e.statesMu.Unlock()
	if e.states == nil {
		obs, err := statesBucket(ctx, e.js)
		if err != nil {
			return err
		}
		e.states = obs
	}
	return removeStates(ctx, e.states, e.run, trials)
}

// removeStates deletes every state of the run's trials from obs.
func removeStates(ctx context.Context, obs jetstream.ObjectStore, run string, trials []search.Trial) error {
	objs, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", StatesBucket, err)
	}
	var first error
	for _, o := range objs {
		for _, t := range trials {
			if strings.HasPrefix(o.Name, stateTrialPrefix(run, t.ID)) {
				if err := obs.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) && first == nil {
					first = fmt.Errorf("delete %s/%s: %w", StatesBucket, o.Name, err)
				}
				break
			}
		}
	}
	return first
}

// Close stops the results subscription; the connection is the caller's.
func (e *Executor) Close() error {
	e.consumer.Stop()
	return nil
}
