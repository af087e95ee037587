package natsrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
)

// stateTimeout bounds one copy of a rung state to or from the server;
// states of large models run to hundreds of MB.
var stateTimeout = 10 * time.Minute

// rungFailure is an error that fails the rung: it is recorded as the
// rung's result. Other errors of a rung's preparation (the server away)
// hand the message back instead.
type rungFailure struct{ error }

// rungStates are the local files of the rung a worker runs, removed when
// it is done with them: the server keeps the states.
type rungStates struct {
	resume, save string // "": none
}

func (s *rungStates) cleanup() {
	if s == nil {
		return
	}
	for _, f := range []string{s.resume, s.save} {
		if f != "" {
			os.Remove(f)
		}
	}
}

// localState is where a worker keeps the state after rung r of the trial
// in dir, the name search gives it in the controller's trial folder.
func localState(dir string, r int) string {
	return filepath.Join(dir, fmt.Sprintf("rung-%d.state", r))
}

// stateStore returns StatesBucket, opened on first use.
func (w *Worker) stateStore(ctx context.Context) (jetstream.ObjectStore, error) {
	w.statesMu.Lock()
	defer w.statesMu.Unlock()
	if w.states == nil {
		obs, err := statesBucket(ctx, w.js)
		if err != nil {
			return nil, err
		}
		w.states = obs
	}
	return w.states, nil
}

// prepareRung points t's state paths (the controller's) at files in
// t.Dir: the rung saves to t.Dir/rung-R.state, and resumes from
// t.Dir/rung-(R-1).state, fetched from the object the previous rung's
// first result names. That result is the one the search journaled, so
// the rung continues from exactly the training that earned the
// promotion, whatever a duplicate run of the previous rung stored.
func (w *Worker) prepareRung(ctx context.Context, results jetstream.Stream, run string, k key, t *search.Trial) (*rungStates, error) {
	st := &rungStates{}
	if t.SaveState != "" {
		st.save = localState(t.Dir, k.Rung)
		os.Remove(st.save) // an earlier attempt's must not pass for this one's
		t.SaveState = st.save
	}
	if t.ResumeState == "" {
		return st, nil
	}
	prev := key{k.Trial, k.Rung - 1}
	if prev.Rung < 0 {
		return st, rungFailure{fmt.Errorf("%v has a state to resume from, but no previous rung", k)}
	}
	r, ok, err := firstResult(ctx, results, run, prev)
	switch {
	case err != nil:
		return st, err
	case !ok:
		return st, rungFailure{fmt.Errorf("no result of %v stored: no state to resume from", prev)}
	case r.Failed || r.State == "":
		return st, rungFailure{fmt.Errorf("the result of %v (worker %s) names no state to resume from", prev, r.Worker)}
	}
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	obs, err := w.stateStore(sctx)
	if err != nil {
		return st, err
	}
	st.resume = localState(t.Dir, prev.Rung)
	if err := getState(sctx, obs, r.State, st.resume); err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return st, rungFailure{fmt.Errorf("state %s of %v is gone from bucket %s (its batch ended, or it was purged)", r.State, prev, StatesBucket)}
		}
		return st, err
	}
	t.ResumeState = st.resume
	return st, nil
}

// getState copies object name of obs to path, whole or not at all.
func getState(ctx context.Context, obs jetstream.ObjectStore, name, path string) error {
	o, err := obs.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", StatesBucket, name, err)
	}
	defer o.Close()
	part := path + ".part"
	f, err := os.Create(part)
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", StatesBucket, name, err)
	}
	_, err = io.Copy(f, o) // the object's digest is checked at its end
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(part, path)
	}
	if err != nil {
		os.Remove(part)
		return fmt.Errorf("get %s/%s: %w", StatesBucket, name, err)
	}
	return nil
}

// storeState puts the state the rung saved at path into StatesBucket as
// name, retrying until ctx ends. It stores nothing when the rung has a
// result already (this run is a duplicate, whose result the search
// ignores) and reports so with stored false. A rung that saved no state
// is a rungFailure.
func (w *Worker) storeState(ctx context.Context, results jetstream.Stream, run string, k key, path, name string) (stored bool, err error) {
	if _, ok, err := firstResult(ctx, results, run, k); err == nil && ok {
		w.logf("%v of run %s has a result already; its state is not stored", k, run)
		return false, nil
	}
	if _, err := os.Stat(path); err != nil {
		return false, rungFailure{fmt.Errorf("the rung saved no state: %w", err)}
	}
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		obs, err := w.stateStore(sctx)
		if err == nil {
			if err = putState(sctx, obs, name, path); err == nil {
				return true, nil
			}
		}
		if sctx.Err() != nil {
			return false, fmt.Errorf("store state: %w", err)
		}
		w.logf("%v: store state: %v; retrying in %v", k, err, wait)
		time.Sleep(wait)
	}
}

func putState(ctx context.Context, obs jetstream.ObjectStore, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, f); err != nil {
		return fmt.Errorf("put %s/%s: %w", StatesBucket, name, err)
	}
	return nil
}
