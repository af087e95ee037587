package search

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/autodropout/autodropout/autodropout"
)

// run is one call of Search.Run: what its phases (open, replay, restore,
// plan, batch, finish) share. Every change to the history goes through
// journal, which appends the event first: the history holds only what
// the journal holds.
type run struct {
	s       *Search
	cfg     Config
	space   Space
	j       Journal
	where   string // the journal, as messages name it
	close   func() // closes the journal Run opened
	ckpt    string // the controller checkpoint
	threads int    // per trial
	ctl     Policy // nil for random search

	// mu guards the journal, the history and the progress counts while
	// trials run in parallel.
	mu      sync.Mutex
	h       *History
	begin   time.Time
	ranNow  int // trials ended by this call (the pace of the time left)
	running int
}

// open checks the search, locks and prepares its folder (lockOut), and
// opens its journal; r.close releases both.
func (s *Search) open(ctx context.Context) (*run, error) {
	cfg := s.Config
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(s.Sites) == 0 {
		return nil, errors.New("no dropout sites to search")
	}
	r := &run{s: s, cfg: cfg, space: s.Space, j: s.Journal, where: "the run's journal", close: func() {},
		ckpt: filepath.Join(s.Out, "controller.json")}
	if r.space == nil {
		r.space = ConvNetSpace{autodropout.DefaultSearchSpace()}
	}
	unlock, err := s.lockOut(ctx)
	if err != nil {
		return nil, err
	}
	r.close = unlock
	if err := s.removeTemps(); err != nil {
		unlock()
		return nil, err
	}
	if r.j == nil {
		r.where = filepath.Join(s.Out, "journal.jsonl")
		fj, err := OpenFileJournal(r.where)
		if err != nil {
			unlock()
			return nil, err
		}
		r.j, r.close = fj, func() { fj.Close(); unlock() }
	}
	cores := cfg.Cores
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	r.threads = max(1, cores/cfg.Parallel)
	return r, nil
}

// replay reads the journal into the run's history and journals
// run_started unless the journal's last one has this configuration; a
// journal started with another configuration is refused unless
// ForceConfig.
func (r *run) replay() error {
	evs, err := r.j.Events()
	if err != nil {
		return err
	}
	if r.h, err = replay(evs, r.s.Sites, r.space.Tokens()); err != nil {
		return err
	}
	h, raw := hash(r.cfg, r.s.Sites)
	if err := r.checkKept(raw); err != nil {
		return err
	}
	if started := r.h.ConfigHash; started != "" && started != h && !r.s.ForceConfig {
		what := configDiff(r.h.Config, raw)
		if what == "" {
			what = "the model's dropout sites differ"
		}
		return fmt.Errorf("%s was started with another configuration (%s); use a new folder, or force it (autodropout search --force-config)", r.s.Out, what)
	}
	if r.h.ConfigHash == h {
		return nil
	}
	return r.journal(Event{Type: RunStarted, Config: raw, ConfigHash: h, Seed: r.cfg.Seed})
}

// keptFields are the configuration's fields that even ForceConfig cannot
// change, with the value a journal that lacks one had: the journal's
// trials and the controller's checkpoint belong to them, and a summary of
// mixed methods would misname them.
var keptFields = []struct{ key, unset string }{{"method", `"rl"`}, {"controller.kind", `"lstm"`}}

// checkKept refuses a configuration raw whose keptFields differ from the
// journal's configuration.
func (r *run) checkKept(raw json.RawMessage) error {
	if r.h.Config == nil {
		return nil
	}
	was, now := map[string]string{}, map[string]string{}
	flattenJSON(r.h.Config, "", was)
	flattenJSON(raw, "", now)
	for _, f := range keptFields {
		a, b := cmp.Or(was[f.key], f.unset), cmp.Or(now[f.key], f.unset)
		if a != b {
			return fmt.Errorf("%s was searched with %s %s; it cannot change to %s in the same folder, not even with --force-config (the journal would mix them): use a new folder", r.s.Out, f.key, a, b)
		}
	}
	return nil
}

// restore loads the controller of an RL search from its checkpoint
// (restored from Checkpoints first), or makes a new one, and journals the
// updates of a checkpoint ahead of the journal. Random search has none.
func (r *run) restore() error {
	if r.cfg.Method != "rl" {
		return nil
	}
	if cp := r.s.Checkpoints; cp != nil {
		if err := cp.Restore(r.ckpt); err != nil {
			return err
		}
	}
	var err error
	if _, serr := os.Stat(r.ckpt); serr == nil {
		r.ctl, err = LoadPolicy(r.ckpt, r.space, r.cfg.Controller.Kind)
	} else {
		r.ctl, err = NewPolicy(r.space, r.s.Sites, r.cfg.Controller, r.cfg.Seed)
	}
	if err != nil {
		return err
	}
	return r.recoverUpdates()
}

// recoverUpdates journals the updates a checkpoint holds that the journal
// lacks (saved, then killed before the event was appended, by versions
// that saved first), from the trials they learned from.
func (r *run) recoverUpdates() error {
	for step := 1; step <= r.ctl.Steps(); step++ {
		if r.h.Update(step) != nil {
			continue
		}
		batch, ok := r.batchRewards(step - 1)
		if !ok {
			return fmt.Errorf("%s is at controller step %d, but the journal has not recorded every trial of batch %d: it belongs to another run; delete it and the controller is rebuilt from the journal", r.ckpt, r.ctl.Steps(), step-1)
		}
		e := Event{Type: ControllerUpdated, Step: ip(step), MeanReward: fp(meanReward(batch)), Recovered: true}
		if step == r.ctl.Steps() {
			e.Baseline = fp(r.ctl.MovingBaseline())
		}
		if err := r.journal(e); err != nil {
			return err
		}
	}
	return nil
}

// batchRewards returns the controller's batch b: every trial's choices
// and reward (a failure's is Config.FailureReward); ok is false until
// every trial of the batch has ended.
func (r *run) batchRewards(b int) (batch []Scored, ok bool) {
	K := r.cfg.SamplesPerUpdate
	for id := b * K; id < min(b*K+K, r.cfg.Budget); id++ {
		t := r.h.Trial(id)
		if t == nil || t.End == nil {
			return nil, false
		}
		rw := r.cfg.FailureReward
		if t.End.Type != TrialFailed {
			rw = *t.End.Reward
		}
		batch = append(batch, Scored{Choices: t.Proposed.Choices, Reward: rw})
	}
	return batch, len(batch) > 0
}

// plan prints the plan, before anything runs, and what a resume found.
func (r *run) plan() {
	cfg := r.cfg
	r.begin = time.Now()
	r.printf("search %s: %d trials, %d per controller update, %d at a time with %d threads each, %d sites; journal %s\n",
		cfg.Method, cfg.Budget, cfg.SamplesPerUpdate, cfg.Parallel, r.threads, len(r.s.Sites), r.where)
	if done, failed, unfinished, _ := r.counts(); done+unfinished > 0 || len(r.h.Updates()) > 0 {
		r.printf("resuming: %d trials done (%d failed), %d unfinished run again, %d controller updates journaled\n",
			done, failed, unfinished, len(r.h.Updates()))
	}
}

// batch runs batch b of the budget: it proposes the batch's trials, runs
// them (by rungs with multi-fidelity) and updates the controller with
// them. A batch the checkpointed controller learned from is skipped.
func (r *run) batch(ctx context.Context, b int) error {
	if err := ctx.Err(); err != nil {
		return r.interrupted(err)
	}
	K := r.cfg.SamplesPerUpdate
	lo, hi := b*K, min(b*K+K, r.cfg.Budget)
	if r.ctl != nil && b < r.ctl.Steps() {
		return nil // batch already in the checkpointed controller
	}
	mf := r.cfg.MultiFidelity
	if mf != nil && batchDone(r.h, lo, hi) {
		// Ended before a kill (random search: nothing to update); a
		// kill may have come before its rung states were deleted.
		r.s.removeRungStates(ctx, batchTrials(r.s.Out, lo, hi))
		if r.ctl == nil {
			return nil
		}
	}
	trials, err := r.propose(b, lo, hi)
	if err != nil {
		return err
	}
	if mf != nil {
		err = r.runRungs(ctx, b, trials, mf)
	} else {
		err = r.runPlain(ctx, b, trials)
	}
	if err != nil || r.ctl == nil {
		return err
	}
	return r.update(b)
}

// propose journals the proposals of trials [lo, hi) that the journal
// lacks and returns the batch's trials, each with its journaled (first)
// proposal. Every trial is sampled, journaled or not, so that a resumed
// controller draws what an uninterrupted one would.
func (r *run) propose(b, lo, hi int) ([]Trial, error) {
	trials := make([]Trial, 0, hi-lo)
	for id := lo; id < hi; id++ {
		p, err := r.sample(id)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", id, err)
		}
		if t := r.h.Trial(id); t == nil || t.Proposed == nil {
			e := Event{Type: TrialProposed, Trial: ip(id), Patterns: p.Patterns, Choices: p.Choices,
				LogProb: fp(p.LogProb), Entropy: fp(p.Entropy), Step: ip(b)}
			if err := r.journal(e); err != nil {
				return nil, err
			}
		}
		pr := r.h.Trial(id).Proposed
		trials = append(trials, Trial{ID: id, Patterns: pr.Patterns, Choices: pr.Choices, Seed: r.cfg.Task.Seed, Task: r.cfg.Task,
			Dir: trialDir(r.s.Out, id), Threads: r.threads})
	}
	return trials, nil
}

// sample draws trial id's proposal: from the controller, or for random
// search from a generator seeded by the search's seed and the id.
func (r *run) sample(id int) (Proposal, error) {
	if r.ctl != nil {
		return r.ctl.Sample()
	}
	return RandomProposal(r.space, r.s.Sites, rand.New(rand.NewSource(r.cfg.Seed*1_000_003+int64(id))))
}

// runPlain runs the trials of batch b that have not ended.
func (r *run) runPlain(ctx context.Context, b int, trials []Trial) error {
	var pending []Trial
	for _, t := range trials {
		if r.h.Trial(t.ID).End == nil {
			pending = append(pending, t)
		}
	}
	return r.runAll(ctx, b, pending, func(t Trial, res Result) Event { return endEvent(t, res) })
}

// runAll runs trials cfg.Parallel at a time (runOne). The error of an
// interrupted run is an *InterruptedError.
func (r *run) runAll(ctx context.Context, b int, pending []Trial, end func(Trial, Result) Event) error {
	work := make(chan Trial)
	errc := make(chan error, len(pending))
	var wg sync.WaitGroup
	for w := 0; w < min(r.cfg.Parallel, len(pending)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if err := r.runOne(ctx, b, t, end); err != nil {
					errc <- err
				}
			}
		}()
	}
	for _, t := range pending {
		work <- t
	}
	close(work)
	wg.Wait()
	close(errc)
	var first error
	for err := range errc {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return r.interrupted(err)
		}
		first = cmp.Or(first, err)
	}
	return first
}

// runOne journals trial_started, runs t, and journals the event end makes
// of its result (end runs under the lock: it may read the history). An
// interrupted trial is left unfinished; its error is the context's.
func (r *run) runOne(ctx context.Context, b int, t Trial, end func(Trial, Result) Event) error {
	if err := ctx.Err(); err != nil {
		return err // interrupted before it started
	}
	if err := r.start(b, t); err != nil {
		return err
	}
	res := r.s.Executor.Run(ctx, t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.journalLocked(end(t, res)); err != nil {
		return err
	}
	r.progress()
	return nil
}

// start journals trial_started and says so.
func (r *run) start(b int, t Trial) error {
	e := Event{Type: TrialStarted, Trial: ip(t.ID)}
	rung := ""
	if r.cfg.MultiFidelity != nil {
		e.Rung = ip(t.Rung)
		rung = fmt.Sprintf(", rung %d", t.Rung)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	again := ""
	if r.h.Trial(t.ID).Started {
		again = " again"
	}
	if err := r.journalLocked(e); err != nil {
		return err
	}
	r.running++
	r.printf("trial %d started%s (batch %d%s): %s\n", t.ID, again, b, rung, t.Dir)
	return nil
}

// update trains the controller on batch b, journals the update (unless
// the journal has it: a resume after a kill between journal and
// checkpoint), then saves the checkpoint.
func (r *run) update(b int) error {
	batch, _ := r.batchRewards(b)
	us, err := r.ctl.Update(batch)
	if err != nil {
		return err
	}
	step := r.ctl.Steps()
	if r.h.Update(step) == nil {
		e := Event{Type: ControllerUpdated, Step: ip(step), Baseline: fp(us.Baseline),
			MeanReward: fp(us.MeanReward), Loss: fp(us.Loss)}
		if err := r.journal(e); err != nil {
			return err
		}
	}
	if err := callHook("journaled", step); err != nil {
		return err
	}
	if err := r.ctl.Save(r.ckpt); err != nil {
		return err
	}
	if cp := r.s.Checkpoints; cp != nil {
		if err := cp.Saved(r.ckpt); err != nil {
			return err
		}
	}
	return callHook("saved", step)
}

func callHook(point string, step int) error {
	if hook == nil {
		return nil
	}
	return hook(point, step)
}

// journal appends e to the journal, then applies it to the history.
func (r *run) journal(e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.journalLocked(e)
}

// journalLocked is journal with r.mu held.
func (r *run) journalLocked(e Event) error {
	if err := r.j.Append(e); err != nil {
		return err
	}
	changed, err := r.h.Apply(e)
	if err != nil {
		return fmt.Errorf("search journaled an event it cannot read back: %w", err)
	}
	if changed && (e.Type == TrialFinished || e.Type == TrialFailed || e.Type == TrialStopped) {
		r.ranNow++
	}
	return nil
}

// counts are the trials ended (failed among them) and started but not
// ended, and the best reward of a finished trial (-Inf: none).
func (r *run) counts() (done, failed, unfinished int, best float64) {
	best = math.Inf(-1)
	for _, t := range r.h.trials {
		switch {
		case t.End == nil:
			if t.Started {
				unfinished++
			}
		case t.End.Type == TrialFailed:
			done++
			failed++
		case t.End.Type == TrialStopped:
			done++
		default:
			done++
			best = max(best, *t.End.Reward)
		}
	}
	return
}

func (r *run) printf(format string, a ...any) {
	if r.s.Progress != nil {
		fmt.Fprintf(r.s.Progress, format, a...)
	}
}

// progress prints the trials done and the time left at this call's pace.
func (r *run) progress() {
	done, failed, _, best := r.counts()
	el := time.Since(r.begin)
	rem := "?"
	if r.ranNow > 0 {
		rem = (time.Duration(float64(el) / float64(r.ranNow) * float64(r.cfg.Budget-done))).Round(time.Second).String()
	}
	bs := "-"
	if !math.IsInf(best, -1) {
		bs = fmt.Sprintf("%.4f", best)
	}
	r.printf("trials %d/%d  running %d  failed %d  best %s  elapsed %v  remaining ~%s\n",
		done, r.cfg.Budget, r.running, failed, bs, el.Round(time.Second), rem)
}

// interrupted is Run's error when the context ends (err).
func (r *run) interrupted(err error) error {
	done, failed, unfinished, _ := r.counts()
	return &InterruptedError{Done: done, Failed: failed, Budget: r.cfg.Budget, Unfinished: unfinished, Journal: r.where, Err: err}
}
