package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/search"
)

// ExperimentConfig is an experiment (configs/demo.json, configs/paper/):
// a search run twice, with the controller and at random on the same
// budget, then a final training of the target model with every
// regularizer over several seeds.
type ExperimentConfig struct {
	Source   string      `json:"source,omitempty"` // where the values come from
	Search   string      `json:"search"`           // search configuration file (its method is overridden)
	Final    FinalConfig `json:"final"`
	Parallel int         `json:"parallel"` // final trainings at once (default 1); cores are divided among them
}

// FinalConfig is the training the regularizers are compared on: the flags
// of `autodropout train` (as in a search task, with their defaults), the
// seeds, and the baselines' settings.
type FinalConfig struct {
	search.Task
	Seeds     []int64 `json:"seeds"`
	DropRate  float64 `json:"drop_rate,omitempty"`  // classify: Dropout and DropBlock (LM baselines use the recipe's rates)
	BlockSize int     `json:"block_size,omitempty"` // classify: DropBlock
}

// readExperimentConfig reads and checks an experiment configuration.
func readExperimentConfig(path string) (ExperimentConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ExperimentConfig{}, fmt.Errorf("read experiment config: %w", err)
	}
	c, err := parseExperimentConfig(b)
	if err != nil {
		return c, fmt.Errorf("experiment config %s: %w", path, err)
	}
	return c, nil
}

// parseExperimentConfig decodes an experiment configuration strictly,
// fills the defaults and checks every field, naming the first bad one.
// The search configuration it names is read by the caller.
func parseExperimentConfig(b []byte) (ExperimentConfig, error) {
	var c ExperimentConfig
	if err := search.DecodeStrict(b, &c); err != nil {
		return c, err
	}
	if c.Parallel < 0 {
		return c, fmt.Errorf("parallel %d: want 1 or more (0: 1)", c.Parallel)
	}
	c.Parallel = max(c.Parallel, 1)
	c.Final.Task = search.Config{Task: c.Final.Task}.WithDefaults().Task
	f := c.Final
	seen := map[int64]bool{}
	for _, s := range f.Seeds {
		if seen[s] {
			return c, fmt.Errorf("final.seeds: seed %d listed twice", s)
		}
		seen[s] = true
	}
	switch {
	case c.Search == "":
		return c, fmt.Errorf("search: want a search configuration file")
	case len(f.Seeds) == 0:
		return c, fmt.Errorf("final.seeds: want at least one seed")
	case f.Kind == "lm" && f.DropRate != 0:
		return c, fmt.Errorf("final.drop_rate: not used by lm tasks (the recipe sets the baselines' rates)")
	case f.Kind == "lm" && f.BlockSize != 0:
		return c, fmt.Errorf("final.block_size: not used by lm tasks")
	case f.Kind != "lm" && !(f.DropRate > 0 && f.DropRate < 1):
		return c, fmt.Errorf("final.drop_rate %v: want (0, 1)", f.DropRate)
	case f.Kind != "lm" && f.BlockSize < 1:
		return c, fmt.Errorf("final.block_size %d: want at least 1", f.BlockSize)
	}
	if err := f.Task.Check(); err != nil {
		return c, fmt.Errorf("final.%w", err)
	}
	return c, nil
}

// finalRun is one retraining: a regularizer (label) and a seed.
type finalRun struct {
	label string
	seed  int64
	args  []string // regularizer flags
	dir   string
}

func runExperiment(args []string) error {
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	cfgPath := fs.String("config", "configs/demo.json", "experiment configuration JSON (configs/demo.json, configs/paper/*)")
	dry := fs.Bool("dry-run", false, "check the configuration and print the plan and an estimate of its cost; run nothing")
	tflops := fs.Float64("tflops", DefaultTFLOPS, "dry run: sustained TFLOP/s of one accelerator, to turn FLOPs into hours")
	out := fs.String("out", "runs/demo", "output folder; rerun to resume")
	binary := fs.String("binary", "", "autodropout binary that trains each model (default: this one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := readExperimentConfig(*cfgPath)
	if err != nil {
		return err
	}
	scfg, err := search.ReadConfig(cfg.Search)
	if err != nil {
		return err
	}
	space, sites, err := searchSpace(scfg)
	if err != nil {
		return fmt.Errorf("config %s: %w", cfg.Search, err)
	}
	if *dry {
		return printExperimentPlan(os.Stdout, cfg, scfg, sites, *tflops)
	}
	if err := scfg.Task.CheckFiles(); err != nil {
		return fmt.Errorf("config %s: task.%w", cfg.Search, err)
	}
	if err := cfg.Final.Task.CheckFiles(); err != nil {
		return fmt.Errorf("experiment config %s: final.%w", *cfgPath, err)
	}
	bin, err := trainerBinary(*binary)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	t := scfg.Task
	step := func(n int, format string, a ...any) {
		fmt.Printf("\n[%d/4 %s] %s\n", n, time.Since(start).Round(time.Second), fmt.Sprintf(format, a...))
	}

	best := map[string]string{}
	for i, m := range []struct{ method, label, name string }{
		{"rl", "autodropout-best", "AutoDropout search (controller, REINFORCE)"},
		{"random", "random-best", "random search, same budget"},
	} {
		dir := filepath.Join(*out, "search-"+m.method)
		step(i+1, "%s: %d trials of %s on %s, %d at a time -> %s", m.name, scfg.Budget, t.Model, t.Data, scfg.Parallel, dir)
		c := scfg
		c.Method = m.method
		s := &search.Search{Config: c, Sites: sites, Space: space, Out: dir, Progress: os.Stdout,
			Executor: &search.LocalExecutor{Binary: bin, Timeout: c.Task.TimeoutDuration()}}
		if _, err := searchTo(ctx, s); err != nil {
			return fmt.Errorf("%s search: %w", m.method, err)
		}
		tops, _ := filepath.Glob(filepath.Join(dir, "top", "01-*.json"))
		if len(tops) == 0 {
			fmt.Printf("no trial of the %s search finished; the final comparison leaves it out\n", m.method)
			continue
		}
		best[m.label] = tops[0]
	}

	f := cfg.Final
	regs := baselines(f)
	var runs []finalRun
	for _, r := range regs {
		a := r.args
		if a == nil {
			p, ok := best[r.label]
			if !ok {
				continue
			}
			a = []string{"--pattern", p}
		}
		for _, s := range f.Seeds {
			runs = append(runs, finalRun{label: r.label, seed: s, args: a,
				dir: filepath.Join(*out, "final", r.label, fmt.Sprintf("seed-%d", s))})
		}
	}
	step(3, "final training: %s on %s, %d regularizers × %d seeds, %d at a time -> %s",
		f.Model, f.Data, len(runs)/len(f.Seeds), len(f.Seeds), cfg.Parallel, filepath.Join(*out, "final"))
	done, failed := trainAll(ctx, bin, f, runs, cfg.Parallel)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted during the final training: both searches are done and kept in %s and %s, %d of %d final trainings are done and kept in %s (those running start over); %s",
			filepath.Join(*out, "search-rl"), filepath.Join(*out, "search-random"), done, len(runs), filepath.Join(*out, "final"), rerunHint())
	}

	step(4, "report")
	// Masks drawn at the input's size: the first sites of a model see it.
	opt := report.Options{}
	if shape, ok := datasetShapes[t.Data]; ok {
		opt.MapH, opt.MapW = int(shape.in.H), int(shape.in.W)
	}
	path, err := report.Write(*out, opt)
	if err != nil {
		return err
	}
	fmt.Printf("\nexperiment done in %s (%d final trainings failed): report at %s\n", time.Since(start).Round(time.Second), failed, path)
	return nil
}

// trainAll runs the final trainings, parallel at a time with the cores
// divided among them, skipping those whose result.json exists (a rerun
// resumes). It returns how many have a result (done before or now) and
// how many failed; a failure is reported and the others go on.
func trainAll(ctx context.Context, bin string, f FinalConfig, runs []finalRun, parallel int) (int, int) {
	threads := max(1, runtime.NumCPU()/parallel)
	var mu sync.Mutex
	done, failed := 0, 0
	running := map[string]time.Time{}
	work := make(chan finalRun)
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
						msg = resultLine(filepath.Join(r.dir, "result.json"))
					}
				}
				mu.Lock()
				done++
				fmt.Printf("final %d/%d  %-28s %s\n", done, len(runs), name, msg)
				mu.Unlock()
			}
		}()
	}
	// A line every half minute while runs are going, so a long final stage
	// never looks stuck.
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
					fmt.Printf("final %d/%d done, running: %s\n", done, len(runs), strings.Join(parts, ", "))
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

type regularizer struct {
	label string
	args  []string // nil: the best pattern of the search of that label
}

// baselines lists the final comparison: hand-designed regularizers, then
// the best patterns of random search and of the controller.
func baselines(f FinalConfig) []regularizer {
	if f.Kind == "lm" {
		return []regularizer{
			{"none", []string{"--regularizer", "none"}},
			{"dropout", []string{"--regularizer", "dropout"}},
			{"variational", []string{"--regularizer", "variational"}},
			{"random-best", nil}, {"autodropout-best", nil},
		}
	}
	rate, block := strconv.FormatFloat(f.DropRate, 'g', -1, 64), strconv.Itoa(f.BlockSize)
	return []regularizer{
		{"none", []string{"--regularizer", "none"}},
		{"dropout", []string{"--regularizer", "dropout", "--drop-rate", rate}},
		{"dropblock", []string{"--regularizer", "dropblock", "--drop-rate", rate, "--block-size", block}},
		{"random-best", nil}, {"autodropout-best", nil},
	}
}

// trainOne runs `autodropout train` for r, its output in r.dir/output.log.
func trainOne(ctx context.Context, bin string, f FinalConfig, r finalRun, threads int) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	args := append([]string{"train"}, f.Args()...)
	args = append(args, "--seed", strconv.FormatInt(r.seed, 10), "--threads", strconv.Itoa(threads),
		"--progress", "1h", "--out", r.dir)
	args = append(args, r.args...)
	log, err := os.Create(filepath.Join(r.dir, "output.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := search.RunChild(cmd); err != nil {
		return fmt.Errorf("%v (see %s)", err, log.Name())
	}
	return nil
}

// resultLine summarises a result.json for the progress output.
func resultLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var r struct {
		ValAcc  *float64 `json:"val_acc"`
		TestAcc *float64 `json:"test_acc"`
		ValPPL  *float64 `json:"val_ppl"`
		TestPPL *float64 `json:"test_ppl"`
		WallS   float64  `json:"wall_s"`
	}
	switch err := json.Unmarshal(b, &r); {
	case err != nil:
		return fmt.Sprintf("%s: %v", path, err)
	case r.ValAcc != nil && r.TestAcc != nil:
		return fmt.Sprintf("val acc %.4f  test acc %.4f  %.0fs", *r.ValAcc, *r.TestAcc, r.WallS)
	case r.ValPPL != nil && r.TestPPL != nil:
		return fmt.Sprintf("val ppl %.2f  test ppl %.2f  %.0fs", *r.ValPPL, *r.TestPPL, r.WallS)
	}
	return "no scores in " + path
}
