package search

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/internal/runlock"
	"io"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/autodropout/autodropout/autodropout"
)

// Search is one search run: its configuration, the sites and space it
// searches, where trials run and where its state lives.
type Search struct {
	Config      Config   // with defaults filled (Config.WithDefaults)
	Sites       []string // dropout sites, in the model's order
	Space       Space    // nil: the default ConvNet space
	Executor    Executor
	Journal     Journal   // nil: a FileJournal at Out/journal.jsonl
	Out         string    // folder for the journal, checkpoint, trials, top/ and summary.json; locked while Run runs (ErrInUse)
	Progress    io.Writer // progress lines; nil: none
	ForceConfig bool      // resume even when the journal was started with another config

	// Checkpoints keeps copies of the controller checkpoint (a distributed
	// run's on its server); nil: Out/controller.json is the only copy.
	Checkpoints Checkpoints
}

// Summary is what summary.json holds.
type Summary struct {
	Method     string  `json:"method"`
	Budget     int     `json:"budget"`
	Trials     int     `json:"trials"` // finished + failed
	Finished   int     `json:"finished"`
	Failures   int     `json:"failures"`
	BestReward float64 `json:"best_reward"`
	BestTrial  int     `json:"best_trial"`
	MeanReward float64 `json:"mean_reward"`
	CPUS       float64 `json:"total_cpu_s"`
	WallS      float64 `json:"total_trial_wall_s"`
	Updates    int     `json:"controller_updates"` // controller_updated events journaled

	// The most common failure (its reason and the last line of the
	// trial's output) and how many trials failed so; ties go to the
	// failure of the lowest trial.
	CommonFailure      string `json:"common_failure,omitempty"`
	CommonFailureCount int    `json:"common_failure_count,omitempty"`

	// Multi-fidelity: trials trained to the last rung (the only ones
	// that count for best_reward, mean_reward and top/; they are
	// Finished) and trials stopped at each rung (index into
	// multi_fidelity.rungs; not in Finished, but in Trials and the
	// CPU total, which includes every rung).
	FullFidelity   int   `json:"full_fidelity,omitempty"`
	Stopped        int   `json:"stopped,omitempty"`
	StoppedPerRung []int `json:"stopped_per_rung,omitempty"`
}

type record struct {
	proposed *Event
	started  bool   // a trial_started event was journaled
	done     *Event // trial_finished, trial_failed or trial_stopped

	// Multi-fidelity: rung_finished by rung, and the rungs whose
	// promotion is journaled.
	rungs    map[int]*Event
	promoted map[int]bool
}

// state is what a journal says: the run's config hash, every trial's
// events and the controller updates by step.
type state struct {
	started string
	recs    map[int]*record
	updates map[int]*Event // controller_updated by step (the first of a step)
}

// replay reads a journal's events into a state, checking each against
// the search: trial ids in [0, MaxBudget), proposals shaped for sites and
// the space's tokens, finished trials with a reward. A bad event is an
// error naming its index (the line of a FileJournal) and type.
func replay(evs []Event, sites []string, toks []autodropout.Token) (*state, error) {
	st := &state{recs: map[int]*record{}, updates: map[int]*Event{}}
	for i := range evs {
		e := &evs[i]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("journal event %d (%s): %s", i+1, e.Type, fmt.Sprintf(format, a...))
		}
		switch e.Type {
		case RunStarted:
			st.started = e.ConfigHash
		case ControllerUpdated:
			if e.Step == nil || *e.Step < 1 {
				return nil, bad("no controller step of 1 or more")
			}
			if st.updates[*e.Step] == nil {
				st.updates[*e.Step] = e
			}
		case TrialProposed, TrialStarted, TrialFinished, TrialFailed, RungFinished, TrialPromoted, TrialStopped:
			if e.Trial == nil || *e.Trial < 0 || *e.Trial >= MaxBudget {
				return nil, bad("want a trial id in [0, %d)", MaxBudget)
			}
			r := st.recs[*e.Trial]
			if r == nil {
				r = &record{}
				st.recs[*e.Trial] = r
			}
			switch {
			case e.Type == TrialProposed:
				if err := checkChoices(e.Choices, sites, toks); err != nil {
					return nil, bad("trial %d: %v", *e.Trial, err)
				}
				if len(e.Patterns) == 0 {
					return nil, bad("trial %d: no pattern file", *e.Trial)
				}
				if r.proposed == nil {
					r.proposed = e
				}
			case e.Type == TrialStarted:
				r.started = true
			case e.Type == RungFinished || e.Type == TrialPromoted:
				if e.Rung == nil || *e.Rung < 0 {
					return nil, bad("trial %d: no rung", *e.Trial)
				}
				if e.Type == TrialPromoted {
					r.promote(*e.Rung)
				} else if e.Reward == nil || !finite(*e.Reward) {
					return nil, bad("trial %d: no reward", *e.Trial)
				} else if r.rungs[*e.Rung] == nil {
					r.setRung(*e.Rung, e)
				}
			case r.done != nil: // the first end counts
			case (e.Type == TrialFinished || e.Type == TrialStopped) && (e.Reward == nil || !finite(*e.Reward)):
				return nil, bad("trial %d: no reward", *e.Trial)
			default:
				r.done = e
			}
		default:
			return nil, bad("unknown event type")
		}
	}
	for id, r := range st.recs {
		if r.done != nil && r.proposed == nil {
			return nil, fmt.Errorf("journal: trial %d ended but was never proposed", id)
		}
	}
	return st, nil
}

func (r *record) setRung(rung int, e *Event) {
	if r.rungs == nil {
		r.rungs = map[int]*Event{}
	}
	r.rungs[rung] = e
}

func (r *record) promote(rung int) {
	if r.promoted == nil {
		r.promoted = map[int]bool{}
	}
	r.promoted[rung] = true
}

// checkChoices checks that choices hold one value in range per token for
// every site.
func checkChoices(choices [][]int, sites []string, toks []autodropout.Token) error {
	if len(choices) != len(sites) {
		return fmt.Errorf("choices for %d sites, want %d", len(choices), len(sites))
	}
	for i, c := range choices {
		if len(c) != len(toks) {
			return fmt.Errorf("site %d: %d choices, want %d", i, len(c), len(toks))
		}
		for k, v := range c {
			if v < 0 || v >= toks[k].Choices {
				return fmt.Errorf("site %d token %s: choice %d, want [0, %d)", i, toks[k].Name, v, toks[k].Choices)
			}
		}
	}
	return nil
}

// InterruptedError is what Run returns when its context ends: what the
// journal kept. Running the search again on the same folder resumes it.
type InterruptedError struct {
	Done, Failed, Budget int    // trials ended (failed among them) of the budget
	Unfinished           int    // trials started but not ended: they run again
	Journal              string // where the trials are kept
	Err                  error  // the context's error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s: %d of %d trials done (%d failed) are kept in %s; %d unfinished will run again when the search resumes",
		stopped(e.Err), e.Done, e.Budget, e.Failed, e.Journal, e.Unfinished)
}

// stopped says why a context ended: "interrupted" for a cancel (Ctrl-C),
// else the context's error.
func stopped(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	return fmt.Sprintf("stopped (%v)", err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// ErrAllFailed is wrapped by Run's error when every trial of a finished
// search failed; the error names the most common failure.
var ErrAllFailed = errors.New("all trials failed")

// hook, when set by a test, is called at the named points of a controller
// update (“journaled”: the event is appended, the checkpoint not yet
// saved; “saved”: both done). An error stops Run there, as a kill would.
var hook func(point string, step int) error

// Run runs the search to its budget, resuming from whatever the journal
// and checkpoint in Out hold. Finished and failed trials are never run
// again; proposed but unfinished trials run again with the same patterns.
//
// The journal is written before the checkpoint that depends on it: each
// controller update is journaled, then saved. On resume the checkpoint
// may be one step behind the journal (killed between the two; the
// update is computed again from the journaled trials and not journaled
// twice) or, in folders of older versions that saved first, one step
// ahead (the missing controller_updated event is journaled from the
// checkpoint, marked recovered). Without a checkpoint the controller is
// rebuilt from the journal, which is left as it is.
//
// Run holds a lock on Out (the file Out/.lock) while it runs: a second
// Run on the folder, in another process or this one, returns an error
// wrapping ErrInUse that names the process holding it. The kernel drops
// the lock when its process dies, so a killed search never blocks the
// next one. Before anything is journaled, an Executor that is a Checker
// is checked: a LocalExecutor whose binary is not autodropout is refused.
//
// If the context ends, Run returns an *InterruptedError. If every trial
// failed, it writes the summary and returns it with an error wrapping
// ErrAllFailed.
func (s *Search) Run(ctx context.Context) (Summary, error) {
	cfg := s.Config
	if err := cfg.Check(); err != nil {
		return Summary{}, fmt.Errorf("config: %w", err)
	}
	if len(s.Sites) == 0 {
		return Summary{}, errors.New("no dropout sites to search")
	}
	space := s.Space
	if space == nil {
		space = ConvNetSpace{autodropout.DefaultSearchSpace()}
	}
	unlock, err := s.lockOut(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	if err := s.removeTemps(); err != nil {
		return Summary{}, err
	}
	j := s.Journal
	where := "the run's journal"
	if j == nil {
		where = filepath.Join(s.Out, "journal.jsonl")
		fj, err := OpenFileJournal(where)
		if err != nil {
			return Summary{}, err
		}
		defer fj.Close()
		j = fj
	}
	var jmu sync.Mutex
	appendEv := func(e Event) error {
		jmu.Lock()
		defer jmu.Unlock()
		return j.Append(e)
	}

	h, raw := hash(cfg, s.Sites)
	evs, err := j.Events()
	if err != nil {
		return Summary{}, err
	}
	st, err := replay(evs, s.Sites, space.Tokens())
	if err != nil {
		return Summary{}, err
	}
	recs := st.recs
	if st.started != "" && st.started != h && !s.ForceConfig {
		return Summary{}, fmt.Errorf("%s was started with another configuration (hash %s, now %s); use a new folder, or force it (autodropout search --force-config)", s.Out, st.started, h)
	}
	if st.started != h {
		if err := appendEv(Event{Type: RunStarted, Config: raw, ConfigHash: h, Seed: cfg.Seed}); err != nil {
			return Summary{}, err
		}
	}
	K := cfg.SamplesPerUpdate
	batchRewards := func(b int) ([]Scored, bool) {
		var batch []Scored
		for id := b * K; id < min(b*K+K, cfg.Budget); id++ {
			r := recs[id]
			if r == nil || r.done == nil {
				return nil, false
			}
			rw := cfg.FailureReward
			if r.done.Type != TrialFailed {
				rw = *r.done.Reward
			}
			batch = append(batch, Scored{Choices: r.proposed.Choices, Reward: rw})
		}
		return batch, len(batch) > 0
	}

	var ctl Policy
	ckpt := filepath.Join(s.Out, "controller.json")
	if cfg.Method == "rl" {
		if s.Checkpoints != nil {
			if err := s.Checkpoints.Restore(ckpt); err != nil {
				return Summary{}, err
			}
		}
		if _, err := os.Stat(ckpt); err == nil {
			if ctl, err = LoadPolicy(ckpt, space, cfg.Controller.Kind); err != nil {
				return Summary{}, err
			}
		} else if ctl, err = NewPolicy(space, s.Sites, cfg.Controller, cfg.Seed); err != nil {
			return Summary{}, err
		}
		// A checkpoint ahead of the journal (saved, then killed before the
		// event was appended, by versions that saved first): journal the
		// missing updates from the trials they learned from.
		for step := 1; step <= ctl.Steps(); step++ {
			if st.updates[step] != nil {
				continue
			}
			batch, ok := batchRewards(step - 1)
			if !ok {
				return Summary{}, fmt.Errorf("%s is at controller step %d, but the journal has not recorded every trial of batch %d: it belongs to another run; delete it and the controller is rebuilt from the journal", ckpt, ctl.Steps(), step-1)
			}
			e := Event{Type: ControllerUpdated, Step: ip(step), MeanReward: fp(meanReward(batch)), Recovered: true}
			if step == ctl.Steps() {
				e.Baseline = fp(ctl.MovingBaseline())
			}
			if err := appendEv(e); err != nil {
				return Summary{}, err
			}
			st.updates[step] = &e
		}
	}

	cores := cfg.Cores
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	threads := max(1, cores/cfg.Parallel)
	begin := time.Now()
	ranNow := 0
	var pmu sync.Mutex
	running := 0
	counts := func() (done, failed, unfinished int, best float64) {
		best = math.Inf(-1)
		for _, r := range recs {
			switch {
			case r.done == nil:
				if r.started {
					unfinished++
				}
			case r.done.Type == TrialFailed:
				done++
				failed++
			case r.done.Type == TrialStopped:
				done++
			default:
				done++
				best = max(best, *r.done.Reward)
			}
		}
		return
	}
	printf := func(format string, a ...any) {
		if s.Progress != nil {
			fmt.Fprintf(s.Progress, format, a...)
		}
	}
	progress := func() {
		done, failed, _, best := counts()
		el := time.Since(begin)
		rem := "?"
		if ranNow > 0 {
			rem = (time.Duration(float64(el) / float64(ranNow) * float64(cfg.Budget-done))).Round(time.Second).String()
		}
		bs := "-"
		if !math.IsInf(best, -1) {
			bs = fmt.Sprintf("%.4f", best)
		}
		printf("trials %d/%d  running %d  failed %d  best %s  elapsed %v  remaining ~%s\n",
			done, cfg.Budget, running, failed, bs, el.Round(time.Second), rem)
	}
	interrupted := func(err error) error {
		done, failed, unfinished, _ := counts()
		return &InterruptedError{Done: done, Failed: failed, Budget: cfg.Budget, Unfinished: unfinished, Journal: where, Err: err}
	}

	// The plan, before anything runs.
	printf("search %s: %d trials, %d per controller update, %d at a time with %d threads each, %d sites; journal %s\n",
		cfg.Method, cfg.Budget, K, cfg.Parallel, threads, len(s.Sites), where)
	if done, failed, unfinished, _ := counts(); done+unfinished > 0 || len(st.updates) > 0 {
		printf("resuming: %d trials done (%d failed), %d unfinished run again, %d controller updates journaled\n",
			done, failed, unfinished, len(st.updates))
	}

	// runAll runs trials cfg.Parallel at a time: it journals
	// trial_started, runs each, journals the event end makes of its
	// result and gives it to record (under the progress lock). An
	// interrupted trial is left unfinished.
	runAll := func(b int, pending []Trial, end func(Trial, Result) *Event, record func(Trial, *Event)) error {
		work := make(chan Trial)
		errc := make(chan error, len(pending))
		var wg sync.WaitGroup
		for w := 0; w < min(cfg.Parallel, len(pending)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range work {
					if err := ctx.Err(); err != nil {
						errc <- err // interrupted before it started
						continue
					}
					se := Event{Type: TrialStarted, Trial: ip(t.ID)}
					if cfg.MultiFidelity != nil {
						se.Rung = ip(t.Rung)
					}
					if err := appendEv(se); err != nil {
						errc <- err
						continue
					}
					pmu.Lock()
					again := ""
					if recs[t.ID].started {
						again = " again"
					}
					recs[t.ID].started = true
					running++
					rung := ""
					if cfg.MultiFidelity != nil {
						rung = fmt.Sprintf(", rung %d", t.Rung)
					}
					printf("trial %d started%s (batch %d%s): %s\n", t.ID, again, b, rung, t.Dir)
					pmu.Unlock()
					res := s.Executor.Run(ctx, t)
					if ctx.Err() != nil {
						errc <- ctx.Err() // interrupted: leave the trial unfinished
						pmu.Lock()
						running--
						pmu.Unlock()
						continue
					}
					e := end(t, res)
					err := appendEv(*e)
					pmu.Lock()
					running--
					if err == nil {
						record(t, e)
						progress()
					}
					pmu.Unlock()
					if err != nil {
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
				return interrupted(err)
			}
			first = cmp.Or(first, err)
		}
		return first
	}

	for b := 0; b*K < cfg.Budget; b++ {
		if err := ctx.Err(); err != nil {
			return Summary{}, interrupted(err)
		}
		lo, hi := b*K, min(b*K+K, cfg.Budget)
		if ctl != nil && b < ctl.Steps() {
			continue // batch already in the checkpointed controller
		}
		if cfg.MultiFidelity != nil && batchDone(recs, lo, hi) {
			// Ended before a kill (random search: nothing to update); a
			// kill may have come before its rung states were deleted.
			s.removeRungStates(ctx, batchTrials(s.Out, lo, hi))
			if ctl == nil {
				continue
			}
		}
		// Propose the batch.
		trials := make([]Trial, 0, hi-lo)
		for id := lo; id < hi; id++ {
			var p Proposal
			if ctl != nil {
				if p, err = ctl.Sample(); err != nil {
					return Summary{}, fmt.Errorf("trial %d: %w", id, err)
				}
			} else {
				if p, err = RandomProposal(space, s.Sites, rand.New(rand.NewSource(cfg.Seed*1_000_003+int64(id)))); err != nil {
					return Summary{}, fmt.Errorf("trial %d: %w", id, err)
				}
			}
			r := recs[id]
			if r == nil {
				r = &record{}
				recs[id] = r
			}
			if r.proposed == nil {
				step := b
				e := Event{Type: TrialProposed, Trial: ip(id), Patterns: p.Patterns, Choices: p.Choices,
					LogProb: fp(p.LogProb), Entropy: fp(p.Entropy), Step: &step}
				if err := appendEv(e); err != nil {
					return Summary{}, err
				}
				r.proposed = &e
			}
			trials = append(trials, Trial{ID: id, Patterns: r.proposed.Patterns, Choices: r.proposed.Choices, Seed: cfg.Task.Seed, Task: cfg.Task,
				Dir: trialDir(s.Out, id), Threads: threads})
		}
		if mf := cfg.MultiFidelity; mf != nil {
			if err := s.runRungs(ctx, b, trials, recs, mf, runAll, appendEv, &ranNow); err != nil {
				return Summary{}, err
			}
		} else {
			var pending []Trial
			for _, t := range trials {
				if recs[t.ID].done == nil {
					pending = append(pending, t)
				}
			}
			if err := runAll(b, pending, func(t Trial, res Result) *Event {
				e := endEvent(t, res)
				return &e
			}, func(t Trial, e *Event) {
				recs[t.ID].done = e
				ranNow++
			}); err != nil {
				return Summary{}, err
			}
		}
		if ctl == nil {
			continue
		}
		// Update the controller with every trial of the batch: journal the
		// update (unless the journal has it: a resume after a kill between
		// journal and checkpoint), then save the checkpoint.
		batch, _ := batchRewards(b)
		us, err := ctl.Update(batch)
		if err != nil {
			return Summary{}, err
		}
		step := ctl.Steps()
		if st.updates[step] == nil {
			e := Event{Type: ControllerUpdated, Step: &step, Baseline: fp(us.Baseline),
				MeanReward: fp(us.MeanReward), Loss: fp(us.Loss)}
			if err := appendEv(e); err != nil {
				return Summary{}, err
			}
			st.updates[step] = &e
		}
		if hook != nil {
			if err := hook("journaled", step); err != nil {
				return Summary{}, err
			}
		}
		if err := ctl.Save(ckpt); err != nil {
			return Summary{}, err
		}
		if s.Checkpoints != nil {
			if err := s.Checkpoints.Saved(ckpt); err != nil {
				return Summary{}, err
			}
		}
		if hook != nil {
			if err := hook("saved", step); err != nil {
				return Summary{}, err
			}
		}
	}
	sum, err := s.finish(recs, len(st.updates))
	if err == nil && sum.Finished == 0 && sum.Failures > 0 {
		err = fmt.Errorf("%w (%d); the most common failure (%d times): %s",
			ErrAllFailed, sum.Failures, sum.CommonFailureCount, sum.CommonFailure)
	}
	return sum, err
}

// batchDone reports whether trials [lo, hi) have all ended.
func batchDone(recs map[int]*record, lo, hi int) bool {
	for id := lo; id < hi; id++ {
		if r := recs[id]; r == nil || r.done == nil {
			return false
		}
	}
	return true
}

// trialDir is the folder of trial id.
func trialDir(out string, id int) string {
	return filepath.Join(out, "trials", fmt.Sprintf("%04d", id))
}

// batchTrials are trials [lo, hi) with their folders only.
func batchTrials(out string, lo, hi int) []Trial {
	var ts []Trial
	for id := lo; id < hi; id++ {
		ts = append(ts, Trial{ID: id, Dir: trialDir(out, id)})
	}
	return ts
}

func meanReward(batch []Scored) float64 {
	var m float64
	for _, s := range batch {
		m += s.Reward
	}
	return m / float64(len(batch))
}

// endEvent is the journal event of a trial's result: trial_finished with
// its reward, or trial_failed with the reason.
func endEvent(t Trial, res Result) Event {
	e := Event{Type: TrialFinished, Trial: ip(t.ID), Metrics: res.Metrics, Cost: &res.Cost}
	if res.Err != nil {
		e.Type, e.Reason, e.Output = TrialFailed, res.Err.Error(), res.Output
	} else if !finite(res.Reward) {
		e.Type, e.Reason, e.Output = TrialFailed, fmt.Sprintf("reward %v is not a number", res.Reward), res.Output
	} else {
		e.Reward = fp(res.Reward)
	}
	return e
}

// lockOut makes Out and takes its lock (package runlock) for the rest of
// Run: a second search on the folder, in this process or another, is
// refused with an error naming the holder (it wraps ErrInUse). Then it
// checks that the executor can run trials (Checker), before anything is
// journaled.
func (s *Search) lockOut(ctx context.Context) (unlock func(), err error) {
	if err := Probed(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return nil, err
	}
	l, err := runlock.Acquire(s.Out)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if c, ok := s.Executor.(Checker); ok {
		if err := c.Check(ctx); err != nil {
			l.Release()
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	return func() { l.Release() }, nil
}

// ErrInUse is wrapped by the error of Search.Run (and experiment.Run)
// when another run holds its folder: another process, or another Run in
// this one. The error names the folder and the holder's process.
var ErrInUse = runlock.ErrHeld

// removeTemps deletes the temporary files of atomic writes a killed run
// left in Out, top/ and the trial folders.
func (s *Search) removeTemps() error {
	dirs := []string{s.Out, filepath.Join(s.Out, "top")}
	trials, _ := filepath.Glob(filepath.Join(s.Out, "trials", "*"))
	for _, d := range append(dirs, trials...) {
		if _, err := atomicfile.RemoveTemps(d); err != nil {
			return err
		}
	}
	return nil
}

// finish writes top/ and summary.json.
func (s *Search) finish(recs map[int]*record, updates int) (Summary, error) {
	cfg := s.Config
	sum := Summary{Method: cfg.Method, Budget: cfg.Budget, BestReward: math.NaN(), BestTrial: -1, Updates: updates}
	type fin struct {
		id int
		r  float64
	}
	var fins []fin
	// In id order: sums over a map's order would differ in the last bit
	// between a run and its resume.
	for _, id := range slices.Sorted(maps.Keys(recs)) {
		r := recs[id]
		if r.done == nil || id >= cfg.Budget { // a larger budget's trials (--force-config)
			continue
		}
		sum.Trials++
		if c := r.done.Cost; c != nil {
			sum.CPUS += c.CPUS
			sum.WallS += c.WallS
		}
		if r.done.Type == TrialFailed {
			sum.Failures++
			continue
		}
		if r.done.Type == TrialStopped {
			sum.Stopped++
			rung := *r.done.Rung
			for len(sum.StoppedPerRung) <= rung {
				sum.StoppedPerRung = append(sum.StoppedPerRung, 0)
			}
			sum.StoppedPerRung[rung]++
			continue
		}
		sum.Finished++
		fins = append(fins, fin{id, *r.done.Reward})
		sum.MeanReward += *r.done.Reward
	}
	if cfg.MultiFidelity != nil {
		sum.FullFidelity = sum.Finished
		for len(sum.StoppedPerRung) < len(cfg.MultiFidelity.Rungs)-1 {
			sum.StoppedPerRung = append(sum.StoppedPerRung, 0)
		}
	}
	sum.CommonFailure, sum.CommonFailureCount = commonFailure(recs, cfg.Budget)
	sort.Slice(fins, func(a, b int) bool {
		if fins[a].r != fins[b].r {
			return fins[a].r > fins[b].r
		}
		return fins[a].id < fins[b].id
	})
	if len(fins) > 0 {
		sum.MeanReward /= float64(len(fins))
		sum.BestReward, sum.BestTrial = fins[0].r, fins[0].id
	}
	top := filepath.Join(s.Out, "top")
	if err := os.RemoveAll(top); err != nil {
		return sum, err
	}
	if err := os.MkdirAll(top, 0o755); err != nil {
		return sum, err
	}
	for i, f := range fins[:min(len(fins), cfg.TopK)] {
		p := filepath.Join(top, fmt.Sprintf("%02d-%.4f.json", i+1, f.r))
		if err := atomicfile.Write(p, patternFileText(recs[f.id].proposed.Patterns)); err != nil {
			return sum, fmt.Errorf("top patterns: %w", err)
		}
	}
	out := sum
	b, _ := json.MarshalIndent(struct {
		Summary
		BestReward *float64 `json:"best_reward"`
	}{out, nanNil(sum.BestReward)}, "", "  ")
	if err := atomicfile.Write(filepath.Join(s.Out, "summary.json"), append(b, '\n')); err != nil {
		return sum, err
	}
	return sum, nil
}

// patternFileText returns a trial's pattern file as a pattern file is
// written (indented, one final newline): read back from the journal it is
// one compact line, and a resumed search must write the same top/ files
// as an uninterrupted one.
func patternFileText(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return raw
	}
	return append(b.Bytes(), '\n')
}

// commonFailure returns the most common failure of trials [0, budget)
// and its count.
func commonFailure(recs map[int]*record, budget int) (string, int) {
	n := map[string]int{}
	first := map[string]int{}
	for id, r := range recs {
		if r.done == nil || r.done.Type != TrialFailed || id >= budget {
			continue
		}
		k := failureText(r.done)
		n[k]++
		if f, ok := first[k]; !ok || id < f {
			first[k] = id
		}
	}
	best := ""
	for k, c := range n {
		if best == "" || c > n[best] || (c == n[best] && first[k] < first[best]) {
			best = k
		}
	}
	return best, n[best]
}

// failureText is a failure's reason and the last non-empty line of its
// output, which for a child that exits non-zero is its error message.
func failureText(e *Event) string {
	t := e.Reason
	lines := strings.Split(strings.TrimSpace(e.Output), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" && !strings.Contains(t, last) {
		t += ": " + last
	}
	return t
}

func nanNil(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// RandomProposal draws every token of every site uniformly.
func RandomProposal(space Space, sites []string, rng *rand.Rand) (Proposal, error) {
	toks := space.Tokens()
	p := Proposal{Choices: make([][]int, len(sites))}
	for i := range sites {
		p.Choices[i] = make([]int, len(toks))
		for k, t := range toks {
			p.Choices[i][k] = rng.Intn(t.Choices)
			p.LogProb -= math.Log(float64(t.Choices))
			p.Entropy += math.Log(float64(t.Choices))
		}
	}
	var err error
	p.Patterns, err = space.PatternFile(sites, p.Choices)
	return p, err
}

func ip(i int) *int         { return &i }
func fp(f float64) *float64 { return &f }
