package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Event types written to the journal.
const (
	RunStarted        = "run_started"
	TrialProposed     = "trial_proposed"
	TrialStarted      = "trial_started"
	TrialFinished     = "trial_finished"
	TrialFailed       = "trial_failed"
	ControllerUpdated = "controller_updated"

	// Multi-fidelity (Config.MultiFidelity): a rung's result, a promotion
	// to the next rung, and the final event of a trial stopped at a rung
	// (its reward is the controller's, in full-fidelity units; see
	// StoppedReward). A trial that reaches the last rung ends with
	// trial_finished, one that fails at any rung with trial_failed.
	RungFinished  = "rung_finished"
	TrialPromoted = "trial_promoted"
	TrialStopped  = "trial_stopped"
)

// An Event is one journal line. Type says which fields are set.
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`

	// run_started
	Config     json.RawMessage `json:"config,omitempty"`
	ConfigHash string          `json:"config_hash,omitempty"`
	Seed       int64           `json:"seed,omitempty"`

	// trial_*
	Trial    *int            `json:"trial,omitempty"`
	Patterns json.RawMessage `json:"patterns,omitempty"` // the pattern file
	Choices  [][]int         `json:"choices,omitempty"`
	LogProb  *float64        `json:"logprob,omitempty"`
	Entropy  *float64        `json:"entropy,omitempty"`

	// trial_finished / trial_failed
	Reward  *float64           `json:"reward,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Cost    *Cost              `json:"cost,omitempty"`
	Reason  string             `json:"reason,omitempty"`
	Output  string             `json:"output_tail,omitempty"`

	// Multi-fidelity: the rung (index into multi_fidelity.rungs) of
	// trial_started, rung_finished, trial_promoted (the rung promoted
	// from), trial_finished, trial_failed and trial_stopped (the last rung
	// trained), and the epochs (a language model: steps) trained by then.
	// The cost of rung_finished is that rung's own; the final event's is
	// the trial's total.
	Rung   *int `json:"rung,omitempty"`
	Epochs int  `json:"epochs,omitempty"`

	// trial_proposed and controller_updated
	Step *int `json:"controller_step,omitempty"`

	// controller_updated
	Baseline   *float64 `json:"baseline,omitempty"`
	MeanReward *float64 `json:"mean_reward,omitempty"`
	Loss       *float64 `json:"loss,omitempty"`
	// Recovered marks an update journaled on resume from a checkpoint
	// that was saved before its event (folders of older versions); its
	// loss is unknown, its baseline known only for the checkpoint's step.
	Recovered bool `json:"recovered,omitempty"`
}

// Cost is what a trial spent.
type Cost struct {
	WallS    float64 `json:"wall_s"`
	CPUS     float64 `json:"cpu_s"` // user + system time of the child (rusage)
	Steps    int     `json:"steps"`
	Examples int64   `json:"examples"` // training examples (language models: tokens) seen
	// Precision the child computed in (fp32, bf16, fp16), from its
	// result.json: wall and CPU seconds compare only at one precision.
	Precision string `json:"precision,omitempty"`
}

// A Journal is an append-only log of events. A search's whole state can be
// rebuilt from it (plus the controller checkpoint), so another
// implementation (a database, a distributed engine) only has to keep
// appends durable and ordered.
type Journal interface {
	Append(Event) error
	Events() ([]Event, error)
	Close() error
}

// FileJournal is a Journal in a JSON-lines file, synced after every line.
// An append writes a whole line or nothing: a failed or short write (a
// full disk) is cut off again before Append returns its error.
type FileJournal struct {
	path   string
	f      journalFile
	off    int64 // length of the whole lines written
	broken error // set when a failed append could not be rolled back
}

// journalFile is what FileJournal needs of its file (*os.File); tests put
// a file that fails in its place.
type journalFile interface {
	io.Writer
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Sync() error
	Close() error
}

// OpenFileJournal opens (creating if needed) the journal at path. A torn
// last line, left by a process killed mid-write, is cut off so that new
// events start on a line of their own.
func OpenFileJournal(path string) (*FileJournal, error) {
	_, good, err := readJournal(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: cut torn line: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return &FileJournal{path: path, f: f, off: good}, nil
}

// Append writes e as one line and syncs the file. If the line cannot be
// written whole and synced, the file is cut back to the lines before it
// and the error returned; if even that fails, every later Append fails.
func (j *FileJournal) Append(e Event) error {
	if j.broken != nil {
		return j.broken
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal %s: encode %s: %w", j.path, e.Type, err)
	}
	line := append(b, '\n')
	n, err := j.f.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err == nil {
		if err = j.f.Sync(); err != nil {
			err = fmt.Errorf("sync: %w", err)
		}
	}
	if err != nil {
		err = fmt.Errorf("journal %s: append %s: %w", j.path, e.Type, err)
		if rerr := j.rollback(); rerr != nil {
			j.broken = fmt.Errorf("%w; cutting the partial line off failed too (%v): reopen the journal", err, rerr)
			return j.broken
		}
		return err
	}
	j.off += int64(len(line))
	return nil
}

// rollback cuts the file back to its whole lines.
func (j *FileJournal) rollback() error {
	if err := j.f.Truncate(j.off); err != nil {
		return err
	}
	if _, err := j.f.Seek(j.off, io.SeekStart); err != nil {
		return err
	}
	return j.f.Sync()
}

// Events reads every whole event of the journal.
func (j *FileJournal) Events() ([]Event, error) {
	evs, _, err := readJournal(j.path)
	return evs, err
}

// Close closes the file.
func (j *FileJournal) Close() error { return j.f.Close() }

// ReadJournal reads the events of a journal file up to the last whole
// line; a torn (unterminated or undecodable) last line is ignored. A bad
// line before the last one is an error naming the line.
func ReadJournal(path string) ([]Event, error) {
	evs, _, err := readJournal(path)
	return evs, err
}

func readJournal(path string) ([]Event, int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read journal: %w", err)
	}
	var evs []Event
	var off int64
	line := 0
	for off < int64(len(b)) {
		rest := b[off:]
		nl := bytes.IndexByte(rest, '\n')
		line++
		if nl < 0 { // torn last line
			break
		}
		var e Event
		if err := json.Unmarshal(rest[:nl], &e); err != nil {
			if off+int64(nl)+1 == int64(len(b)) {
				break // a torn last line that happens to end in a newline
			}
			return nil, 0, fmt.Errorf("journal %s line %d: %w", path, line, err)
		}
		evs = append(evs, e)
		off += int64(nl) + 1
	}
	return evs, off, nil
}
