package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// runRungs runs batch b with successive halving (mf): every trial trains
// to rung 0; after each rung but the last the best max(1, ⌊n/reduction⌋)
// of the n trials that entered it are promoted (journaled), the others
// stop. Finished rungs are never run again: a resume recomputes the same
// promotions from the journaled rung results, and an interrupted rung
// reruns from the previous rung's state. At the end every stopped trial
// gets its trial_stopped event and the batch's rung states are deleted.
func (r *run) runRungs(ctx context.Context, b int, trials []Trial, mf *MultiFidelity) error {
	last := len(mf.Rungs) - 1
	alive := trials
	for ri := range mf.Rungs {
		var pending []Trial
		for _, t := range alive {
			if th := r.h.Trial(t.ID); th.End == nil && th.Rungs[ri] == nil {
				pending = append(pending, rungTrial(t, ri, mf))
			}
		}
		err := r.runAll(ctx, b, pending, func(t Trial, res Result) Event {
			return rungEvent(r.h.Trial(t.ID), t, res, ri, mf)
		})
		if err != nil {
			return err
		}
		if ri == last {
			break
		}
		if alive, err = r.promote(alive, ri, mf); err != nil {
			return err
		}
	}
	return r.stopRest(ctx, trials, mf)
}

// rungEvent is the journal event of trial t's result res at rung ri:
// rung_finished with the rung's own cost below the last rung, else the
// trial's outcome with its total cost. th is the trial's history.
func rungEvent(th *TrialHistory, t Trial, res Result, ri int, mf *MultiFidelity) Event {
	// A resumed training counts its steps and examples from the
	// run's start: the rung's own are those beyond the rungs below.
	below := trialCost(th, ri)
	if ri > 0 && res.Cost.Steps >= below.Steps && res.Cost.Examples >= below.Examples {
		res.Cost.Steps -= below.Steps
		res.Cost.Examples -= below.Examples
	}
	e := endEvent(t, res)
	e.Rung, e.Epochs = ip(ri), mf.Rungs[ri]
	if e.Type == TrialFinished && ri < len(mf.Rungs)-1 {
		e.Type = RungFinished
	} else {
		addCost(&below, res.Cost)
		e.Cost = &below
	}
	return e
}

// stopRest journals trial_stopped for every trial of the batch without
// an outcome, then deletes the batch's rung states.
func (r *run) stopRest(ctx context.Context, trials []Trial, mf *MultiFidelity) error {
	hi := trials[len(trials)-1].ID + 1
	for _, t := range trials {
		if r.h.Trial(t.ID).End != nil {
			continue
		}
		e, err := stoppedEvent(t.ID, r.h, hi, mf)
		if err != nil {
			return err
		}
		if err := r.journal(*e); err != nil {
			return err
		}
	}
	r.s.removeRungStates(ctx, trials)
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
func (r *run) promote(alive []Trial, ri int, mf *MultiFidelity) ([]Trial, error) {
	// Every trial with a rung result competes, including those a killed
	// run already stopped at the end of the batch.
	var ok []Trial
	for _, t := range alive {
		if r.h.Trial(t.ID).Rungs[ri] != nil {
			ok = append(ok, t)
		}
	}
	score := func(t Trial) float64 { return *r.h.Trial(t.ID).Rungs[ri].Reward }
	sort.SliceStable(ok, func(a, b int) bool {
		if sa, sb := score(ok[a]), score(ok[b]); sa != sb {
			return sa > sb
		}
		return ok[a].ID < ok[b].ID
	})
	ok = ok[:min(len(ok), max(1, len(alive)/mf.Reduction))]
	sort.Slice(ok, func(a, b int) bool { return ok[a].ID < ok[b].ID })
	for _, t := range ok {
		if r.h.Trial(t.ID).Promoted[ri] {
			continue
		}
		if err := r.journal(Event{Type: TrialPromoted, Trial: ip(t.ID), Rung: ip(ri), Epochs: mf.Rungs[ri]}); err != nil {
			return nil, err
		}
	}
	return ok, nil
}

// stoppedEvent is the trial_stopped event of trial id, which ended at its
// highest rung h with score s: its reward is s + RungGain(h), the mean
// gain from rung h to the last rung of the trials with ids below hi that
// trained to the end.
func stoppedEvent(id int, hist *History, hi int, mf *MultiFidelity) (*Event, error) {
	r := hist.Trial(id)
	h := r.LastRung()
	if h < 0 {
		return nil, fmt.Errorf("trial %d: stopped without a rung result", id)
	}
	var gains []float64
	for j := 0; j < hi; j++ {
		if o := hist.Trial(j); o != nil && o.End != nil && o.End.Type == TrialFinished && o.Rungs[h] != nil {
			gains = append(gains, *o.End.Reward-*o.Rungs[h].Reward)
		}
	}
	rung := r.Rungs[h]
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
func trialCost(r *TrialHistory, n int) Cost {
	var c Cost
	for ri := 0; ri < n; ri++ {
		if e := r.Rungs[ri]; e != nil && e.Cost != nil {
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
