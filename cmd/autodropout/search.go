package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/search"
)

// datasetShapes are the input shapes and class counts used to list a
// model's dropout sites without loading data.
var datasetShapes = map[string]struct {
	in      nn.Input
	classes int64
}{
	"fashion-mnist": {nn.Input{C: 1, H: 28, W: 28}, 10},
	"mnist":         {nn.Input{C: 1, H: 28, W: 28}, 10},
	"cifar10":       {nn.Input{C: 3, H: 32, W: 32}, 10},
	"cifar100":      {nn.Input{C: 3, H: 32, W: 32}, 100},
	"imagenet":      {nn.Input{C: 3, H: 224, W: 224}, 1000},
}

func runSearch(args []string) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "search configuration JSON (see configs/search-fashion-mnist-tiny.json)")
	out := fs.String("out", "", "output folder: journal.jsonl, controller.json, trials/, top/, summary.json; rerun to resume")
	dry := fs.Bool("dry-run", false, "print the resolved configuration and dropout sites; run nothing")
	force := fs.Bool("force-config", false, "resume a folder started with a different configuration")
	method := fs.String("method", "", "override the config's method: rl or random")
	binary := fs.String("binary", "", "autodropout binary that trains each trial (default: this one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || (*out == "" && !*dry) {
		return fmt.Errorf("need --config FILE and --out DIR")
	}
	cfg, err := search.ReadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *method != "" {
		cfg.Method = *method
		if err := cfg.Check(); err != nil {
			return err
		}
	}
	space := autodropout.DefaultSearchSpace()
	if cfg.SearchSpace != "" {
		if space, err = autodropout.LoadSearchSpace(cfg.SearchSpace); err != nil {
			return err
		}
	}
	sites, err := resolveSites(cfg.Task)
	if err != nil {
		return err
	}
	if *dry {
		b, _ := json.MarshalIndent(cfg, "", "  ")
		fmt.Printf("config:\n%s\nsites (%d): %v\n", b, len(sites), sites)
		return nil
	}
	bin := *binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("find own binary: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &search.Search{Config: cfg, Sites: sites, Space: space, Out: *out, Progress: os.Stdout, ForceConfig: *force,
		Executor: &search.LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("done: %d trials (%d failed), best reward %.4f (trial %d), mean %.4f, CPU %.0fs; see %s/summary.json and %s/top/\n",
		sum.Trials, sum.Failures, sum.BestReward, sum.BestTrial, sum.MeanReward, sum.CPUS, *out, *out)
	return nil
}

// resolveSites lists the task's sites: the config's list, checked against
// the model, or the model's sites matching the regular expression.
func resolveSites(t search.Task) ([]string, error) {
	shape, ok := datasetShapes[t.Data]
	if !ok {
		return nil, fmt.Errorf("dataset %q unknown", t.Data)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.New(t.Model, vs.Root(), shape.in, shape.classes)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", t.Model, err)
	}
	names := m.Sites().Names()
	if len(t.Sites) > 0 {
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		for _, s := range t.Sites {
			if !have[s] {
				return nil, fmt.Errorf("model %s has no dropout site %q (sites: %v)", t.Model, s, names)
			}
		}
		return t.Sites, nil
	}
	re, err := regexp.Compile(t.SitesRegexp)
	if err != nil {
		return nil, fmt.Errorf("task.sites_regexp: %w", err)
	}
	var sites []string
	for _, n := range names {
		if re.MatchString(n) {
			sites = append(sites, n)
		}
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("no site of model %s matches %q (sites: %v)", t.Model, t.SitesRegexp, names)
	}
	return sites, nil
}
