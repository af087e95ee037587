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
	StatesBucket     = "autodropout_rung_states"
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

// noRung is the rung of a trial without multi-fidelity: its subjects and
// messages are those from before rungs existed.
const noRung = -1

// A key names what a trial message asks and a result answers: a whole
// trial (Rung noRung) or one rung of a multi-fidelity trial.
type key struct{ Trial, Rung int }

// keyOf is the key of a trial the search asks an executor to run.
func keyOf(t search.Trial) key {
	if t.Rung > 0 || t.StopEpoch > 0 || t.ResumeState != "" || t.SaveState != "" {
		return key{t.ID, t.Rung}
	}
	return key{t.ID, noRung}
}

func (k key) rung() *int {
	if k.Rung == noRung {
		return nil
	}
	r := k.Rung
	return &r
}

func (k key) String() string {
	if k.Rung == noRung {
		return "trial " + strconv.Itoa(k.Trial)
	}
	return fmt.Sprintf("trial %d rung %d", k.Trial, k.Rung)
}

// token is the key's end of a subject: ID, or ID.RUNG.
func (k key) token() string {
	if k.Rung == noRung {
		return strconv.Itoa(k.Trial)
	}
	return strconv.Itoa(k.Trial) + "." + strconv.Itoa(k.Rung)
}

func trialSubject(run string, id int) string { return trialKeySubject(run, key{id, noRung}) }

func trialKeySubject(run string, k key) string { return "autodropout.trials." + run + "." + k.token() }

func resultSubject(run string, id int) string { return resultKeySubject(run, key{id, noRung}) }

func resultKeySubject(run string, k key) string {
	return "autodropout.results." + run + "." + k.token()
}

// stateObject is the name in StatesBucket of the state a worker saved
// after rung k at the given delivery of the trial message (queue
// sequence seq): one name per attempt, so that the state a result names
// is the one that attempt wrote, whatever a duplicate does.
func stateObject(run string, k key, seq, delivery uint64) string {
	return fmt.Sprintf("%s/%d/rung-%d.%d-%d.state", run, k.Trial, k.Rung, seq, delivery)
}

// stateTrialPrefix starts the names of every state of a trial.
func stateTrialPrefix(run string, id int) string { return fmt.Sprintf("%s/%d/", run, id) }

func journalSubject(run string) string { return "autodropout.journal." + run }

func consumerName(run string) string { return "workers-" + run }

// trialMsg is a trial message: the whole search.Trial, marshalled as one
// value so that its fields (patterns in whatever type search uses) travel
// without this package knowing them.
type trialMsg struct {
	Run   string       `json:"run"`
	Trial search.Trial `json:"trial"`
	Rung  *int         `json:"rung,omitempty"` // a multi-fidelity rung (Trial.Rung); absent: a whole trial
}

func (m trialMsg) key() key {
	if m.Rung == nil {
		return key{m.Trial.ID, noRung}
	}
	return key{m.Trial.ID, *m.Rung}
}

// resultMsg is a result message.
type resultMsg struct {
	Run      string             `json:"run"`
	Trial    int                `json:"trial"`
	Rung     *int               `json:"rung,omitempty"` // absent: the result of a whole trial
	Worker   string             `json:"worker"`
	Delivery uint64             `json:"delivery"` // how many times the trial message had been delivered
	Failed   bool               `json:"failed,omitempty"`
	Reason   string             `json:"reason,omitempty"`
	Reward   float64            `json:"reward"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Cost     search.Cost        `json:"cost"`
	Output   string             `json:"output_tail,omitempty"`
	State    string             `json:"state,omitempty"` // object in StatesBucket with the state the rung saved
	Time     time.Time          `json:"time"`

	seq uint64 // stream sequence, set on reading
}

func (r resultMsg) key() key {
	if r.Rung == nil {
		return key{r.Trial, noRung}
	}
	return key{r.Trial, *r.Rung}
}

func (r resultMsg) result() search.Result {
	res := search.Result{Reward: r.Reward, Metrics: r.Metrics, Cost: r.Cost, Output: r.Output}
	if r.Failed {
		res.Err = errors.New(r.Reason)
	}
	return res
}

func fromResult(run string, k key, worker string, delivery uint64, res search.Result) resultMsg {
	m := resultMsg{Run: run, Trial: k.Trial, Rung: k.rung(), Worker: worker, Delivery: delivery, Reward: res.Reward,
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

// firstResult returns the first result stored for k, if any.
func firstResult(ctx context.Context, results jetstream.Stream, run string, k key) (resultMsg, bool, error) {
	m, err := results.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(resultKeySubject(run, k)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return resultMsg{}, false, nil
	}
	if err != nil {
		return resultMsg{}, false, fmt.Errorf("look up result of %v: %w", k, err)
	}
	r, err := decodeResult(m.Data, m.Sequence)
	if err != nil {
		return resultMsg{}, false, err
	}
	return r, true, nil
}

// openBucket returns the object store bucket, creating it if it is
// missing (an existing one is used as it is).
func openBucket(ctx context.Context, js jetstream.JetStream, bucket, description string) (jetstream.ObjectStore, error) {
	obs, err := js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, Description: description, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = js.ObjectStore(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return obs, nil
}

func statesBucket(ctx context.Context, js jetstream.JetStream) (jetstream.ObjectStore, error) {
	return openBucket(ctx, js, StatesBucket, "autodropout multi-fidelity rung states, RUN/TRIAL/rung-R.SEQ-DELIVERY.state")
}
