package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/internal/runlock"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"

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

// replay reads a journal's events into a History, checking each against
// the search: trial ids in [0, MaxBudget), proposals shaped for sites and
// the space's tokens, finished trials with a reward, every ended trial
// proposed. A bad event is an error naming its index (the line of a
// FileJournal) and type.
func replay(evs []Event, sites []string, toks []autodropout.Token) (*History, error) {
	h := &History{Sites: sites, Tokens: toks}
	if err := h.Replay(evs); err != nil {
		return nil, err
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
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
	r, err := s.open(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer r.close()
	if err := r.replay(); err != nil {
		return Summary{}, err
	}
	if err := r.restore(); err != nil {
		return Summary{}, err
	}
	r.plan()
	for b := 0; b*r.cfg.SamplesPerUpdate < r.cfg.Budget; b++ {
		if err := r.batch(ctx, b); err != nil {
			return Summary{}, err
		}
	}
	sum, err := s.finish(r.h)
	if err == nil && sum.Finished == 0 && sum.Failures > 0 {
		err = fmt.Errorf("%w (%d); the most common failure (%d times): %s",
			ErrAllFailed, sum.Failures, sum.CommonFailureCount, sum.CommonFailure)
	}
	return sum, err
}

// batchDone reports whether trials [lo, hi) have all ended.
func batchDone(h *History, lo, hi int) bool {
	for id := lo; id < hi; id++ {
		if t := h.Trial(id); t == nil || t.End == nil {
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

// scored is a finished trial's id and reward.
type scored struct {
	id int
	r  float64
}

// finish writes top/ and summary.json from the history h.
func (s *Search) finish(h *History) (Summary, error) {
	sum, fins := s.summarize(h)
	top := filepath.Join(s.Out, "top")
	if err := os.RemoveAll(top); err != nil {
		return sum, err
	}
	if err := os.MkdirAll(top, 0o755); err != nil {
		return sum, err
	}
	for i, f := range fins[:min(len(fins), s.Config.TopK)] {
		p := filepath.Join(top, fmt.Sprintf("%02d-%.4f.json", i+1, f.r))
		if err := atomicfile.Write(p, patternFileText(h.Trial(f.id).Proposed.Patterns)); err != nil {
			return sum, fmt.Errorf("top patterns: %w", err)
		}
	}
	b, _ := json.MarshalIndent(struct {
		Summary
		BestReward *float64 `json:"best_reward"`
	}{sum, nanNil(sum.BestReward)}, "", "  ")
	if err := atomicfile.Write(filepath.Join(s.Out, "summary.json"), append(b, '\n')); err != nil {
		return sum, err
	}
	return sum, nil
}

// summarize adds up the trials of the budget that ended, and returns the
// finished ones best first (ties: lower id).
func (s *Search) summarize(h *History) (Summary, []scored) {
	cfg := s.Config
	sum := Summary{Method: cfg.Method, Budget: cfg.Budget, BestReward: math.NaN(), BestTrial: -1, Updates: len(h.Updates())}
	var fins []scored
	// In id order: sums over a map's order would differ in the last bit
	// between a run and its resume.
	for _, id := range h.TrialIDs() {
		r := h.Trial(id)
		if r.End == nil || id >= cfg.Budget { // a larger budget's trials (--force-config)
			continue
		}
		sum.Trials++
		if c := r.End.Cost; c != nil {
			sum.CPUS += c.CPUS
			sum.WallS += c.WallS
		}
		switch r.End.Type {
		case TrialFailed:
			sum.Failures++
		case TrialStopped:
			sum.Stopped++
			rung := *r.End.Rung
			for len(sum.StoppedPerRung) <= rung {
				sum.StoppedPerRung = append(sum.StoppedPerRung, 0)
			}
			sum.StoppedPerRung[rung]++
		default:
			sum.Finished++
			fins = append(fins, scored{id, *r.End.Reward})
			sum.MeanReward += *r.End.Reward
		}
	}
	if cfg.MultiFidelity != nil {
		sum.FullFidelity = sum.Finished
		for len(sum.StoppedPerRung) < len(cfg.MultiFidelity.Rungs)-1 {
			sum.StoppedPerRung = append(sum.StoppedPerRung, 0)
		}
	}
	sum.CommonFailure, sum.CommonFailureCount = commonFailure(h, cfg.Budget)
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
	return sum, fins
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
func commonFailure(h *History, budget int) (string, int) {
	n := map[string]int{}
	first := map[string]int{}
	for _, id := range h.TrialIDs() {
		r := h.Trial(id)
		if r.End == nil || r.End.Type != TrialFailed || id >= budget {
			continue
		}
		k := failureText(r.End)
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
