package search

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// The history's rules: the first proposal, outcome, rung result and
// update of a step stand; later ones change nothing and say so.
func TestHistoryFirstStands(t *testing.T) {
	pf := json.RawMessage(`{"patterns":[]}`)
	evs := []Event{
		{Type: RunStarted, ConfigHash: "a", Seed: 1},
		{Type: TrialProposed, Trial: ip(0), Patterns: pf, Step: ip(0), Entropy: fp(1)},
		{Type: TrialProposed, Trial: ip(0), Patterns: pf, Step: ip(0), Entropy: fp(2)}, // a resume's
		{Type: TrialStarted, Trial: ip(0), Rung: ip(0)},
		{Type: TrialStarted, Trial: ip(0), Rung: ip(0)},
		{Type: RungFinished, Trial: ip(0), Rung: ip(0), Reward: fp(0.5)},
		{Type: RungFinished, Trial: ip(0), Rung: ip(0), Reward: fp(0.6)},
		{Type: TrialPromoted, Trial: ip(0), Rung: ip(0)},
		{Type: TrialFinished, Trial: ip(0), Rung: ip(1), Reward: fp(0.8)},
		{Type: TrialFailed, Trial: ip(0), Reason: "late"},
		{Type: ControllerUpdated, Step: ip(1), Loss: fp(1)},
		{Type: ControllerUpdated, Step: ip(1), Loss: fp(2)},
		{Type: RunStarted, ConfigHash: "b", Seed: 2},
	}
	wantChanged := []bool{true, true, false, true, false, true, false, true, true, false, true, false, true}
	var h History
	for i, e := range evs {
		changed, err := h.Apply(e)
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if changed != wantChanged[i] {
			t.Errorf("event %d (%s): changed %v, want %v", i+1, e.Type, changed, wantChanged[i])
		}
	}
	tr := h.Trial(0)
	switch {
	case *tr.Proposed.Entropy != 1:
		t.Errorf("proposal with entropy %v stands, want the first (1)", *tr.Proposed.Entropy)
	case *tr.Rungs[0].Reward != 0.5:
		t.Errorf("rung 0 result %v stands, want the first (0.5)", *tr.Rungs[0].Reward)
	case tr.End.Type != TrialFinished || *tr.End.Reward != 0.8:
		t.Errorf("outcome %s stands, want the first (trial_finished 0.8)", tr.End.Type)
	case !tr.Started || tr.Running() || !tr.Promoted[0] || tr.LastRung() != 0:
		t.Errorf("started %v running %v promoted %v last rung %d, want true false true 0", tr.Started, tr.Running(), tr.Promoted[0], tr.LastRung())
	case len(h.Updates()) != 1 || *h.Update(1).Loss != 1:
		t.Errorf("%d updates, want the first of step 1 only", len(h.Updates()))
	case h.ConfigHash != "b" || h.Seed != 2:
		t.Errorf("run %s seed %d, want the last run_started (b, 2)", h.ConfigHash, h.Seed)
	}
	if err := h.Check(); err != nil {
		t.Error(err)
	}
}

// A bad event is refused with an error naming its number and changes
// nothing.
func TestHistoryRefuses(t *testing.T) {
	toks := autodropout.DefaultSearchSpace().Tokens()
	choices := [][]int{make([]int, len(toks))}
	for _, c := range []struct {
		name  string
		sites []string
		e     Event
		want  string
	}{
		{"no trial id", nil, Event{Type: TrialFailed}, "no trial id"},
		{"trial id out of range", nil, Event{Type: TrialStarted, Trial: ip(MaxBudget)}, "want one in [0,"},
		{"finished without reward", nil, Event{Type: TrialFinished, Trial: ip(0)}, "no reward"},
		{"stopped without rung", nil, Event{Type: TrialStopped, Trial: ip(0), Reward: fp(1)}, "no rung"},
		{"rung result without reward", nil, Event{Type: RungFinished, Trial: ip(0), Rung: ip(0)}, "no reward"},
		{"promotion without rung", nil, Event{Type: TrialPromoted, Trial: ip(0)}, "no rung"},
		{"update without step", nil, Event{Type: ControllerUpdated}, "no controller step"},
		{"unknown type", nil, Event{Type: "trial_exploded", Trial: ip(0)}, "unknown event type"},
		{"choices for other sites", []string{"a", "b"}, Event{Type: TrialProposed, Trial: ip(0), Choices: choices, Patterns: json.RawMessage(`{}`)}, "choices for 1 sites, want 2"},
		{"proposal without patterns, for a search", []string{"a"}, Event{Type: TrialProposed, Trial: ip(0), Choices: choices}, "no pattern file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := History{Sites: c.sites, Tokens: toks}
			h.Apply(Event{Type: RunStarted})
			changed, err := h.Apply(c.e)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "journal event 2") {
				t.Errorf("error %v, want one naming event 2 and %q", err, c.want)
			}
			if changed || len(h.TrialIDs()) != 0 || len(h.Updates()) != 0 {
				t.Errorf("a refused event changed the history")
			}
			if unknown := errors.Is(err, ErrUnknownEvent); unknown != (c.name == "unknown type") {
				t.Errorf("errors.Is(err, ErrUnknownEvent) = %v", unknown)
			}
		})
	}
	// Readers that know no sites take a proposal without patterns.
	var h History
	if _, err := h.Apply(Event{Type: TrialProposed, Trial: ip(0)}); err != nil {
		t.Errorf("proposal without patterns, no sites: %v", err)
	}
}

// A trial that ended without a proposal is a journal a search cannot
// resume.
func TestHistoryCheck(t *testing.T) {
	var h History
	if err := h.Replay([]Event{{Type: TrialFailed, Trial: ip(3), Reason: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(); err == nil || !strings.Contains(err.Error(), "trial 3 ended but was never proposed") {
		t.Errorf("Check: %v", err)
	}
}
