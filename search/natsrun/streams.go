package natsrun

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
)

// Names of the streams and the bucket (see the package comment).
const (
	TrialsStream     = "AUTODROPOUT_TRIALS"
	ResultsStream    = "AUTODROPOUT_RESULTS"
	JournalStream    = "AUTODROPOUT_JOURNAL"
	CheckpointBucket = "autodropout_checkpoints"
)

// DefaultRun is the run name when none is given.
const DefaultRun = "default"

// DefaultAckWait is how long a trial may go without a worker's heartbeat
// before it is handed to another worker.
const DefaultAckWait = 30 * time.Second

var runName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckRun reports whether run can name a run: it becomes a subject token
// and part of a consumer name.
func CheckRun(run string) error {
	if !runName.MatchString(run) {
		return fmt.Errorf("run name %q: want 1 to 64 letters, digits, '-' or '_'", run)
	}
	return nil
}

func trialSubject(run string, id int) string {
	return "autodropout.trials." + run + "." + strconv.Itoa(id)
}

func resultSubject(run string, id int) string {
	return "autodropout.results." + run + "." + strconv.Itoa(id)
}

func journalSubject(run string) string { return "autodropout.journal." + run }

func consumerName(run string) string { return "workers-" + run }

// trialMsg is a trial message: the whole search.Trial, marshalled as one
// value so that its fields (patterns in whatever type search uses) travel
// without this package knowing them.
type trialMsg struct {
	Run   string       `json:"run"`
	Trial search.Trial `json:"trial"`
}

// resultMsg is a result message.
type resultMsg struct {
	Run      string             `json:"run"`
	Trial    int                `json:"trial"`
	Worker   string             `json:"worker"`
	Delivery uint64             `json:"delivery"` // how many times the trial message had been delivered
	Failed   bool               `json:"failed,omitempty"`
	Reason   string             `json:"reason,omitempty"`
	Reward   float64            `json:"reward"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Cost     search.Cost        `json:"cost"`
	Output   string             `json:"output_tail,omitempty"`
	Time     time.Time          `json:"time"`

	seq uint64 // stream sequence, set on reading
}

func (r resultMsg) result() search.Result {
	res := search.Result{Reward: r.Reward, Metrics: r.Metrics, Cost: r.Cost, Output: r.Output}
	if r.Failed {
		res.Err = errors.New(r.Reason)
	}
	return res
}

func fromResult(run string, id int, worker string, delivery uint64, res search.Result) resultMsg {
	m := resultMsg{Run: run, Trial: id, Worker: worker, Delivery: delivery, Reward: res.Reward,
		Metrics: res.Metrics, Cost: res.Cost, Output: res.Output, Time: time.Now().UTC()}
	if res.Err != nil {
		m.Failed, m.Reason = true, res.Err.Error()
	}
	return m
}

// ensureStream returns the stream, creating it with cfg if it is missing.
// An existing stream is left as it is (an operator may have given it
// replicas or limits).
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // created meanwhile by another process
		s, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

func trialsStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        TrialsStream,
		Description: "autodropout trials waiting for a worker (work queue)",
		Subjects:    []string{"autodropout.trials.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	})
}

func resultsStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        ResultsStream,
		Description: "autodropout trial results, duplicates included",
		Subjects:    []string{"autodropout.results.>"},
		Storage:     jetstream.FileStorage,
	})
}

func journalStream(ctx context.Context, js jetstream.JetStream) (jetstream.Stream, error) {
	return ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        JournalStream,
		Description: "autodropout search journals, one subject per run",
		Subjects:    []string{"autodropout.journal.>"},
		Storage:     jetstream.FileStorage,
		DenyDelete:  true, // append-only; a whole run can still be purged
	})
}

// firstResult returns the first result stored for the trial, if any.
func firstResult(ctx context.Context, results jetstream.Stream, run string, id int) (resultMsg, bool, error) {
	m, err := results.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(resultSubject(run, id)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return resultMsg{}, false, nil
	}
	if err != nil {
		return resultMsg{}, false, fmt.Errorf("look up result of trial %d: %w", id, err)
	}
	r, err := decodeResult(m.Data, m.Sequence)
	if err != nil {
		return resultMsg{}, false, err
	}
	return r, true, nil
}
