package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/autodropout/autodropout/search"
)

// Journal is a search.Journal on the subject autodropout.journal.RUN of
// the journal stream: one event per message, in stream order.
type Journal struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	run    string
	subj   string

	writer string // distinguishes this writer's message ids from another's

	mu   sync.Mutex
	last uint64   // stream sequence of the run's last event; 0: none
	lock *RunLock // this writer's claim on the run, taken by Lock or the first Append
}

// OpenJournal opens the journal of run, creating the stream if needed.
// Reading it (Events) takes nothing; writing it claims the run as its
// controller (Lock), so that a second controller is refused.
func OpenJournal(ctx context.Context, js jetstream.JetStream, run string) (*Journal, error) {
	if err := CheckRun(run); err != nil {
		return nil, err
	}
	s, err := journalStream(ctx, js)
	if err != nil {
		return nil, err
	}
	j := &Journal{js: js, stream: s, run: run, subj: journalSubject(run), writer: nuid.Next()}
	if j.last, err = j.lastSeq(ctx); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) lastSeq(ctx context.Context) (uint64, error) {
	m, err := j.stream.GetLastMsgForSubject(ctx, j.subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("journal %s: %w", j.run, err)
	}
	return m.Sequence, nil
}

// appendTimeout is how long Append keeps retrying while the server is
// unreachable before it gives up (and the search stops, to be resumed).
var appendTimeout = time.Minute

// Append stores e after the run's last event. It fails if another
// controller holds the run (see Lock), or lost the claim on it, or if
// another process appended to the run since this one last read or wrote
// it: two controllers must not interleave one journal.
func (j *Journal) Append(e search.Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal %s: encode %s: %w", j.run, e.Type, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	if err := j.claim(ctx); err != nil {
		return fmt.Errorf("journal %s: append %s: %w", j.run, e.Type, err)
	}
	// One id per writer and position: a retry after a lost
	// acknowledgement is recognised below instead of being taken for
	// another writer.
	id := j.run + "." + j.writer + ".after." + strconv.FormatUint(j.last, 10)
	wait := 100 * time.Millisecond
	for {
		ack, err := j.js.Publish(ctx, j.subj, b, jetstream.WithExpectLastSequencePerSubject(j.last), jetstream.WithMsgID(id))
		if err == nil {
			j.last = ack.Sequence
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			if apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant {
				return j.mine(ctx, id, e.Type)
			}
			return fmt.Errorf("journal %s: append %s: %w", j.run, e.Type, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("journal %s: append %s: %w", j.run, e.Type, err)
		}
		select { // not an answer from the server: it is away; retry
		case <-ctx.Done():
			return fmt.Errorf("journal %s: append %s: %w", j.run, e.Type, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// mine settles a wrong-last-sequence answer: if the run's last event is
// our own earlier attempt, the append succeeded; otherwise someone else
// writes this journal.
func (j *Journal) mine(ctx context.Context, id, typ string) error {
	m, err := j.stream.GetLastMsgForSubject(ctx, j.subj)
	if err != nil {
		return fmt.Errorf("journal %s: append %s: %w", j.run, typ, err)
	}
	if m.Header.Get(nats.MsgIdHdr) == id {
		j.last = m.Sequence
		return nil
	}
	return fmt.Errorf("journal %s: append %s: another process appended to this run (event %d); is a second controller running it?", j.run, typ, m.Sequence)
}

// Events reads every event of the run, in order.
func (j *Journal) Events() ([]search.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	last, err := j.lastSeq(ctx)
	if err != nil || last == 0 {
		return nil, err
	}
	c, err := j.js.OrderedConsumer(ctx, JournalStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{j.subj}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("journal %s: read: %w", j.run, err)
	}
	var evs []search.Event
	for seq := uint64(0); seq < last; {
		// FetchNoWait: what is stored comes at once; Fetch would wait for a full batch.
		batch, err := c.FetchNoWait(512)
		if err != nil {
			return nil, fmt.Errorf("journal %s: read: %w", j.run, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("journal %s: read: %w", j.run, err)
			}
			seq = meta.Sequence.Stream
			if seq > last {
				break // appended while reading; not part of this read
			}
			var e search.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return nil, fmt.Errorf("journal %s: event at sequence %d: %w", j.run, seq, err)
			}
			evs = append(evs, e)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("journal %s: read: %w", j.run, err)
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("journal %s: read: %w", j.run, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	j.mu.Lock()
	j.last = max(j.last, last)
	j.mu.Unlock()
	return evs, nil
}

// Lock claims the run for this writer (LockRun) unless it has already,
// and returns a *RunHeldError if another controller holds it. Append
// does this itself; a controller calls Lock first to be refused before
// anything else. Close gives the claim back.
func (j *Journal) Lock(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.claim(ctx)
}

// claim is Lock with j.mu held; it also reports a claim lost since.
func (j *Journal) claim(ctx context.Context) error {
	if j.lock != nil {
		return j.lock.Err()
	}
	l, err := LockRun(ctx, j.js, j.run)
	if err != nil {
		return err
	}
	j.lock = l
	return nil
}

// Close gives back the run's claim, if this writer took it; the
// connection is the caller's.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.lock.Release()
	j.lock = nil
	return err
}
