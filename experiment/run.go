package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

// Settings say where an experiment runs and where it reports.
type Settings struct {
	Out      string    // output folder; a second Run resumes
	Binary   string    // the autodropout binary that trains each model (required)
	Progress io.Writer // progress lines (nil: none)
}

// Result is what an experiment did.
type Result struct {
	Searches []SearchOutcome
	Grid     []GridOutcome
	Tuned    map[string]trial.Regularizer // baseline family → the setting the grid chose
	Finals   int                          // final trainings
	Failed   int                          // grid, reward-noise or final trainings that failed
	Report   string                       // path of report.md
	Elapsed  time.Duration
}

// SearchOutcome is one search's summary.
type SearchOutcome struct {
	Label, Dir string
	Summary    search.Summary
	Best       string // pattern file of its best trial ("" when none finished)
}

// GridOutcome is one grid training's validation score: accuracy, or
// perplexity for a language model (NaN: failed or absent).
type GridOutcome struct {
	Family, Name string
	ValAcc       float64
	ValPPL       float64
}

// Run runs (or resumes) an experiment: its baseline grid, the baselines'
// final trainings, its searches (with the reward-noise stage after the
// searches it measures), the final trainings of their best patterns, and
// the report. Every training runs in a child
// process of s.Binary; a training with a result.json is not run again, and
// searches resume from their journals, so after an interruption the same
// call picks up where it stopped. A failed training is reported and
// counted, not fatal. Run holds a lock on s.Out (the file .lock in it)
// while it runs: a second experiment on the folder is refused with an
// error naming the process that holds it (search.ErrInUse); the kernel
// drops the lock when its process dies.
func Run(ctx context.Context, cfg Config, s Settings) (*Result, error) {
	x, err := prepare(cfg, s)
	if err != nil {
		return nil, err
	}
	unlock, err := lockOut(ctx, s)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The grid first: it is cheap, and says early whether the regime is
	// one where a regularizer helps at all. The baselines' final runs
	// next: they need no search, and with the grid they say whether a
	// regularizer beats none at all.
	for _, stage := range []func(context.Context) error{x.grid, x.baselines, x.searches, x.patterns, x.writeReport} {
		if err := stage(ctx); err != nil {
			return x.res, err
		}
	}
	x.res.Elapsed = time.Since(x.start)
	fmt.Fprintf(x.pr, "\nexperiment done in %s (%d trainings failed): report at %s\n", x.res.Elapsed.Round(time.Second), x.res.Failed, x.res.Report)
	return x.res, nil
}

// experiment is one call of Run: what its stages share.
type experiment struct {
	cfg        Config
	scfg       search.Config // the search configuration file's
	s          Settings
	pr         io.Writer
	res        *Result
	start      time.Time
	searchRuns []searchRun
	gridRuns   []gridRun
	noiseAfter int // index of the search the reward-noise stage follows; -1: none
	prog       *progress
	stages     int // stages in all, for the progress lines
	stage      int // stages begun
	threads    int // per training
	best       map[string]SearchOutcome
}

// prepare checks the configuration and every file it names, so that
// missing data fails here and not in every trial, and plans the stages.
func prepare(cfg Config, s Settings) (*experiment, error) {
	if s.Binary == "" || s.Out == "" {
		return nil, fmt.Errorf("experiment: Settings.Binary and Settings.Out are required")
	}
	stages := 4 // baselines, searches, their patterns, report
	if cfg.Search == "" {
		stages = 2
	}
	x := &experiment{cfg: cfg, s: s, pr: s.Progress, start: time.Now(), stages: stages,
		res: &Result{Tuned: map[string]trial.Regularizer{}}, best: map[string]SearchOutcome{},
		threads: max(1, runtime.NumCPU()/cfg.Parallel)}
	if x.pr == nil {
		x.pr = io.Discard
	}
	if err := cfg.CheckFiles(); err != nil {
		return nil, fmt.Errorf("experiment config: %w", err)
	}
	var err error
	if x.scfg, err = cfg.SearchConfig(); err != nil {
		return nil, err
	}
	if err := x.scfg.Task.CheckFiles(); err != nil {
		return nil, fmt.Errorf("config %s: task.%w", cfg.Search, err)
	}
	if err := cfg.Final.Task.CheckFiles(); err != nil {
		return nil, fmt.Errorf("experiment final.%w", err)
	}
	if x.searchRuns, err = cfg.allSearches(x.scfg); err != nil {
		return nil, err
	}
	x.gridRuns = cfg.gridRuns()
	if x.noiseAfter, err = cfg.noiseAfter(x.searchRuns, x.scfg); err != nil {
		return nil, err
	}
	if len(x.gridRuns) > 0 {
		x.stages++
	}
	if x.noiseAfter >= 0 {
		x.stages++
	}
	x.prog = newProgress(cfg, x.scfg, x.searchRuns, s.Out)
	return x, nil
}

// step begins the next stage: a numbered heading and the progress line.
func (x *experiment) step(format string, a ...any) {
	x.stage++
	fmt.Fprintf(x.pr, "\n[%d/%d %s] %s\n", x.stage, x.stages, time.Since(x.start).Round(time.Second), fmt.Sprintf(format, a...))
	x.progressLine()
}

func (x *experiment) progressLine() {
	if l := x.prog.line(); l != "" {
		fmt.Fprintln(x.pr, l)
	}
}

// train runs a stage's trainings (trainAll) with f's task and counts the
// failures. After an interruption its error says how many of the runs
// (what they are) are kept where, during which stage, and what follows.
func (x *experiment) train(ctx context.Context, f FinalConfig, runs []trainRun, during, what, where, follows string) error {
	if err := checkAllDone(f, runs, where); err != nil {
		return err
	}
	done, failed := trainAll(ctx, x.pr, x.s.Binary, f, runs, x.cfg.Parallel, x.threads, x.progressLine)
	x.res.Failed += failed
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted (%v) during %s: %d of %d%s are done and kept in %s (those running start over); %s",
			err, during, done, len(runs), what, where, follows)
	}
	return nil
}

// grid trains the baseline grid (validation only) and tunes each family
// to its best grid point.
func (x *experiment) grid(ctx context.Context) error {
	if len(x.gridRuns) == 0 {
		return nil
	}
	f, out := x.cfg.Final, x.s.Out
	x.step("baseline grids: %d trainings of %s on %s without the test set, %d at a time", len(x.gridRuns), f.Model, f.Data, x.cfg.Parallel)
	runs := x.cfg.gridTrainings(out)
	if err := x.train(ctx, f, runs, "the baseline grids", " grid trainings", filepath.Join(out, gridArea), "the baselines' final runs and the searches follow"); err != nil {
		return err
	}
	lm := f.Kind == "lm"
	best := map[string]float64{}
	for i, g := range x.gridRuns {
		o := GridOutcome{Family: g.family, Name: g.name, ValAcc: nan, ValPPL: nan}
		if r, err := trial.ReadResult(runs[i].dir); err == nil {
			o.ValAcc, o.ValPPL = deref(r.ValAcc), deref(r.ValPPL)
		}
		x.res.Grid = append(x.res.Grid, o)
		v := o.ValAcc // higher is better
		if lm {
			v = -o.ValPPL
		}
		if b, ok := best[g.family]; !math.IsNaN(v) && (!ok || v > b) {
			best[g.family] = v
			x.res.Tuned[g.family] = g.reg
		}
	}
	for _, fam := range sortedKeys(x.res.Tuned) {
		score := fmt.Sprintf("validation accuracy %.4f", best[fam])
		if lm {
			score = fmt.Sprintf("validation perplexity %.2f", -best[fam])
		}
		fmt.Fprintf(x.pr, "tuned %s: %s (%s)\n", fam, strings.Join(x.res.Tuned[fam].Args(), " "), score)
	}
	return nil
}

// baselines trains the baselines (tuned by the grid) with the final seeds.
func (x *experiment) baselines(ctx context.Context) error {
	f, out := x.cfg.Final, x.s.Out
	var base []trainRun
	for _, r := range x.cfg.baselines(x.res.Tuned) {
		runs := finalRuns(out, r.label, r.reg, f.Seeds)
		for i := range runs {
			runs[i].supervised = r.supervised
		}
		base = append(base, runs...)
	}
	seedMajor(base, f.Seeds)
	x.res.Finals = len(base)
	x.step("final training of the baselines: %s on %s, %d regularizers × %d seeds, %d at a time -> %s",
		f.Model, f.Data, len(base)/len(f.Seeds), len(f.Seeds), x.cfg.Parallel, filepath.Join(out, finalArea))
	return x.train(ctx, f, base, "the baselines' final training", "", filepath.Join(out, finalArea), "the searches follow")
}

// seedMajor orders runs seed by seed (every label's seed 1 first), so
// that an experiment stopped part-way has whole seeds of every label to
// pair, not all seeds of the first labels.
func seedMajor(runs []trainRun, seeds []int64) {
	rank := map[int64]int{}
	for i, s := range seeds {
		rank[s] = i
	}
	slices.SortStableFunc(runs, func(a, b trainRun) int { return rank[a.seed] - rank[b.seed] })
}

// searches runs (or resumes) every search, keeps the best of each label,
// and runs the reward-noise stage after the search it follows.
func (x *experiment) searches(ctx context.Context) error {
	if len(x.searchRuns) == 0 {
		return nil
	}
	x.step("%d searches of %d trials each: %s", len(x.searchRuns), x.scfg.Budget, searchList(x.searchRuns))
	for i, sr := range x.searchRuns {
		o, err := x.runSearch(ctx, i, sr)
		if err != nil {
			return err
		}
		x.res.Searches = append(x.res.Searches, o)
		if b, ok := x.best[sr.Label]; o.Best != "" && (!ok || o.Summary.BestReward > b.Summary.BestReward) {
			x.best[sr.Label] = o
		}
		if i != x.noiseAfter {
			continue
		}
		if err := x.noise(ctx, i); err != nil {
			return err
		}
		if i+1 < len(x.searchRuns) {
			fmt.Fprintf(x.pr, "\nthe searches go on: %d of %d left\n", len(x.searchRuns)-i-1, len(x.searchRuns))
		}
	}
	return nil
}

// runSearch runs (or resumes) search i, sr.
func (x *experiment) runSearch(ctx context.Context, i int, sr searchRun) (SearchOutcome, error) {
	space, sites, err := search.SpaceFor(sr.Config)
	if err != nil {
		return SearchOutcome{}, fmt.Errorf("%s: %w", sr.Dir, err)
	}
	dir := filepath.Join(x.s.Out, sr.Dir)
	n := len(x.searchRuns)
	fmt.Fprintf(x.pr, "search %d/%d: %s (%s, seed %d) -> %s\n", i+1, n, sr.Label, sr.Config.Method, sr.Config.Seed, dir)
	srch := &search.Search{Config: sr.Config, Sites: sites, Space: space, Out: dir, Progress: x.pr,
		Executor: &search.LocalExecutor{Binary: x.s.Binary, Timeout: sr.Config.Task.TimeoutDuration()}}
	sum, err := srch.Run(ctx)
	if err != nil {
		return SearchOutcome{}, fmt.Errorf("%s search %d of %d (%s): %w", sr.Config.Method, i+1, n, dir, err)
	}
	o := SearchOutcome{Label: sr.Label, Dir: dir, Summary: sum}
	if tops, _ := filepath.Glob(filepath.Join(dir, "top", "01-*.json")); len(tops) > 0 {
		o.Best = tops[0]
	}
	fmt.Fprintf(x.pr, "done: %d trials (%d failed), best reward %.4f (trial %d), mean %.4f, CPU %.0fs\n",
		sum.Trials, sum.Failures, sum.BestReward, sum.BestTrial, sum.MeanReward, sum.CPUS)
	x.progressLine()
	return o, nil
}

// noise runs the reward-noise stage after searches [0, i]: baselines and
// the searches' patterns retrained at the trials' settings.
func (x *experiment) noise(ctx context.Context, i int) error {
	var runs []trainRun
	for _, r := range x.cfg.noiseRuns(x.s.Out, x.scfg, x.searchRuns[:i+1], x.res.Tuned) {
		if !r.pending { // a search with fewer finished trials than the stage's top
			runs = append(runs, r)
		}
	}
	where := filepath.Join(x.s.Out, NoiseDir)
	x.step("reward noise: %d trainings at the searches' trial settings (%s on %s, validation only), %d at a time -> %s",
		len(runs), x.scfg.Task.Model, x.scfg.Task.Data, x.cfg.Parallel, where)
	return x.train(ctx, FinalConfig{Task: x.scfg.Task}, runs, "the reward-noise stage", "", where, "the other searches follow")
}

// patterns trains the best pattern of each searched label with the final
// seeds.
func (x *experiment) patterns(ctx context.Context) error {
	if len(x.searchRuns) == 0 {
		return nil
	}
	f := x.cfg.Final
	var runs []trainRun
	for _, label := range x.cfg.finalLabels() {
		if !strings.HasSuffix(label, "-best") {
			continue // a baseline, trained above
		}
		o, ok := x.best[label]
		if !ok {
			fmt.Fprintf(x.pr, "no trial of the %s searches finished; the final comparison leaves it out\n", label)
			continue
		}
		// The pattern comes from the search's own space, checked there.
		runs = append(runs, finalRuns(x.s.Out, label, trial.Regularizer{Pattern: o.Best, AllowOutsideSpace: true}, f.Seeds)...)
	}
	x.res.Finals += len(runs)
	where := filepath.Join(x.s.Out, finalArea)
	x.step("final training of the searches' best patterns: %d × %d seeds, %d at a time -> %s",
		len(runs)/len(f.Seeds), len(f.Seeds), x.cfg.Parallel, where)
	if err := checkAllDone(f, runs, where); err != nil {
		return err
	}
	done, failed := trainAll(ctx, x.pr, x.s.Binary, f, runs, x.cfg.Parallel, x.threads, x.progressLine)
	x.res.Failed += failed
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted (%v) during the final training of the patterns: the grid, the baselines' final runs and the searches are done and kept under %s, %d of %d pattern trainings are done and kept in %s (those running start over)",
			err, x.s.Out, done, len(runs), where)
	}
	return nil
}

// writeReport writes the experiment's report, masks drawn at the input's
// size: the first sites of a model see it.
func (x *experiment) writeReport(context.Context) error {
	x.step("report")
	opt := report.Options{}
	if in, _, ok := search.DatasetInput(x.scfg.Task.Data); ok {
		opt.MapH, opt.MapW = int(in.H), int(in.W)
	}
	var err error
	x.res.Report, err = report.Write(x.s.Out, opt)
	return err
}

// lockOut makes the output folder and takes its lock for the rest of Run
// (a second experiment on it is refused with an error naming the holder,
// wrapping search.ErrInUse; its searches and trainings lock their own
// subfolders), then checks that s.Binary is autodropout
// (search.CheckBinary), before anything runs.
func lockOut(ctx context.Context, s Settings) (unlock func(), err error) {
	if err := search.Probed(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return nil, err
	}
	l, err := runlock.Acquire(s.Out)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if err := search.CheckBinary(ctx, s.Binary); err != nil {
		l.Release()
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return func() { l.Release() }, nil
}

func searchList(rs []searchRun) string {
	labels := make([]string, len(rs))
	for i, r := range rs {
		labels[i] = strings.TrimSuffix(r.Label, "-best")
	}
	return tally(labels)
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// trainAll runs trainings, parallel at a time with threads each, skipping
// those whose result.json exists (a rerun resumes), and calls finished
// (nil: nothing) after each training it ran. It returns how many have a
// result (from before or now) and how many failed; a failure is reported
// and the others go on.
func trainAll(ctx context.Context, pr io.Writer, bin string, f FinalConfig, runs []trainRun, parallel, threads int, finished func()) (done, failed int) {
	p := &trainPool{pr: pr, total: len(runs), running: map[string]time.Time{}}
	work := make(chan trainRun)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				p.train(ctx, r, func() error { return trainOne(ctx, bin, f, r, threads) }, finished)
			}
		}()
	}
	// A line every half minute while runs are going, so a long stage never
	// looks stuck.
	stopTick := everyHalfMinute(p.runningLine)
	defer stopTick()
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		work <- r
	}
	close(work)
	wg.Wait()
	return p.done - p.failed, p.failed
}

// trainPool is trainAll's account: what runs since when, what is done
// and what failed, and where it says so.
type trainPool struct {
	pr           io.Writer
	total        int
	mu           sync.Mutex
	running      map[string]time.Time
	done, failed int
}

// train runs r with run unless its result exists, then prints its line
// and calls finished (when set, and r ran). An interrupted run (ctx done)
// is not counted.
func (p *trainPool) train(ctx context.Context, r trainRun, run func() error, finished func()) {
	name := fmt.Sprintf("%s seed %d", r.label, r.seed)
	msg, ran, failed := "already done", false, false
	if _, err := os.Stat(filepath.Join(r.dir, "result.json")); err != nil {
		p.mu.Lock()
		p.running[name] = time.Now()
		p.mu.Unlock()
		err := run()
		p.mu.Lock()
		delete(p.running, name)
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		ran, failed, msg = true, err != nil, "FAILED: "+fmt.Sprint(err)
		if !failed {
			msg = resultLine(r.dir)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failed {
		p.failed++
	}
	fmt.Fprintf(p.pr, "training %d/%d  %-28s %s\n", p.done, p.total, name, msg)
	if finished != nil && ran {
		finished()
	}
}

// runningLine says what runs and for how long, if anything does.
func (p *trainPool) runningLine() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for name, t := range p.running {
		parts = append(parts, fmt.Sprintf("%s (%s)", name, time.Since(t).Round(time.Second)))
	}
	sort.Strings(parts)
	if len(parts) > 0 {
		fmt.Fprintf(p.pr, "training %d/%d done, running: %s\n", p.done, p.total, strings.Join(parts, ", "))
	}
}

// everyHalfMinute calls f every 30 seconds until the returned stop is
// called.
func everyHalfMinute(f func()) (stop func()) {
	tick := time.NewTicker(30 * time.Second)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				f()
			}
		}
	}()
	return func() {
		tick.Stop()
		close(done)
	}
}

// trainOne trains r in a child process of bin, built from its
// trial.Spec (the final task's with r's regularizer, seed and folder),
// its output in r.dir/output.log.
func trainOne(ctx context.Context, bin string, f FinalConfig, r trainRun, threads int) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	spec := trainSpec(f, r)
	if err := writeSpec(r.dir, spec); err != nil {
		return err
	}
	// A line a minute in output.log: the dashboard sees the run is alive.
	spec.Threads, spec.Every, spec.Out = threads, time.Minute, r.dir
	log, err := os.Create(filepath.Join(r.dir, "output.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := trial.Command(ctx, bin, spec)
	cmd.Stdout, cmd.Stderr = log, log
	if err := search.RunChild(cmd); err != nil {
		return fmt.Errorf("%v (see %s)", err, log.Name())
	}
	return nil
}

// deref is *v, NaN for nil.
func deref(v *float64) float64 {
	if v == nil {
		return nan
	}
	return *v
}

var nan = math.NaN()

// resultLine summarises a training's result.json for the progress output.
func resultLine(dir string) string {
	r, err := trial.ReadResult(dir)
	var wall float64 // 0 when absent, as before
	if r.WallS != nil {
		wall = *r.WallS
	}
	switch {
	case err != nil:
		return err.Error()
	case r.ValAcc != nil && r.TestAcc != nil:
		return fmt.Sprintf("val acc %.4f  test acc %.4f  %.0fs", *r.ValAcc, *r.TestAcc, wall)
	case r.ValAcc != nil:
		return fmt.Sprintf("val acc %.4f  %.0fs", *r.ValAcc, wall)
	case r.ValPPL != nil && r.TestPPL != nil:
		return fmt.Sprintf("val ppl %.2f  test ppl %.2f  %.0fs", *r.ValPPL, *r.TestPPL, wall)
	case r.ValPPL != nil: // a language model's grid or reward-noise run
		return fmt.Sprintf("val ppl %.2f  %.0fs", *r.ValPPL, wall)
	}
	return "no scores in " + filepath.Join(dir, trial.ResultFile)
}
