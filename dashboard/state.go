package dashboard

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/autodropout/autodropout/search"
)

// Trial statuses as the page shows them.
const (
	TrialProposed = "proposed" // proposed, not started
	TrialRunning  = "running"  // started, no outcome yet
	TrialFinished = "finished"
	TrialFailed   = "failed"
	// TrialStopped is a multi-fidelity trial stopped at a rung; its reward
	// is the controller's (see search.StoppedReward), never a best.
	TrialStopped = "stopped"
)

// maxReason caps a failure reason kept in memory and sent to the page.
const maxReason = 600

// topK is how many best trials a search keeps for the page.
const topK = 5

// Trial is one trial of a search as the journal tells it so far.
type Trial struct {
	ID      int      `json:"id"`
	Status  string   `json:"status"`
	Reward  *float64 `json:"reward,omitempty"`  // finished (and stopped) trials
	Rung    *int     `json:"rung,omitempty"`    // multi-fidelity: the last rung trained (0 first)
	Epochs  int      `json:"epochs,omitempty"`  // multi-fidelity: the epochs (SearchInfo.Unit) that rung trained to
	Entropy *float64 `json:"entropy,omitempty"` // of the proposal
	Step    int      `json:"step"`              // controller step of the proposal; -1 unknown
	CPUS    float64  `json:"cpu_s,omitempty"`
	WallS   float64  `json:"wall_s,omitempty"`
	Reason  string   `json:"reason,omitempty"` // failed trials, cut to maxReason bytes
	Ended   int64    `json:"ended,omitempty"`  // Unix milliseconds of the outcome

	version  uint64          // state version of the last change
	patterns json.RawMessage // the pattern file of the proposal
}

// Update is one controller update.
type Update struct {
	Step       int      `json:"step"`
	Baseline   *float64 `json:"baseline,omitempty"`
	MeanReward *float64 `json:"mean_reward,omitempty"`
	Loss       *float64 `json:"loss,omitempty"`
	// Entropy is the mean entropy of the batch the update learned from
	// (the proposals of step Step-1); nil when none was journaled.
	Entropy    *float64 `json:"entropy,omitempty"`
	AfterTrial int      `json:"after_trial"` // last trial id of that batch; -1 unknown
	Time       int64    `json:"time"`        // Unix milliseconds

	version uint64
}

// searchState is what a search's events add up to: the page's view of a
// search.History, which decides what each event means (the rules the
// search resumes by). apply folds one event in at O(log n) cost, so a
// journal is read once, however long it grows. Every change bumps version
// and is logged, so that the page can ask for what changed since the
// version it has (delta) instead of all of it.
type searchState struct {
	version uint64
	h       search.History

	method   string
	budget   int
	seed     int64
	data     string        // task.data of the configuration: the masks' map size
	unit     string        // what a trial's rungs count: epochs, or steps for a language model
	timeout  time.Duration // task.timeout: the longest a trial stays silent
	parallel int

	trials  map[int]*Trial
	changes []change // (version, trial id), in version order
	updates []Update

	finished, failed, running int
	stopped                   int     // multi-fidelity trials stopped at a rung
	best                      float64 // NaN before a finished trial
	bestTrial                 int
	cpuS, wallS               float64
	maxTrialWall              float64
	top                       []int // ids of the best finished trials, best first

	steps map[int]*stepInfo // controller step -> its batch of proposals

	first, last time.Time   // first and last event times
	ends        []time.Time // times of the last etaWindow+1 outcomes
	events      int
	badLines    int    // undecodable whole lines skipped
	lastBad     string // the last one's error
}

// stepInfo is what the proposals of one controller step add up to.
type stepInfo struct {
	entropySum float64
	entropyN   int
	maxTrial   int
}

type change struct {
	version uint64
	trial   int
}

// etaWindow is how many recent outcomes the time-left estimate averages.
const etaWindow = 20

func newSearchState() *searchState {
	return &searchState{trials: map[int]*Trial{}, steps: map[int]*stepInfo{}, best: math.NaN(), bestTrial: -1}
}

func (s *searchState) trial(id int) *Trial {
	t := s.trials[id]
	if t == nil {
		t = &Trial{ID: id, Status: TrialProposed, Step: -1}
		s.trials[id] = t
	}
	return t
}

func (s *searchState) touch(t *Trial) {
	s.version++
	t.version = s.version
	s.changes = append(s.changes, change{s.version, t.ID})
}

// apply folds e into the state. Events the history refuses (a trial
// event without an id, an outcome without a reward) are counted as bad,
// not fatal: the page shows them.
func (s *searchState) apply(e *search.Event) {
	s.events++
	if !e.Time.IsZero() {
		if s.first.IsZero() || e.Time.Before(s.first) {
			s.first = e.Time
		}
		if e.Time.After(s.last) {
			s.last = e.Time
		}
	}
	wasRunning := false
	if e.Trial != nil {
		if th := s.h.Trial(*e.Trial); th != nil {
			wasRunning = th.Running()
		}
	}
	changed, err := s.h.Apply(*e)
	switch {
	case errors.Is(err, search.ErrUnknownEvent):
		s.version++ // an event this version does not know: still news
	case err != nil:
		s.badLines++
		s.lastBad = err.Error()
		s.version++
	case e.Type == search.RunStarted:
		s.runStarted(e)
	case e.Type == search.ControllerUpdated:
		if changed {
			s.update(e)
		}
	case e.Type == search.TrialPromoted:
		s.version++
	case changed:
		s.trialEvent(e, wasRunning)
	}
}

// runStarted reads what the page shows of the run's configuration.
func (s *searchState) runStarted(e *search.Event) {
	var c struct {
		Method   string `json:"method"`
		Budget   int    `json:"budget"`
		Parallel int    `json:"parallel"`
		Task     struct {
			Kind    string `json:"kind"`
			Data    string `json:"data"`
			Timeout string `json:"timeout"`
		} `json:"task"`
	}
	if len(e.Config) > 0 && json.Unmarshal(e.Config, &c) == nil {
		s.method, s.budget, s.parallel, s.data = c.Method, c.Budget, c.Parallel, c.Task.Data
		_, s.unit = search.Task{Kind: c.Task.Kind}.Length()
		s.timeout, _ = time.ParseDuration(c.Task.Timeout)
	}
	s.seed = e.Seed
	s.version++
}

// trialEvent updates the view of the trial of e, an event the history
// took; wasRunning is whether the trial ran before it.
func (s *searchState) trialEvent(e *search.Event, wasRunning bool) {
	th := s.h.Trial(*e.Trial)
	t := s.trial(th.ID)
	if running := th.Running(); running != wasRunning {
		if running {
			s.running++
		} else {
			s.running--
		}
	}
	switch e.Type {
	case search.TrialProposed:
		s.proposed(t, e)
	case search.TrialStarted:
	case search.RungFinished:
		if th.Running() {
			r := *e.Rung
			t.Rung, t.Epochs = &r, e.Epochs
		}
	default:
		s.ended(t, e)
	}
	t.Status = status(th)
	s.touch(t)
}

// status is the page's status of a trial.
func status(th *search.TrialHistory) string {
	switch {
	case th.End == nil && th.Started:
		return TrialRunning
	case th.End == nil:
		return TrialProposed
	case th.End.Type == search.TrialFailed:
		return TrialFailed
	case th.End.Type == search.TrialStopped:
		return TrialStopped
	}
	return TrialFinished
}

// proposed adds the proposal e of trial t to its step's batch.
func (s *searchState) proposed(t *Trial, e *search.Event) {
	t.patterns = e.Patterns
	if e.Step == nil {
		return
	}
	t.Step = *e.Step
	si := s.steps[t.Step]
	if si == nil {
		si = &stepInfo{maxTrial: -1}
		s.steps[t.Step] = si
	}
	si.maxTrial = max(si.maxTrial, t.ID)
	if e.Entropy != nil {
		v := *e.Entropy
		t.Entropy = &v
		si.entropySum += v
		si.entropyN++
	}
}

// ended folds trial t's outcome e into the totals.
func (s *searchState) ended(t *Trial, e *search.Event) {
	if e.Rung != nil {
		r := *e.Rung
		t.Rung, t.Epochs = &r, e.Epochs
	}
	if c := e.Cost; c != nil {
		t.CPUS, t.WallS = c.CPUS, c.WallS
		s.cpuS += c.CPUS
		s.wallS += c.WallS
		s.maxTrialWall = max(s.maxTrialWall, c.WallS)
	}
	if !e.Time.IsZero() {
		t.Ended = e.Time.UnixMilli()
		s.ends = append(s.ends, e.Time)
		if len(s.ends) > etaWindow+1 {
			s.ends = append(s.ends[:0], s.ends[len(s.ends)-etaWindow-1:]...)
		}
	}
	switch e.Type {
	case search.TrialFailed:
		t.Reason = e.Reason
		if len(t.Reason) > maxReason {
			n := maxReason
			for n > 0 && !utf8.RuneStart(t.Reason[n]) {
				n-- // do not cut a character in two
			}
			t.Reason = t.Reason[:n] + "…"
		}
		s.failed++
	case search.TrialStopped:
		r := *e.Reward
		t.Reward = &r
		s.stopped++
	default:
		r := *e.Reward
		t.Reward = &r
		s.finished++
		if math.IsNaN(s.best) || r > s.best || (r == s.best && t.ID < s.bestTrial) {
			s.best, s.bestTrial = r, t.ID
		}
		s.insertTop(t)
	}
}

// update adds the controller update e (the first of its step).
func (s *searchState) update(e *search.Event) {
	s.version++
	u := Update{Step: *e.Step, Baseline: e.Baseline, MeanReward: e.MeanReward, Loss: e.Loss, AfterTrial: -1,
		Time: e.Time.UnixMilli(), version: s.version}
	if si := s.steps[u.Step-1]; si != nil {
		u.AfterTrial = si.maxTrial
		if si.entropyN > 0 {
			m := si.entropySum / float64(si.entropyN)
			u.Entropy = &m
		}
	}
	s.updates = append(s.updates, u)
}

// insertTop keeps s.top the topK best finished trials (ties: lower id).
func (s *searchState) insertTop(t *Trial) {
	better := func(a, b *Trial) bool {
		if *a.Reward != *b.Reward {
			return *a.Reward > *b.Reward
		}
		return a.ID < b.ID
	}
	i := sort.Search(len(s.top), func(i int) bool { return better(t, s.trials[s.top[i]]) })
	if i >= topK {
		return
	}
	s.top = append(s.top, 0)
	copy(s.top[i+1:], s.top[i:])
	s.top[i] = t.ID
	if len(s.top) > topK {
		s.top = s.top[:topK]
	}
}

// done is the number of trials with an outcome.
func (s *searchState) done() int { return s.finished + s.failed + s.stopped }

// changedSince returns the trials changed after version v, by id.
func (s *searchState) changedSince(v uint64) []Trial {
	i := sort.Search(len(s.changes), func(i int) bool { return s.changes[i].version > v })
	seen := map[int]bool{}
	var out []Trial
	for _, c := range s.changes[i:] {
		if seen[c.trial] {
			continue
		}
		seen[c.trial] = true
		out = append(out, *s.trials[c.trial])
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// updatesSince returns the controller updates journaled after version v.
func (s *searchState) updatesSince(v uint64) []Update {
	i := sort.Search(len(s.updates), func(i int) bool { return s.updates[i].version > v })
	return s.updates[i:]
}

// compact drops all but each trial's last entry from the changes log once
// it holds more than about two entries per trial, so that it stays
// proportional to the number of trials.
func (s *searchState) compact() {
	if len(s.changes) < 2*len(s.trials)+64 {
		return
	}
	// Keep only each trial's last change, in version order.
	last := make(map[int]uint64, len(s.trials))
	for _, c := range s.changes {
		last[c.trial] = c.version
	}
	kept := s.changes[:0]
	for _, c := range s.changes {
		if last[c.trial] == c.version {
			kept = append(kept, c)
		}
	}
	s.changes = kept
}

// eta estimates the seconds left from the pace of the last etaWindow
// outcomes: the time they took (from the outcome before them, or from the
// first event while there are fewer) over their number, times the trials
// left. Parallel trials finish in bursts, which is why it is not the gap
// between the last two. NaN when it cannot tell (no outcome yet, or the
// budget unknown).
func (s *searchState) eta() float64 {
	left := s.budget - s.done()
	if s.budget <= 0 || left < 0 {
		return math.NaN()
	}
	if left == 0 {
		return 0
	}
	n := len(s.ends)
	if n == 0 {
		return math.NaN()
	}
	var per float64
	if n > etaWindow {
		per = s.ends[n-1].Sub(s.ends[0]).Seconds() / float64(n-1)
	} else {
		per = s.ends[n-1].Sub(s.first).Seconds() / float64(n)
	}
	return per * float64(left)
}
