package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// runFunc is Run's runner of a batch's pending trials (see runAll).
type runFunc func(b int, pending []Trial, end func(Trial, Result) *Event, record func(Trial, *Event)) error

// runRungs runs batch b with successive halving (mf): every trial trains
// to rung 0; after each rung but the last the best max(1, ⌊n/reduction⌋)
// of the n trials that entered it are promoted (journaled), the others
// stop. Finished rungs are never run again: a resume recomputes the same
// promotions from the journaled rung results, and an interrupted rung
// reruns from the previous rung's state. At the end every stopped trial
// gets its trial_stopped event and the batch's rung states are deleted.
func (s *Search) runRungs(ctx context.Context, b int, trials []Trial, recs map[int]*record, mf *MultiFidelity, runAll runFunc, appendEv func(Event) error, ranNow *int) error {
	last := len(mf.Rungs) - 1
	alive := trials
	for ri := range mf.Rungs {
		var pending []Trial
		for _, t := range alive {
			if r := recs[t.ID]; r.done == nil && r.rungs[ri] == nil {
				pending = append(pending, rungTrial(t, ri, mf))
			}
		}
		err := runAll(b, pending, func(t Trial, res Result) *Event {
			// A resumed training counts its steps and examples from the
			// run's start: the rung's own are those beyond the rungs below.
			below := trialCost(recs[t.ID], ri)
			if ri > 0 && res.Cost.Steps >= below.Steps && res.Cost.Examples >= below.Examples {
				res.Cost.Steps -= below.Steps
				res.Cost.Examples -= below.Examples
			}
			e := endEvent(t, res)
			e.Rung, e.Epochs = ip(ri), mf.Rungs[ri]
			if e.Type == TrialFinished && ri < last {
				e.Type = RungFinished
			} else {
				addCost(&below, res.Cost)
				e.Cost = &below
			}
			return &e
		}, func(t Trial, e *Event) {
			if e.Type == RungFinished {
				recs[t.ID].setRung(ri, e)
				return
			}
			recs[t.ID].done = e
			*ranNow++
		})
		if err != nil {
			return err
		}
		if ri == last {
			break
		}
		if alive, err = promote(alive, recs, ri, mf, appendEv); err != nil {
			return err
		}
	}
	hi := trials[len(trials)-1].ID + 1
	for _, t := range trials {
		r := recs[t.ID]
		if r.done != nil {
			continue
		}
		e, err := stoppedEvent(t.ID, recs, hi, mf)
		if err != nil {
			return err
		}
		if err := appendEv(*e); err != nil {
			return err
		}
		r.done = e
		*ranNow++
	}
	s.removeRungStates(ctx, trials)
	return nil
}

// rungTrial is t's training for rung ri: from the previous rung's state
// to the rung's epochs, saving a state unless it is the last rung.
func rungTrial(t Trial, ri int, mf *MultiFidelity) Trial {
	t.Rung = ri
	if ri > 0 {
		t.ResumeState = rungState(t.Dir, ri-1)
	}
	if ri < len(mf.Rungs)-1 {
		t.StopEpoch, t.SaveState = mf.Rungs[ri], rungState(t.Dir, ri)
	}
	return t
}

// rungState is the file of a trial's state after rung ri.
func rungState(dir string, ri int) string {
	return filepath.Join(dir, fmt.Sprintf("rung-%d.state", ri))
}

// removeRungStates deletes the rung states of a batch whose trials have
// all ended, in the trial folders and in the executor's store if it has
// one: nothing resumes from them any more.
func (s *Search) removeRungStates(ctx context.Context, trials []Trial) {
	for _, t := range trials {
		states, _ := filepath.Glob(filepath.Join(t.Dir, "rung-*.state"))
		for _, f := range states {
			os.Remove(f)
		}
	}
	if st, ok := s.Executor.(StateStore); ok {
		if err := st.RemoveRungStates(ctx, trials); err != nil && s.Progress != nil {
			fmt.Fprintf(s.Progress, "warning: rung states of trials %d-%d left in the executor's store: %v\n", trials[0].ID, trials[len(trials)-1].ID, err)
		}
	}
}

// promote journals the promotions at rung ri (those not journaled yet)
// and returns the promoted trials in id order: the best
// max(1, ⌊n/reduction⌋) by rung score of the n trials that entered the
// rung, ties to the lower id; trials that failed are never promoted.
func promote(alive []Trial, recs map[int]*record, ri int, mf *MultiFidelity, appendEv func(Event) error) ([]Trial, error) {
	// Every trial with a rung result competes, including those a killed
	// run already stopped at the end of the batch.
	var ok []Trial
	for _, t := range alive {
		if recs[t.ID].rungs[ri] != nil {
			ok = append(ok, t)
		}
	}
	score := func(t Trial) float64 { return *recs[t.ID].rungs[ri].Reward }
	sort.SliceStable(ok, func(a, b int) bool {
		if sa, sb := score(ok[a]), score(ok[b]); sa != sb {
			return sa > sb
		}
		return ok[a].ID < ok[b].ID
	})
	ok = ok[:min(len(ok), max(1, len(alive)/mf.Reduction))]
	sort.Slice(ok, func(a, b int) bool { return ok[a].ID < ok[b].ID })
	for _, t := range ok {
		r := recs[t.ID]
		if r.promoted[ri] {
			continue
		}
		if err := appendEv(Event{Type: TrialPromoted, Trial: ip(t.ID), Rung: ip(ri), Epochs: mf.Rungs[ri]}); err != nil {
			return nil, err
		}
		r.promote(ri)
	}
	return ok, nil
}

// stoppedEvent is the trial_stopped event of trial id, which ended at its
// highest rung h with score s: its reward is s + RungGain(h), the mean
// gain from rung h to the last rung of the trials with ids below hi that
// trained to the end.
func stoppedEvent(id int, recs map[int]*record, hi int, mf *MultiFidelity) (*Event, error) {
	r := recs[id]
	h := -1
	for ri := range r.rungs {
		h = max(h, ri)
	}
	if h < 0 {
		return nil, fmt.Errorf("trial %d: stopped without a rung result", id)
	}
	var gains []float64
	for j := 0; j < hi; j++ {
		if o := recs[j]; o != nil && o.done != nil && o.done.Type == TrialFinished && o.rungs[h] != nil {
			gains = append(gains, *o.done.Reward-*o.rungs[h].Reward)
		}
	}
	rung := r.rungs[h]
	total := trialCost(r, h+1)
	return &Event{Type: TrialStopped, Trial: ip(id), Rung: ip(h), Epochs: mf.Rungs[h],
		Reward: fp(StoppedReward(*rung.Reward, gains)), Metrics: rung.Metrics, Cost: &total}, nil
}

// StoppedReward is the controller's reward for a trial stopped at a rung
// with score: the score plus the mean of gains, the gains from that rung
// to the last one of the trials that went on to the end (none: no gain).
// It is in full-fidelity units and increases with the score.
func StoppedReward(score float64, gains []float64) float64 {
	if len(gains) == 0 {
		return score
	}
	var m float64
	for _, g := range gains {
		m += g
	}
	return score + m/float64(len(gains))
}

// trialCost is the cost of a trial's rungs below rung n.
func trialCost(r *record, n int) Cost {
	var c Cost
	for ri := 0; ri < n; ri++ {
		if e := r.rungs[ri]; e != nil && e.Cost != nil {
			addCost(&c, *e.Cost)
		}
	}
	return c
}

func addCost(c *Cost, d Cost) {
	c.WallS += d.WallS
	c.CPUS += d.CPUS
	c.Steps += d.Steps
	c.Examples += d.Examples
	c.Precision = d.Precision
}
