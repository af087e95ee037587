package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
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
	Out         string    // folder for the journal, checkpoint, trials, top/ and summary.json
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
	Updates    int     `json:"controller_updates"`
}

type record struct {
	proposed *Event
	done     *Event // trial_finished or trial_failed
}

// Run runs the search to its budget, resuming from whatever the journal
// and checkpoint in Out hold. Finished and failed trials are never run
// again; proposed but unfinished trials run again with the same patterns.
func (s *Search) Run(ctx context.Context) (Summary, error) {
	cfg := s.Config
	if err := cfg.Check(); err != nil {
		return Summary{}, fmt.Errorf("search: %w", err)
	}
	if len(s.Sites) == 0 {
		return Summary{}, errors.New("search: no dropout sites")
	}
	space := s.Space
	if space == nil {
		space = ConvNetSpace{autodropout.DefaultSearchSpace()}
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return Summary{}, fmt.Errorf("search: %w", err)
	}
	j := s.Journal
	if j == nil {
		fj, err := OpenFileJournal(filepath.Join(s.Out, "journal.jsonl"))
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
	recs := map[int]*record{}
	started := ""
	for i := range evs {
		e := &evs[i]
		switch e.Type {
		case RunStarted:
			started = e.ConfigHash
		case TrialProposed, TrialFinished, TrialFailed:
			if e.Trial == nil {
				return Summary{}, fmt.Errorf("journal: %s event without trial id", e.Type)
			}
			r := recs[*e.Trial]
			if r == nil {
				r = &record{}
				recs[*e.Trial] = r
			}
			if e.Type == TrialProposed {
				r.proposed = e
			} else if r.done == nil {
				r.done = e
			}
		}
	}
	if started != "" && started != h && !s.ForceConfig {
		return Summary{}, fmt.Errorf("search: %s was started with another configuration (hash %s, now %s); use a new folder, or force it (autodropout search --force-config)", s.Out, started, h)
	}
	if started != h {
		if err := appendEv(Event{Type: RunStarted, Config: raw, ConfigHash: h, Seed: cfg.Seed}); err != nil {
			return Summary{}, err
		}
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
	}

	cores := cfg.Cores
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	threads := max(1, cores/cfg.Parallel)
	K := cfg.SamplesPerUpdate
	begin := time.Now()
	ranNow := 0
	var pmu sync.Mutex
	running := 0
	progress := func() {
		if s.Progress == nil {
			return
		}
		done, failed, best := 0, 0, math.Inf(-1)
		for _, r := range recs {
			if r.done != nil {
				done++
				if r.done.Type == TrialFailed {
					failed++
				} else if *r.done.Reward > best {
					best = *r.done.Reward
				}
			}
		}
		el := time.Since(begin)
		rem := "?"
		if ranNow > 0 {
			rem = (time.Duration(float64(el) / float64(ranNow) * float64(cfg.Budget-done))).Round(time.Second).String()
		}
		bs := "-"
		if !math.IsInf(best, -1) {
			bs = fmt.Sprintf("%.4f", best)
		}
		fmt.Fprintf(s.Progress, "trials %d/%d  running %d  failed %d  best %s  elapsed %v  remaining ~%s\n",
			done, cfg.Budget, running, failed, bs, el.Round(time.Second), rem)
	}

	for b := 0; b*K < cfg.Budget; b++ {
		if err := ctx.Err(); err != nil {
			return Summary{}, err
		}
		lo, hi := b*K, min(b*K+K, cfg.Budget)
		if ctl != nil && b < ctl.Steps() {
			continue // batch already in the checkpointed controller
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
				Dir: filepath.Join(s.Out, "trials", fmt.Sprintf("%04d", id)), Threads: threads})
		}
		// Run what is not done.
		var pending []Trial
		for _, t := range trials {
			if recs[t.ID].done == nil {
				pending = append(pending, t)
			}
		}
		work := make(chan Trial)
		errc := make(chan error, len(pending))
		var wg sync.WaitGroup
		for w := 0; w < min(cfg.Parallel, len(pending)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range work {
					if err := appendEv(Event{Type: TrialStarted, Trial: ip(t.ID)}); err != nil {
						errc <- err
						continue
					}
					pmu.Lock()
					running++
					pmu.Unlock()
					res := s.Executor.Run(ctx, t)
					if ctx.Err() != nil {
						errc <- ctx.Err() // interrupted: leave the trial unfinished
						pmu.Lock()
						running--
						pmu.Unlock()
						continue
					}
					e := Event{Type: TrialFinished, Trial: ip(t.ID), Metrics: res.Metrics, Cost: &res.Cost}
					if res.Err != nil {
						e.Type, e.Reason, e.Output = TrialFailed, res.Err.Error(), res.Output
					} else {
						e.Reward = fp(res.Reward)
					}
					err := appendEv(e)
					pmu.Lock()
					running--
					recs[t.ID].done = &e
					ranNow++
					progress()
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
		for err := range errc {
			return Summary{}, err
		}
		if ctl == nil {
			continue
		}
		// Update the controller with every trial of the batch.
		batch := make([]Scored, 0, len(trials))
		for _, t := range trials {
			r := recs[t.ID]
			rw := cfg.FailureReward
			if r.done.Type == TrialFinished {
				rw = *r.done.Reward
			}
			batch = append(batch, Scored{Choices: r.proposed.Choices, Reward: rw})
		}
		st, err := ctl.Update(batch)
		if err != nil {
			return Summary{}, err
		}
		if err := ctl.Save(ckpt); err != nil {
			return Summary{}, err
		}
		if s.Checkpoints != nil {
			if err := s.Checkpoints.Saved(ckpt); err != nil {
				return Summary{}, err
			}
		}
		step := ctl.Steps()
		if err := appendEv(Event{Type: ControllerUpdated, Step: &step, Baseline: fp(st.Baseline),
			MeanReward: fp(st.MeanReward), Loss: fp(st.Loss)}); err != nil {
			return Summary{}, err
		}
	}
	updates := 0
	if ctl != nil {
		updates = ctl.Steps()
	}
	return s.finish(recs, updates)
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
	for id, r := range recs {
		if r.done == nil {
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
		sum.Finished++
		fins = append(fins, fin{id, *r.done.Reward})
		sum.MeanReward += *r.done.Reward
	}
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
		if err := atomicfile.Write(p, recs[f.id].proposed.Patterns); err != nil {
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
