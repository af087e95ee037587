package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/search"
)

// ControllersBucket is the key-value bucket in which each run's
// controller holds its claim (key RUN).
const ControllersBucket = "autodropout_controllers"

// DefaultControllerTTL is how long a controller's claim on its run
// outlives its last heartbeat: a controller killed with SIGKILL blocks a
// new one for at most this long. It is the bucket's TTL, set by the
// first controller that creates the bucket.
const DefaultControllerTTL = 30 * time.Second

// controllerTTL is the TTL of a bucket this process creates (tests
// shorten it).
var controllerTTL = DefaultControllerTTL

// claim is the value of a run's key: who controls it.
type claim struct {
	ID      string    `json:"id"` // this claim's own, unique
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// RunHeldError says that another controller holds a run. It wraps
// search.ErrInUse.
type RunHeldError struct {
	Run    string
	Holder claim
	Lapses time.Time     // when the claim lapses if its holder sends no more heartbeats
	TTL    time.Duration // the bucket's
}

func (e *RunHeldError) Error() string {
	h := e.Holder
	return fmt.Sprintf("run %s is controlled by process %d on %s (%s, since %s): a second controller is refused; if that one was killed, its claim lapses %v after its last heartbeat, by %s",
		e.Run, h.PID, h.Host, h.Command, h.Since.Local().Format(time.TimeOnly), e.TTL, e.Lapses.Local().Format(time.TimeOnly))
}

// Unwrap makes errors.Is(err, search.ErrInUse) true.
func (e *RunHeldError) Unwrap() error { return search.ErrInUse }

// A RunLock is a controller's claim on a run: a key in
// ControllersBucket that it refreshes every third of the bucket's TTL.
// If the claim lapses and another controller takes the run, Err says so
// and the Journal refuses every later append.
type RunLock struct {
	kv   jetstream.KeyValue
	run  string
	me   claim
	ttl  time.Duration
	stop chan struct{}
	done chan struct{}

	rev uint64 // revision of our claim (the heartbeat's, then Release's)

	mu   sync.Mutex
	lost error
}

// LockRun claims run for this process as its controller, or returns a
// *RunHeldError naming the controller that holds it. The claim lives as
// long as this process refreshes it (Release ends it); one whose process
// died lapses after the bucket's TTL.
func LockRun(ctx context.Context, js jetstream.JetStream, run string) (*RunLock, error) {
	if err := CheckRun(run); err != nil {
		return nil, err
	}
	kv, ttl, err := controllersBucket(ctx, js)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	l := &RunLock{kv: kv, run: run, ttl: ttl, stop: make(chan struct{}), done: make(chan struct{}),
		me: claim{ID: nuid.Next(), Host: host, PID: os.Getpid(), Command: runlock.CommandLine(), Since: time.Now().UTC()}}
	b, _ := json.Marshal(l.me)
	for try := 0; ; try++ {
		rev, err := kv.Create(ctx, run, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			err = l.held(ctx)
			var he *RunHeldError
			if errors.As(err, &he) || try == 2 {
				return nil, err
			}
			continue // lapsed or released between the two calls
		}
		if err != nil {
			return nil, fmt.Errorf("claim run %s: %w", run, err)
		}
		l.rev = rev
		break
	}
	go l.heartbeat()
	return l, nil
}

// controllersBucket opens ControllersBucket, creating it with
// controllerTTL; it returns the bucket's TTL, which must not be zero.
func controllersBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, time.Duration, error) {
	kv, err := js.KeyValue(ctx, ControllersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ControllersBucket,
			Description: "autodropout: the controller of each run (key RUN), refreshed while it runs",
			TTL:         controllerTTL, History: 1, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, ControllersBucket)
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bucket %s: %w", ControllersBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("bucket %s: %w", ControllersBucket, err)
	}
	if st.TTL() <= 0 {
		return nil, 0, fmt.Errorf("bucket %s has no TTL, so a killed controller would hold its run for ever: delete it (nats kv del %s) and it is made again with a TTL of %v",
			ControllersBucket, ControllersBucket, DefaultControllerTTL)
	}
	return kv, st.TTL(), nil
}

// held is the error for a run whose key exists: who holds it.
func (l *RunLock) held(ctx context.Context) error {
	e, err := l.kv.Get(ctx, l.run)
	if err != nil { // lapsed or released meanwhile: the caller may try again
		return fmt.Errorf("claim run %s: it was held a moment ago (%v); try again", l.run, err)
	}
	var c claim
	json.Unmarshal(e.Value(), &c)
	return &RunHeldError{Run: l.run, Holder: c, Lapses: e.Created().Add(l.ttl), TTL: l.ttl}
}

// heartbeat refreshes the claim every third of the TTL until Release. A
// refresh the server refuses means the claim lapsed: it is taken again
// if it is free, else lost.
func (l *RunLock) heartbeat() {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	b, _ := json.Marshal(l.me)
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		// Only this goroutine writes l.rev until Release has stopped it.
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		rev, err := l.kv.Update(ctx, l.run, b, l.rev)
		if err != nil && isWrongLast(err) {
			// Lapsed (no heartbeat reached the server for a TTL): take it
			// again if nobody else has.
			rev, err = l.kv.Create(ctx, l.run, b)
			if errors.Is(err, jetstream.ErrKeyExists) {
				lost := fmt.Errorf("lost the claim on run %s: %w", l.run, l.held(ctx))
				cancel()
				l.mu.Lock()
				l.lost = lost
				l.mu.Unlock()
				return
			}
		}
		cancel()
		if err == nil {
			l.rev = rev
		}
		// Another error (the server is away) is retried at the next tick.
	}
}

func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Err is nil while the claim holds, and says who took the run once it is
// lost.
func (l *RunLock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Release ends the claim: the heartbeat stops and the key is deleted, so
// another controller may take the run at once. Releasing twice, or a
// nil RunLock, does nothing.
func (l *RunLock) Release() error {
	if l == nil {
		return nil
	}
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	if l.Err() != nil {
		return nil // not ours any more
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.run, jetstream.LastRevision(l.rev)); err != nil && !isWrongLast(err) {
		return fmt.Errorf("release run %s: %w", l.run, err)
	}
	return nil
}
