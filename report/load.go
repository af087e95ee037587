package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/train"
	"github.com/autodropout/autodropout/trial"
)

// MaxDepth is how many folders deep Load looks below the report's folder.
const MaxDepth = 4

// Report is what Load finds under a folder: search runs and training runs
// grouped by label, with every number the report prints already computed.
type Report struct {
	Dir      string    // the folder given to Load
	Searches []*Search // by name
	Groups   []*Group  // training runs by label, in LabelOrder
	// Grid is the training runs under grid/ (an experiment's baseline
	// grid: validation only), by label; they are not in Groups.
	Grid []*Group
	// Noise is the training runs under noise/ (an experiment's reward-
	// noise stage: baselines and search patterns retrained at the trials'
	// settings, validation only), by label; they are not in Groups.
	Noise []*Group
	// Baseline is the group whose training cost the searches are compared
	// with: "none" when present, else the first group; nil without runs.
	Baseline *Group
	// Notes are caveats the report prints: estimated CPU times, a
	// summary.json that disagrees with its journal.
	Notes []string
}

// Status is how a trial ended.
type Status string

// Trial statuses.
const (
	Finished   Status = "finished"
	Failed     Status = "failed"
	Unfinished Status = "unfinished" // proposed (maybe started), no outcome yet
	// Stopped: a multi-fidelity trial stopped at a rung; its Reward is the
	// controller's (the rung score raised to full-fidelity units), not a
	// measured full-fidelity score, so it never counts as a best.
	Stopped Status = "stopped"
)

// Search is one search run folder (a journal.jsonl).
type Search struct {
	Dir    string
	Name   string // Dir relative to Report.Dir; the folder's name for Report.Dir itself
	Method string // "rl" or "random" (run_started's config, else summary.json); "" when unknown
	Seed   int64
	Budget int             // 0 when unknown
	Config json.RawMessage // run_started's configuration (the last one when resumed)

	Trials  []Trial  // by trial id
	Updates []Update // in journal order
	Top     []TopFile
	Summary *search.Summary // nil without summary.json

	Finished, Failed, Unfinished int
	Stopped                      int  // multi-fidelity trials stopped at a rung
	MultiFidelity                bool // run_started's configuration has multi_fidelity
	// Curve is the best full-fidelity reward so far against the CPU-seconds
	// spent so far, in journal order: every rung's and every trial's cost
	// counts when it is journaled, so a multi-fidelity search's cheap rungs
	// move it right and only trials trained to the end move it up.
	Curve                  []CostPoint
	BestTrial              int     // -1 without a finished trial
	BestReward, MeanReward float64 // over finished trials; NaN without one

	// Cost of the trials that journaled one (finished or failed).
	CPUS, TrialWallS float64 // totals
	TrialCPU         Stat    // per trial CPU seconds
	TrialWall        Stat    // per trial wall seconds
	// ElapsedS is the wall time from the first to the last journal event
	// (it includes the controller's work and any pause before a resume);
	// NaN without a timed event.
	ElapsedS float64
	// SegmentLen is a language-model search's segment length (the tgt_len
	// of its task's recipe), at which its patterns' token shares are
	// measured; 0 for other searches or when the recipe cannot be read.
	SegmentLen int
}

// Trial is one trial as the journal tells it.
type Trial struct {
	ID      int
	Step    int     // controller step of the proposal; -1 when not journaled
	Entropy float64 // of the proposal; NaN when not journaled
	LogProb float64
	Status  Status
	Reward  float64 // NaN unless finished or stopped
	Rung    int     // multi-fidelity: the last rung trained; -1 otherwise
	// Best is the best reward among finished trials with an id up to this
	// one (the running best by trial number); NaN before the first.
	Best    float64
	Metrics map[string]float64
	Cost    *search.Cost // nil when not journaled
	Reason  string       // failure reason
	// Patterns is the proposal when the journal holds a ConvNet pattern
	// file (nil otherwise), and Dropped the mean over its sites of the
	// share of each site's map the pattern drops, at the maps of the
	// search's task (search.SiteMaps); NaN when either is unknown.
	// TPatterns is a Transformer pattern list's proposal, and Dropped then
	// the mean over its entries of the share of a segment's tokens they
	// drop (SelectedShare; Gaussian noise drops none).
	Patterns  []autodropout.SitePattern
	TPatterns []autodropout.TransformerSitePattern
	Dropped   float64
}

// CostPoint is a point of Search.Curve.
type CostPoint struct{ CPUS, Best float64 }

// Update is one controller update.
type Update struct {
	Step                 int // the controller's step count after the update
	Baseline, MeanReward float64
	Loss                 float64
	AfterTrial           int     // last trial of the batch it learned from; -1 when unknown
	MeanEntropy          float64 // of that batch's proposals; NaN when unknown
}

// TopFile is one top/NN-REWARD.json pattern file.
type TopFile struct {
	Path   string
	Rank   int     // NN; 0 when the name does not say
	Reward float64 // REWARD; NaN when the name does not say
	// Patterns holds a ConvNet pattern file's patterns, TPatterns a
	// Transformer pattern list's; the file's JSON is in Text.
	Patterns  []autodropout.SitePattern
	TPatterns []autodropout.TransformerSitePattern
	Text      string
}

// Run is one training run (a result.json).
type Run struct {
	Dir, Label                  string
	Seed                        int64
	Model, Dataset, Regularizer string
	Threads                     int
	LM                          bool    // a language model: perplexities instead of accuracies
	ValAcc, TestAcc             float64 // NaN when absent
	ValPPL, TestPPL             float64 // NaN when absent
	WallS, CPUS                 float64
	CPUEstimated                bool // result.json has no cpu_s: CPUS is WallS × Threads
	Steps                       int
	Curve                       []CurvePoint // per epoch, from train --curve
	LMCurve                     []LMPoint    // per N steps, from train --task lm --curve-every N
}

// Group is the training runs that share a label (usually one per seed).
type Group struct {
	Label        string
	Runs         []Run // by seed
	LM           bool  // any run is a language model
	Regularizers []string
	ValAcc       Stat
	TestAcc      Stat
	ValPPL       Stat
	TestPPL      Stat
	CPU, Wall    Stat
	CPUEstimated bool // some run's CPU time is estimated
}

// LabelOrder lists the labels the report shows first, in this order; other
// labels follow alphabetically.
var LabelOrder = []string{"none", "dropout", "spatial", "dropblock", "variational", "random-best", "autodropout-best"}

var seedDir = regexp.MustCompile(`^seed-(\d+)$`)

// Load reads every search run (a folder with journal.jsonl) and training
// run (a folder with result.json) at most MaxDepth folders below dir,
// skipping everything under a trials/ folder (a search's own children).
// Errors name the file and the problem: a missing folder, a folder with
// no runs, a corrupt journal line (other than a torn last line), an
// unreadable result.json or top/ file.
func Load(dir string) (*Report, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("report: %s is not a folder", dir)
	}
	r := &Report{Dir: dir}
	var searchDirs, runDirs []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel != "." && (d.Name() == "trials" || strings.Count(rel, string(filepath.Separator)) >= MaxDepth) {
				return filepath.SkipDir
			}
			return nil
		}
		switch d.Name() {
		case "journal.jsonl":
			searchDirs = append(searchDirs, filepath.Dir(path))
		case "result.json":
			runDirs = append(runDirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(searchDirs) == 0 && len(runDirs) == 0 {
		return nil, fmt.Errorf("report: no search run (journal.jsonl) or training run (result.json) in %s (looked %d folders deep, skipping trials/)", dir, MaxDepth)
	}
	for _, sd := range searchDirs {
		s, err := loadSearch(dir, sd)
		if err != nil {
			return nil, err
		}
		r.Searches = append(r.Searches, s)
		r.Notes = append(r.Notes, s.checkSummary()...)
	}
	sort.Slice(r.Searches, func(i, j int) bool { return r.Searches[i].Name < r.Searches[j].Name })
	droppedShares(r.Searches)

	var runs []Run
	for _, rd := range runDirs {
		run, err := loadRun(dir, rd)
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	// Each area is grouped on its own: a label ("none") means one thing
	// in the final comparison and another at the trials' settings.
	areas := map[string][]Run{}
	for _, run := range runs {
		a := AreaOf(relName(dir, run.Dir))
		areas[a] = append(areas[a], run)
	}
	r.Groups, r.Grid, r.Noise = GroupRuns(areas[""]), GroupRuns(areas[gridFolder]), GroupRuns(areas[NoiseFolder])
	estimated := 0
	for _, run := range runs {
		if run.CPUEstimated {
			estimated++
		}
	}
	if estimated > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d of the training runs' result.json have no cpu_s: their CPU time is estimated as wall_s × threads, an upper bound (marked *).", estimated))
	}
	r.Baseline = Baseline(r.Groups)
	return r, nil
}

// gridFolder and NoiseFolder hold an experiment's grid and reward-noise
// runs (package experiment writes them).
const (
	gridFolder  = "grid"
	NoiseFolder = "noise"
)

// AreaOf is the area of a run's folder (relative to the report's): the
// grid or noise folder it lies under, or "" for the final comparison.
func AreaOf(rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, a := range []string{gridFolder, NoiseFolder} {
		if slices.Contains(parts, a) {
			return a
		}
	}
	return ""
}

// Group returns the group with the label, or nil.
func (r *Report) Group(label string) *Group {
	for _, g := range r.Groups {
		if g.Label == label {
			return g
		}
	}
	return nil
}

// Search returns the search with the name, or nil.
func (r *Report) Search(name string) *Search {
	for _, s := range r.Searches {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// CostRatios returns what the search cost in units of one baseline
// training: its trials' total CPU time over the baseline group's mean CPU
// time, and its elapsed wall time over the baseline's mean wall time. Both
// are NaN without a baseline.
func (r *Report) CostRatios(s *Search) (cpu, wall float64) {
	if r.Baseline == nil {
		return math.NaN(), math.NaN()
	}
	return s.CPUS / r.Baseline.CPU.Mean, s.ElapsedS / r.Baseline.Wall.Mean
}

// Spent is the CPU-seconds of all the work a report covers, by kind.
type Spent struct {
	Searches, Final, Grid, Noise float64
}

// Total is the sum of every kind.
func (s Spent) Total() float64 { return s.Searches + s.Final + s.Grid + s.Noise }

// Spent adds up the CPU-seconds of the searches' trials and of every
// training run: the final ones (Groups), the grids and the reward-noise
// stage.
func (r *Report) Spent() Spent {
	runs := func(gs []*Group) float64 {
		var c float64
		for _, g := range gs {
			for _, run := range g.Runs {
				c += run.CPUS
			}
		}
		return c
	}
	sp := Spent{Final: runs(r.Groups), Grid: runs(r.Grid), Noise: runs(r.Noise)}
	for _, s := range r.Searches {
		sp.Searches += s.CPUS
	}
	return sp
}

func relName(root, dir string) string {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return filepath.Base(dir)
		}
		return filepath.Base(abs)
	}
	return filepath.ToSlash(rel)
}

// loadSearch reads the search run in dir: its journal through a
// search.History (the rules the search itself resumes by), summary.json
// and top/.
func loadSearch(root, dir string) (*Search, error) {
	jpath := filepath.Join(dir, "journal.jsonl")
	evs, err := search.ReadJournal(jpath)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	s := &Search{Dir: dir, Name: relName(root, dir), BestTrial: -1}
	h, err := s.replay(evs)
	if err != nil {
		return nil, fmt.Errorf("report: journal %s: %w", jpath, err)
	}
	if err := s.runConfig(h); err != nil {
		return nil, fmt.Errorf("report: journal %s: %w", jpath, err)
	}
	for _, id := range h.TrialIDs() {
		s.Trials = append(s.Trials, newTrial(h.Trial(id)))
	}
	for _, e := range h.Updates() {
		s.Updates = append(s.Updates, Update{Step: *e.Step, Baseline: deref(e.Baseline), MeanReward: deref(e.MeanReward), Loss: deref(e.Loss), AfterTrial: -1})
	}
	s.tally()
	if err := s.loadSummary(); err != nil {
		return nil, err
	}
	if s.Method == "" && s.Summary != nil {
		s.Method = s.Summary.Method
	}
	if s.Budget == 0 && s.Summary != nil {
		s.Budget = s.Summary.Budget
	}
	if err := s.loadTop(); err != nil {
		return nil, err
	}
	return s, nil
}

// replay applies the journal's events to a history, skipping event
// types this version does not know, and follows them in journal order
// for what the final history does not keep: the elapsed time and the
// cost curve.
func (s *Search) replay(evs []search.Event) (*search.History, error) {
	h := &search.History{}
	var first, last time.Time
	curveCPU, curveBest := 0.0, math.NaN()
	counted := map[int]float64{} // CPU-seconds of each trial already in the curve
	for _, e := range evs {
		if !e.Time.IsZero() {
			if first.IsZero() || e.Time.Before(first) {
				first = e.Time
			}
			if e.Time.After(last) {
				last = e.Time
			}
		}
		changed, err := h.Apply(e)
		if errors.Is(err, search.ErrUnknownEvent) {
			continue
		}
		if err != nil {
			return nil, err
		}
		isEnd := e.Type == search.TrialFinished || e.Type == search.TrialFailed || e.Type == search.TrialStopped
		if !changed || !(isEnd || e.Type == search.RungFinished && h.Trial(*e.Trial).End == nil) {
			continue
		}
		if e.Cost != nil {
			c := e.Cost.CPUS
			if isEnd { // a final event's cost is the trial's total
				c -= counted[*e.Trial]
			}
			curveCPU += max(c, 0)
			counted[*e.Trial] += max(c, 0)
		}
		if e.Type == search.TrialFinished && (math.IsNaN(curveBest) || *e.Reward > curveBest) {
			curveBest = *e.Reward
		}
		if !math.IsNaN(curveBest) {
			s.Curve = append(s.Curve, CostPoint{curveCPU, curveBest})
		}
	}
	s.ElapsedS = math.NaN()
	if !first.IsZero() {
		s.ElapsedS = last.Sub(first).Seconds()
	}
	return h, nil
}

// runConfig reads the method, budget, seed and multi-fidelity of the last
// run_started.
func (s *Search) runConfig(h *search.History) error {
	s.Config, s.Seed = h.Config, h.Seed
	var c struct {
		Method        string          `json:"method"`
		Budget        int             `json:"budget"`
		MultiFidelity json.RawMessage `json:"multi_fidelity"`
	}
	if len(h.Config) > 0 {
		if err := json.Unmarshal(h.Config, &c); err != nil {
			return fmt.Errorf("run_started: config: %w", err)
		}
	}
	s.Method, s.Budget = c.Method, c.Budget
	s.MultiFidelity = len(c.MultiFidelity) > 0 && string(c.MultiFidelity) != "null"
	return nil
}

// newTrial is the report's view of a trial's history.
func newTrial(th *search.TrialHistory) Trial {
	t := Trial{ID: th.ID, Step: -1, Entropy: math.NaN(), LogProb: math.NaN(), Reward: math.NaN(), Status: Unfinished, Rung: -1, Dropped: math.NaN()}
	if p := th.Proposed; p != nil {
		if p.Step != nil {
			t.Step = *p.Step
		}
		t.Entropy, t.LogProb = deref(p.Entropy), deref(p.LogProb)
		t.Patterns, _ = autodropout.ParsePatterns(p.Patterns) // nil unless a ConvNet pattern file
		if t.Patterns == nil {
			t.TPatterns, _ = autodropout.ParseTransformerPatterns(p.Patterns)
		}
	}
	e := th.End
	if e == nil {
		return t
	}
	t.Metrics, t.Cost, t.Reason = e.Metrics, e.Cost, e.Reason
	if e.Rung != nil {
		t.Rung = *e.Rung
	}
	switch e.Type {
	case search.TrialFailed:
		t.Status = Failed
	case search.TrialStopped:
		t.Status, t.Reward = Stopped, *e.Reward
	default:
		t.Status, t.Reward = Finished, *e.Reward
	}
	return t
}

// tally counts the trials by status and sets the running best, the best
// and mean rewards, the costs and what each update learned from.
func (s *Search) tally() {
	best, sum := math.NaN(), 0.0
	var cpus, walls []float64
	for i := range s.Trials {
		t := &s.Trials[i]
		switch t.Status {
		case Finished:
			s.Finished++
			sum += t.Reward
			if math.IsNaN(best) || t.Reward > best {
				best, s.BestTrial = t.Reward, t.ID
			}
		case Failed:
			s.Failed++
		case Stopped:
			s.Stopped++
		default:
			s.Unfinished++
		}
		t.Best = best
		if t.Cost != nil {
			cpus = append(cpus, t.Cost.CPUS)
			walls = append(walls, t.Cost.WallS)
			s.CPUS += t.Cost.CPUS
			s.TrialWallS += t.Cost.WallS
		}
	}
	s.BestReward, s.MeanReward = best, math.NaN()
	if s.Finished > 0 {
		s.MeanReward = sum / float64(s.Finished)
	}
	s.TrialCPU, s.TrialWall = Describe(cpus), Describe(walls)

	// An update with step k learned from the batch proposed at step k-1.
	for i := range s.Updates {
		u := &s.Updates[i]
		var ents []float64
		for _, t := range s.Trials {
			if u.Step >= 1 && t.Step == u.Step-1 {
				u.AfterTrial = max(u.AfterTrial, t.ID)
				if !math.IsNaN(t.Entropy) {
					ents = append(ents, t.Entropy)
				}
			}
		}
		u.MeanEntropy = Describe(ents).Mean
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func (s *Search) loadSummary() error {
	p := filepath.Join(s.Dir, "summary.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a search still running has none yet
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var sum search.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return fmt.Errorf("report: %s: %w", p, err)
	}
	s.Summary = &sum
	return nil
}

// checkSummary compares summary.json with the journal.
func (s *Search) checkSummary() []string {
	if s.Summary == nil {
		return nil
	}
	var notes []string
	m := s.Summary
	if m.Finished != s.Finished || m.Failures != s.Failed {
		notes = append(notes, fmt.Sprintf("%s/summary.json counts %d finished and %d failed trials, the journal %d and %d (summary.json is written when a search ends; the journal is newer).",
			s.Name, m.Finished, m.Failures, s.Finished, s.Failed))
	} else if s.Finished > 0 && math.Abs(m.BestReward-s.BestReward) > 1e-9 {
		notes = append(notes, fmt.Sprintf("%s/summary.json has best reward %.4f, the journal %.4f.", s.Name, m.BestReward, s.BestReward))
	}
	return notes
}

var topName = regexp.MustCompile(`^(\d+)-([-+0-9.eE]+|NaN)\.json$`)

func (s *Search) loadTop() error {
	dir := filepath.Join(s.Dir, "top")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		tf := TopFile{Path: p, Reward: math.NaN()}
		if m := topName.FindStringSubmatch(e.Name()); m != nil {
			tf.Rank, _ = strconv.Atoi(m[1])
			if v, err := strconv.ParseFloat(m[2], 64); err == nil {
				tf.Reward = v
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if ps, err := autodropout.ReadPatterns(p); err == nil {
			tf.Patterns = ps
		} else if tps, terr := autodropout.ParseTransformerPatterns(b); terr == nil {
			tf.TPatterns = tps
		} else if !json.Valid(b) {
			return fmt.Errorf("report: top pattern file %s: malformed JSON (%v)", p, err)
		}
		tf.Text = string(b)
		s.Top = append(s.Top, tf)
	}
	sort.Slice(s.Top, func(i, j int) bool { return filepath.Base(s.Top[i].Path) < filepath.Base(s.Top[j].Path) })
	return nil
}

// Best returns the best finished trial.
func (s *Search) Best() (Trial, bool) {
	for _, t := range s.Trials {
		if t.ID == s.BestTrial {
			return t, true
		}
	}
	return Trial{}, false
}

// CurvePoint is one epoch of a learning curve (result.json's curve).
type CurvePoint = train.Point

// LMPoint is one point of a language model's learning curve (result.json's
// lm_curve).
type LMPoint = train.LMPoint

// loadRun reads dir/result.json.
func loadRun(root, dir string) (Run, error) {
	p := filepath.Join(dir, trial.ResultFile)
	f, err := trial.ReadResult(dir)
	if err != nil {
		return Run{}, fmt.Errorf("report: %w", err)
	}
	r, err := NewRun(root, dir, f)
	if err != nil {
		return Run{}, fmt.Errorf("report: %s: %w", p, err)
	}
	return r, nil
}

// NewRun is the Run of result file f, found in folder dir at or below
// root. Its label is the folder above a seed-N folder, the regularizer for
// a run in root itself, and the path below root otherwise. A result with
// no score, or with neither wall_s nor cpu_s, is an error.
func NewRun(root, dir string, f trial.Result) (Run, error) {
	if f.ValAcc == nil && f.TestAcc == nil && f.ValPPL == nil && f.TestPPL == nil {
		return Run{}, errors.New("no val_acc, test_acc, val_ppl or test_ppl")
	}
	if f.WallS == nil && f.CPUS == nil {
		return Run{}, errors.New("neither wall_s nor cpu_s")
	}
	r := Run{Dir: dir, Seed: f.Seed, Model: f.Model, Dataset: f.Dataset, Regularizer: f.Regularizer,
		Threads: f.Threads, Steps: f.Steps, LM: f.ValPPL != nil || f.TestPPL != nil,
		ValAcc: deref(f.ValAcc), TestAcc: deref(f.TestAcc), ValPPL: deref(f.ValPPL), TestPPL: deref(f.TestPPL),
		WallS: deref(f.WallS), Curve: f.Curve, LMCurve: f.LMCurve}
	if f.CPUS != nil {
		r.CPUS = *f.CPUS
	} else {
		r.CPUS, r.CPUEstimated = r.WallS*float64(max(f.Threads, 1)), true
	}
	named := filepath.Clean(dir)
	if b := filepath.Base(named); b == "." || b == ".." {
		// A relative path that names no folder: the label needs the names.
		abs, err := filepath.Abs(dir)
		if err != nil {
			return Run{}, err
		}
		named = abs
	}
	parent := filepath.Base(filepath.Dir(named))
	switch m := seedDir.FindStringSubmatch(filepath.Base(named)); {
	case m != nil && parent != "/" && parent != ".":
		r.Label = parent
		r.Seed, _ = strconv.ParseInt(m[1], 10, 64)
	case filepath.Clean(root) == filepath.Clean(dir):
		r.Label = f.Regularizer
		if r.Label == "" {
			r.Label = "run"
		}
	default:
		r.Label = relName(root, dir)
	}
	return r, nil
}

// GroupRuns groups runs by label into summarized groups, in LabelOrder
// and then alphabetically.
func GroupRuns(runs []Run) []*Group {
	byLabel := map[string]*Group{}
	var groups []*Group
	for _, run := range runs {
		g := byLabel[run.Label]
		if g == nil {
			g = &Group{Label: run.Label}
			byLabel[run.Label] = g
			groups = append(groups, g)
		}
		g.Runs = append(g.Runs, run)
	}
	rank := func(l string) int {
		if i := slices.Index(LabelOrder, l); i >= 0 {
			return i
		}
		return len(LabelOrder)
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i].Label, groups[j].Label
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		return a < b
	})
	for _, g := range groups {
		g.summarize()
	}
	return groups
}

// Baseline is the group others are compared with: "none" if there is
// one, else the first; nil for no groups.
func Baseline(groups []*Group) *Group {
	for _, g := range groups {
		if g.Label == "none" {
			return g
		}
	}
	if len(groups) > 0 {
		return groups[0]
	}
	return nil
}

func (g *Group) summarize() {
	sort.Slice(g.Runs, func(i, j int) bool {
		if g.Runs[i].Seed != g.Runs[j].Seed {
			return g.Runs[i].Seed < g.Runs[j].Seed
		}
		return g.Runs[i].Dir < g.Runs[j].Dir
	})
	var va, ta, vp, tp, cpu, wall []float64
	seen := map[string]bool{}
	add := func(xs *[]float64, v float64) {
		if !math.IsNaN(v) {
			*xs = append(*xs, v)
		}
	}
	for _, r := range g.Runs {
		add(&va, r.ValAcc)
		add(&ta, r.TestAcc)
		add(&vp, r.ValPPL)
		add(&tp, r.TestPPL)
		add(&cpu, r.CPUS)
		add(&wall, r.WallS)
		g.LM = g.LM || r.LM
		g.CPUEstimated = g.CPUEstimated || r.CPUEstimated
		if !seen[r.Regularizer] {
			seen[r.Regularizer] = true
			g.Regularizers = append(g.Regularizers, r.Regularizer)
		}
	}
	g.ValAcc, g.TestAcc, g.ValPPL, g.TestPPL = Describe(va), Describe(ta), Describe(vp), Describe(tp)
	g.CPU, g.Wall = Describe(cpu), Describe(wall)
}

// droppedShares sets every trial's Dropped: the mean over its pattern's
// sites of the share of the site's map dropped (Pattern.KeptFraction, the
// same for every placement), at the maps of the search's task, which
// search.SiteMaps measures once per model and dataset. A search whose
// task is not a classifier on a dataset of known shape keeps NaN.
func droppedShares(ss []*Search) {
	maps := map[[3]string]map[string][2]int64{}
	for _, s := range ss {
		var c search.Config
		if len(s.Config) == 0 || json.Unmarshal(s.Config, &c) != nil {
			continue
		}
		t := c.WithDefaults().Task
		if t.Kind == "lm" {
			tokenShares(s, t)
			continue
		}
		if t.Kind != "classify" {
			continue
		}
		key := [3]string{t.Model, t.Data, fmt.Sprint(t.ImageSize)}
		m, ok := maps[key]
		if !ok {
			m, _ = search.SiteMaps(t) // nil when unknown
			maps[key] = m
		}
		if m == nil {
			continue
		}
		for i := range s.Trials {
			t := &s.Trials[i]
			var sum float64
			n := 0
			for _, sp := range t.Patterns {
				hw, ok := m[sp.Site]
				if !ok {
					continue
				}
				kept, err := sp.Pattern.KeptFraction(hw[0], hw[1])
				if err != nil {
					continue
				}
				sum += 1 - kept
				n++
			}
			if n > 0 && n == len(t.Patterns) {
				t.Dropped = sum / float64(n)
			}
		}
	}
}

// tokenShares sets a language-model search's SegmentLen from its task's
// recipe (configs.ReadFile: the repository's recipes are built in) and
// every trial's Dropped: the mean over its pattern entries of the share
// of a segment's tokens a "zero" pattern drops.
func tokenShares(s *Search, t search.Task) {
	recipe, err := train.ReadLMRecipe(t.LMConfig)
	if err != nil || recipe.Model.TgtLen < 1 {
		return
	}
	s.SegmentLen = int(recipe.Model.TgtLen)
	for i := range s.Trials {
		t := &s.Trials[i]
		if len(t.TPatterns) == 0 {
			continue
		}
		var sum float64
		for _, sp := range t.TPatterns {
			if sp.Pattern.Noise == "zero" {
				sum += sp.Pattern.SelectedShare(s.SegmentLen)
			}
		}
		t.Dropped = sum / float64(len(t.TPatterns))
	}
}
