package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
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
	dry := fs.Bool("dry-run", false, "check the configuration, print it, the dropout sites and an estimate of the cost; run nothing")
	tflops := fs.Float64("tflops", DefaultTFLOPS, "dry run: sustained TFLOP/s of one accelerator, to turn FLOPs into hours")
	force := fs.Bool("force-config", false, "resume a folder started with a different configuration")
	method := fs.String("method", "", "override the config's method: rl or random")
	binary := fs.String("binary", "", "autodropout binary that trains each trial (default: this one)")
	natsURL := fs.String("nats", "", "run trials on `autodropout worker` processes through this NATS JetStream server (nats://[user:pass@]host:4222), keeping the journal and checkpoint there")
	run := fs.String("run", "", "with --nats: the run's name, shared with its workers (default \"default\")")
	nopts := addNATSFlags(fs)
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
	space, sites, err := searchSpace(cfg)
	if err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	if *dry {
		b, _ := json.MarshalIndent(cfg, "", "  ")
		fmt.Printf("config:\n%s\n", b)
		_, err := printSearchPlan(os.Stdout, cfg, sites, *tflops)
		return err
	}
	if *natsURL == "" { // workers of a distributed search read their own files
		if err := cfg.Task.CheckFiles(); err != nil {
			return fmt.Errorf("config %s: task.%w", *cfgPath, err)
		}
	}
	bin, err := trainerBinary(*binary)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &search.Search{Config: cfg, Sites: sites, Space: space, Out: *out, Progress: os.Stdout, ForceConfig: *force,
		Executor: &search.LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	if *natsURL != "" {
		ex, j, ck, closeNATS, err := natsBackend(ctx, *natsURL, *run, *nopts)
		if err != nil {
			return err
		}
		defer closeNATS()
		s.Executor, s.Journal, s.Checkpoints = ex, j, ck
	}
	_, err = searchTo(ctx, s)
	return err
}

// trainerBinary is the autodropout binary that trains trials: path, or
// this program itself.
func trainerBinary(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	bin, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	return bin, nil
}

// searchTo runs (or resumes) a search, printing progress and a closing
// line. An interrupted search's error says what was kept and how to
// resume; one whose trials all failed names the most common failure.
func searchTo(ctx context.Context, s *search.Search) (search.Summary, error) {
	out := s.Out
	sum, err := s.Run(ctx)
	var ie *search.InterruptedError
	switch {
	case errors.As(err, &ie):
		return sum, fmt.Errorf("%w; %s", err, rerunHint())
	case errors.Is(err, search.ErrAllFailed):
		return sum, fmt.Errorf("%w (each trial's output: %s)", err, filepath.Join(out, "trials", "NNNN", "output.log"))
	case err != nil:
		return sum, err
	}
	fmt.Printf("done: %d trials (%d failed), best reward %.4f (trial %d), mean %.4f, CPU %.0fs; see %s/summary.json and %s/top/\n",
		sum.Trials, sum.Failures, sum.BestReward, sum.BestTrial, sum.MeanReward, sum.CPUS, out, out)
	return sum, nil
}

// rerunHint tells the user to run this command again, quoted for a shell.
func rerunHint() string {
	args := make([]string, len(os.Args))
	for i, a := range os.Args {
		args[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~{}!") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return "rerun the same command to resume: " + strings.Join(args, " ")
}

// searchSpace returns what the controller searches for the task: ConvNet
// patterns at the model's sites for classification, Transformer patterns
// per sublayer kind (as site expressions) for language models.
func searchSpace(cfg search.Config) (search.Space, []string, error) {
	if cfg.Task.Kind == "lm" {
		ts := autodropout.DefaultTransformerSpace()
		if cfg.SearchSpace != "" {
			var err error
			if ts, err = autodropout.LoadTransformerSpace(cfg.SearchSpace); err != nil {
				return nil, nil, err
			}
		}
		sites, err := lmSites(cfg.Task, ts.Sites)
		return search.TransformerSpace{TransformerSpace: ts}, sites, err
	}
	space := autodropout.DefaultSearchSpace()
	if cfg.SearchSpace != "" {
		var err error
		if space, err = autodropout.LoadSearchSpace(cfg.SearchSpace); err != nil {
			return nil, nil, err
		}
	}
	sites, err := resolveSites(cfg.Task)
	return search.ConvNetSpace{SearchSpace: space}, sites, err
}

// lmSites turns sublayer kinds (the task's, else the space's) into site
// expressions of the Transformer-XL.
func lmSites(t search.Task, spaceKinds []string) ([]string, error) {
	if t.Model != "transformer-xl" {
		return nil, fmt.Errorf("task.model %q: language-model searches need transformer-xl", t.Model)
	}
	kinds := t.Sites
	if len(kinds) == 0 {
		kinds = spaceKinds
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no sublayer kinds to search: set task.sites or the space's sites")
	}
	var sites []string
	for _, k := range kinds {
		re, ok := nn.TransformerXLSiteKinds[k]
		if !ok {
			return nil, fmt.Errorf("sublayer kind %q unknown (want emb, q, k, v, prob, attn_out, ff_hidden or ff_out)", k)
		}
		sites = append(sites, re)
	}
	return sites, nil
}

// resolveSites lists the task's sites: the config's list, checked against
// the model, or the model's sites matching the regular expression.
func resolveSites(t search.Task) ([]string, error) {
	shape, ok := datasetShapes[t.Data]
	if !ok {
		return nil, fmt.Errorf("task.data %q unknown", t.Data)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.New(t.Model, vs.Root(), shape.in, shape.classes)
	if err != nil {
		return nil, fmt.Errorf("task.model %s: %w", t.Model, err)
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
