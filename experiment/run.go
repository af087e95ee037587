package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

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

// GridOutcome is one grid training's validation accuracy (NaN: failed).
type GridOutcome struct {
	Family, Name string
	ValAcc       float64
}

// Run runs (or resumes) an experiment: its baseline grid, the baselines'
// final trainings, its searches (with the reward-noise stage after the
// searches it measures), the final trainings of their best patterns, and
// the report. Every training runs in a child
// process of s.Binary; a training with a result.json is not run again, and
// searches resume from their journals, so after an interruption the same
// call picks up where it stopped. A failed training is reported and
// counted, not fatal.
func Run(ctx context.Context, cfg Config, s Settings) (*Result, error) {
	if s.Binary == "" || s.Out == "" {
		return nil, fmt.Errorf("experiment: Settings.Binary and Settings.Out are required")
	}
	pr := s.Progress
	if pr == nil {
		pr = io.Discard
	}
	if err := cfg.CheckFiles(); err != nil {
		return nil, fmt.Errorf("experiment config: %w", err)
	}
	scfg, err := search.ReadConfig(cfg.Search)
	if err != nil {
		return nil, err
	}
	// Missing data fails here, not in every trial.
	if err := scfg.Task.CheckFiles(); err != nil {
		return nil, fmt.Errorf("config %s: task.%w", cfg.Search, err)
	}
	if err := cfg.Final.Task.CheckFiles(); err != nil {
		return nil, fmt.Errorf("experiment final.%w", err)
	}
	start := time.Now()
	res := &Result{}
	searches, err := cfg.allSearches(scfg)
	if err != nil {
		return nil, err
	}
	grid := cfg.gridRuns()
	noiseAfter, err := cfg.noiseAfter(searches, scfg)
	if err != nil {
		return nil, err
	}
	stages := 4
	if len(grid) > 0 {
		stages++
	}
	if noiseAfter >= 0 {
		stages++
	}
	prog := newProgress(cfg, scfg, searches, s.Out)
	stage := 0
	step := func(format string, a ...any) {
		stage++
		fmt.Fprintf(pr, "\n[%d/%d %s] %s\n", stage, stages, time.Since(start).Round(time.Second), fmt.Sprintf(format, a...))
		if l := prog.line(); l != "" {
			fmt.Fprintln(pr, l)
		}
	}

	// The grid first: it is cheap, and says early whether the regime is
	// one where a regularizer helps at all.
	f := cfg.Final
	threads := max(1, runtime.NumCPU()/cfg.Parallel)
	res.Tuned = map[string]trial.Regularizer{}
	if len(grid) > 0 {
		step("baseline grids: %d trainings of %s on %s without the test set, %d at a time", len(grid), f.Model, f.Data, cfg.Parallel)
		runs := cfg.gridTrainings(s.Out)
		done, failed := trainAll(ctx, pr, s.Binary, f, runs, cfg.Parallel, threads)
		res.Failed += failed
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("interrupted (%v) during the baseline grids: %d of %d grid trainings are done and kept in %s (those running start over); the baselines' final runs and the searches follow",
				err, done, len(runs), filepath.Join(s.Out, gridArea))
		}
		bestAcc := map[string]float64{}
		for i, g := range grid {
			acc := valAcc(runs[i].dir)
			res.Grid = append(res.Grid, GridOutcome{Family: g.family, Name: g.name, ValAcc: acc})
			if b, ok := bestAcc[g.family]; !math.IsNaN(acc) && (!ok || acc > b) {
				bestAcc[g.family] = acc
				res.Tuned[g.family] = g.reg
			}
		}
		for _, fam := range sortedKeys(res.Tuned) {
			fmt.Fprintf(pr, "tuned %s: %s (validation accuracy %.4f)\n", fam, strings.Join(res.Tuned[fam].Args(), " "), bestAcc[fam])
		}
	}

	// The baselines' final runs next: they need no search, and with the
	// grid they say whether a regularizer beats none at all.
	var base []trainRun
	for _, r := range cfg.baselines(res.Tuned) {
		base = append(base, finalRuns(s.Out, r.label, r.reg, f.Seeds)...)
	}
	res.Finals = len(base)
	step("final training of the baselines: %s on %s, %d regularizers × %d seeds, %d at a time -> %s",
		f.Model, f.Data, len(base)/len(f.Seeds), len(f.Seeds), cfg.Parallel, filepath.Join(s.Out, finalArea))
	done, failed := trainAll(ctx, pr, s.Binary, f, base, cfg.Parallel, threads)
	res.Failed += failed
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("interrupted (%v) during the baselines' final training: %d of %d are done and kept in %s (those running start over); the searches follow",
			err, done, len(base), filepath.Join(s.Out, finalArea))
	}

	step("%d searches of %d trials each: %s", len(searches), scfg.Budget, searchList(searches))
	best := map[string]SearchOutcome{}
	for i, sr := range searches {
		space, sites, err := search.SpaceFor(sr.Config)
		if err != nil {
			return res, fmt.Errorf("%s: %w", sr.Dir, err)
		}
		dir := filepath.Join(s.Out, sr.Dir)
		fmt.Fprintf(pr, "search %d/%d: %s (%s, seed %d) -> %s\n", i+1, len(searches), sr.Label, sr.Config.Method, sr.Config.Seed, dir)
		srch := &search.Search{Config: sr.Config, Sites: sites, Space: space, Out: dir, Progress: pr,
			Executor: &search.LocalExecutor{Binary: s.Binary, Timeout: sr.Config.Task.TimeoutDuration()}}
		sum, err := srch.Run(ctx)
		if err != nil {
			return res, fmt.Errorf("%s search %d of %d (%s): %w", sr.Config.Method, i+1, len(searches), dir, err)
		}
		o := SearchOutcome{Label: sr.Label, Dir: dir, Summary: sum}
		if tops, _ := filepath.Glob(filepath.Join(dir, "top", "01-*.json")); len(tops) > 0 {
			o.Best = tops[0]
		}
		fmt.Fprintf(pr, "done: %d trials (%d failed), best reward %.4f (trial %d), mean %.4f, CPU %.0fs\n",
			sum.Trials, sum.Failures, sum.BestReward, sum.BestTrial, sum.MeanReward, sum.CPUS)
		if l := prog.line(); l != "" {
			fmt.Fprintln(pr, l)
		}
		res.Searches = append(res.Searches, o)
		if b, ok := best[sr.Label]; o.Best != "" && (!ok || sum.BestReward > b.Summary.BestReward) {
			best[sr.Label] = o
		}
		if i == noiseAfter {
			var runs []trainRun
			for _, r := range cfg.noiseRuns(s.Out, scfg, searches[:i+1], res.Tuned) {
				if !r.pending { // a search with fewer finished trials than the stage's top
					runs = append(runs, r)
				}
			}
			step("reward noise: %d trainings at the searches' trial settings (%s on %s, validation only), %d at a time -> %s",
				len(runs), scfg.Task.Model, scfg.Task.Data, cfg.Parallel, filepath.Join(s.Out, NoiseDir))
			done, failed := trainAll(ctx, pr, s.Binary, FinalConfig{Task: scfg.Task}, runs, cfg.Parallel, threads)
			res.Failed += failed
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("interrupted (%v) during the reward-noise stage: %d of %d are done and kept in %s (those running start over); the other searches follow",
					err, done, len(runs), filepath.Join(s.Out, NoiseDir))
			}
			if i+1 < len(searches) {
				fmt.Fprintf(pr, "\nthe searches go on: %d of %d left\n", len(searches)-i-1, len(searches))
			}
		}
	}

	var runs []trainRun
	for _, label := range cfg.finalLabels() {
		if !strings.HasSuffix(label, "-best") {
			continue // a baseline, trained above
		}
		o, ok := best[label]
		if !ok {
			fmt.Fprintf(pr, "no trial of the %s searches finished; the final comparison leaves it out\n", label)
			continue
		}
		// The pattern comes from the search's own space, checked there.
		runs = append(runs, finalRuns(s.Out, label, trial.Regularizer{Pattern: o.Best, AllowOutsideSpace: true}, f.Seeds)...)
	}
	res.Finals += len(runs)
	step("final training of the searches' best patterns: %d × %d seeds, %d at a time -> %s",
		len(runs)/len(f.Seeds), len(f.Seeds), cfg.Parallel, filepath.Join(s.Out, finalArea))
	done, failed = trainAll(ctx, pr, s.Binary, f, runs, cfg.Parallel, threads)
	res.Failed += failed
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("interrupted (%v) during the final training of the patterns: the grid, the baselines' final runs and the searches are done and kept under %s, %d of %d pattern trainings are done and kept in %s (those running start over)",
			err, s.Out, done, len(runs), filepath.Join(s.Out, finalArea))
	}

	step("report")
	// Masks drawn at the input's size: the first sites of a model see it.
	opt := report.Options{}
	if in, _, ok := search.DatasetInput(scfg.Task.Data); ok {
		opt.MapH, opt.MapW = int(in.H), int(in.W)
	}
	if res.Report, err = report.Write(s.Out, opt); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	fmt.Fprintf(pr, "\nexperiment done in %s (%d trainings failed): report at %s\n", res.Elapsed.Round(time.Second), res.Failed, res.Report)
	return res, nil
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
// those whose result.json exists (a rerun resumes). It returns how many
// have a result (from before or now) and how many failed; a failure is
// reported and the others go on.
func trainAll(ctx context.Context, pr io.Writer, bin string, f FinalConfig, runs []trainRun, parallel, threads int) (done, failed int) {
	var mu sync.Mutex
	running := map[string]time.Time{}
	work := make(chan trainRun)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				name := fmt.Sprintf("%s seed %d", r.label, r.seed)
				msg := ""
				if _, err := os.Stat(filepath.Join(r.dir, "result.json")); err == nil {
					msg = "already done"
				} else {
					mu.Lock()
					running[name] = time.Now()
					mu.Unlock()
					err := trainOne(ctx, bin, f, r, threads)
					mu.Lock()
					delete(running, name)
					mu.Unlock()
					switch {
					case ctx.Err() != nil:
						continue
					case err != nil:
						msg = "FAILED: " + err.Error()
						mu.Lock()
						failed++
						mu.Unlock()
					default:
						msg = resultLine(r.dir)
					}
				}
				mu.Lock()
				done++
				fmt.Fprintf(pr, "training %d/%d  %-28s %s\n", done, len(runs), name, msg)
				mu.Unlock()
			}
		}()
	}
	// A line every half minute while runs are going, so a long stage never
	// looks stuck.
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	stopTick := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopTick:
				return
			case <-tick.C:
				mu.Lock()
				var parts []string
				for name, t := range running {
					parts = append(parts, fmt.Sprintf("%s (%s)", name, time.Since(t).Round(time.Second)))
				}
				sort.Strings(parts)
				if len(parts) > 0 {
					fmt.Fprintf(pr, "training %d/%d done, running: %s\n", done, len(runs), strings.Join(parts, ", "))
				}
				mu.Unlock()
			}
		}
	}()
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		work <- r
	}
	close(work)
	wg.Wait()
	close(stopTick)
	return done - failed, failed
}

// trainOne trains r in a child process of bin, built from its
// trial.Spec (the final task's with r's regularizer, seed and folder),
// its output in r.dir/output.log.
func trainOne(ctx context.Context, bin string, f FinalConfig, r trainRun, threads int) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	spec := f.Task.Spec()
	spec.Regularizer, spec.SkipTest = r.reg, r.skipTest
	// A line a minute in output.log: the dashboard sees the run is alive.
	spec.Seed, spec.Threads, spec.Every, spec.Out = r.seed, threads, time.Minute, r.dir
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

// valAcc is a result.json's validation accuracy, NaN when it has none.
func valAcc(dir string) float64 {
	r, err := trial.ReadResult(dir)
	if err != nil || r.ValAcc == nil {
		return nan
	}
	return *r.ValAcc
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
	}
	return "no scores in " + filepath.Join(dir, trial.ResultFile)
}
