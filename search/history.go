package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/autodropout/autodropout/autodropout"
)

// ErrUnknownEvent is wrapped by History.Apply's error for an event type
// this version does not know. A search refuses such a journal; a reader
// (the report, the dashboard) may skip the event.
var ErrUnknownEvent = errors.New("unknown event type")

// History is what a journal says about a search, event by event: the one
// reading of the journal that the search's resume, the report and the
// dashboard share, so that a rule of it changes in one place. Its rules:
//
//   - the first proposal of a trial stands (a resume samples again, to
//     keep the controller's random stream, but runs the journaled one);
//   - the first outcome of a trial (trial_finished, trial_failed or
//     trial_stopped) stands, and so does the first result of each rung;
//   - the first controller_updated of a step stands;
//   - the last run_started says the configuration.
//
// An event that breaks the journal's shape (a trial event without an id
// in [0, MaxBudget), a trial_finished, trial_stopped or rung_finished
// without a finite reward, a rung event without its rung) is refused with
// an error naming it and changes nothing. The zero History is empty and
// ready to use; it holds the events it keeps, which callers must not
// modify.
type History struct {
	// Sites and Tokens, when set, also check every proposal as a search
	// that resumes from it needs it: one choice in range per token for
	// every site, and a pattern file.
	Sites  []string
	Tokens []autodropout.Token

	// The last run_started's configuration, its hash and its seed.
	Config     json.RawMessage
	ConfigHash string
	Seed       int64

	trials  map[int]*TrialHistory
	updates []*Event       // the first controller_updated of each step, in journal order
	byStep  map[int]*Event // the same by step
	n       int            // events offered to Apply
}

// TrialHistory is what the journal says about one trial.
type TrialHistory struct {
	ID       int
	Proposed *Event // the first trial_proposed: the patterns the trial runs; nil if none
	Started  bool   // a trial_started was journaled
	// Multi-fidelity: the first rung_finished of each rung, and the rungs
	// whose promotion is journaled.
	Rungs    map[int]*Event
	Promoted map[int]bool
	End      *Event // the outcome: trial_finished, trial_failed or trial_stopped; nil while unfinished
}

// Running reports whether the trial was started and has no outcome yet
// (in a journal that no search writes any more: it runs again on resume).
func (t *TrialHistory) Running() bool { return t.Started && t.End == nil }

// LastRung is the highest rung with a result, or -1.
func (t *TrialHistory) LastRung() int {
	h := -1
	for ri := range t.Rungs {
		h = max(h, ri)
	}
	return h
}

// ReadHistory reads the journal file at path into a History; a torn last
// line is ignored (ReadJournal), a bad event is an error.
func ReadHistory(path string) (*History, error) {
	evs, err := ReadJournal(path)
	if err != nil {
		return nil, err
	}
	h := &History{}
	if err := h.Replay(evs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// Replay applies evs in order and stops at the first bad one.
func (h *History) Replay(evs []Event) error {
	for _, e := range evs {
		if _, err := h.Apply(e); err != nil {
			return err
		}
	}
	return nil
}

// Trial returns the history of trial id, or nil when the journal has no
// event of it.
func (h *History) Trial(id int) *TrialHistory { return h.trials[id] }

// TrialIDs returns the ids of the trials with events, in increasing order.
func (h *History) TrialIDs() []int { return slices.Sorted(maps.Keys(h.trials)) }

// Updates returns the controller updates (the first of each step), in
// journal order.
func (h *History) Updates() []*Event { return h.updates }

// Update returns the controller update of step, or nil.
func (h *History) Update(step int) *Event { return h.byStep[step] }

// Check reports a trial that ended but was never proposed: a journal a
// search cannot resume.
func (h *History) Check() error {
	for _, id := range h.TrialIDs() {
		if t := h.trials[id]; t.End != nil && t.Proposed == nil {
			return fmt.Errorf("journal: trial %d ended but was never proposed", id)
		}
	}
	return nil
}

// Apply folds the next journal event into the history. changed is false
// for an event the rules ignore (a second proposal, outcome, rung result,
// start or update of a step). A bad event is an error naming its number
// (counting every event offered, so a FileJournal's line) and type; it
// changes nothing.
func (h *History) Apply(e Event) (changed bool, err error) {
	h.n++
	bad := func(format string, a ...any) error {
		return fmt.Errorf("journal event %d (%s): %s", h.n, e.Type, fmt.Sprintf(format, a...))
	}
	switch e.Type {
	case RunStarted:
		h.Config, h.ConfigHash, h.Seed = e.Config, e.ConfigHash, e.Seed
		return true, nil
	case ControllerUpdated:
		if e.Step == nil || *e.Step < 1 {
			return false, bad("no controller step of 1 or more")
		}
		if h.byStep[*e.Step] != nil {
			return false, nil
		}
		if h.byStep == nil {
			h.byStep = map[int]*Event{}
		}
		h.byStep[*e.Step] = &e
		h.updates = append(h.updates, &e)
		return true, nil
	case TrialProposed, TrialStarted, TrialFinished, TrialFailed, RungFinished, TrialPromoted, TrialStopped:
		if e.Trial == nil {
			return false, bad("no trial id")
		}
		if *e.Trial < 0 || *e.Trial >= MaxBudget {
			return false, bad("trial id %d, want one in [0, %d)", *e.Trial, MaxBudget)
		}
		if err := h.check(&e); err != nil {
			return false, bad("trial %d: %v", *e.Trial, err)
		}
		return h.trial(*e.Trial).apply(&e), nil
	}
	return false, fmt.Errorf("journal event %d (%s): %w", h.n, e.Type, ErrUnknownEvent)
}

// check checks a trial event's fields.
func (h *History) check(e *Event) error {
	switch e.Type {
	case TrialProposed:
		if h.Sites == nil {
			break
		}
		if err := checkChoices(e.Choices, h.Sites, h.Tokens); err != nil {
			return err
		}
		if len(e.Patterns) == 0 {
			return errors.New("no pattern file")
		}
	case RungFinished, TrialPromoted, TrialStopped:
		if e.Rung == nil || *e.Rung < 0 {
			return errors.New("no rung")
		}
	}
	switch e.Type {
	case RungFinished, TrialFinished, TrialStopped:
		if e.Reward == nil || !finite(*e.Reward) {
			return errors.New("no reward")
		}
	}
	return nil
}

func (h *History) trial(id int) *TrialHistory {
	t := h.trials[id]
	if t == nil {
		if h.trials == nil {
			h.trials = map[int]*TrialHistory{}
		}
		t = &TrialHistory{ID: id}
		h.trials[id] = t
	}
	return t
}

// apply folds a checked trial event into t.
func (t *TrialHistory) apply(e *Event) bool {
	switch e.Type {
	case TrialProposed:
		if t.Proposed != nil {
			return false
		}
		t.Proposed = e
	case TrialStarted:
		if t.Started {
			return false
		}
		t.Started = true
	case RungFinished:
		if t.Rungs[*e.Rung] != nil {
			return false
		}
		if t.Rungs == nil {
			t.Rungs = map[int]*Event{}
		}
		t.Rungs[*e.Rung] = e
	case TrialPromoted:
		if t.Promoted[*e.Rung] {
			return false
		}
		if t.Promoted == nil {
			t.Promoted = map[int]bool{}
		}
		t.Promoted[*e.Rung] = true
	default: // an outcome
		if t.End != nil {
			return false
		}
		t.End = e
	}
	return true
}
