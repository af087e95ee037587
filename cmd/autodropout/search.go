package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/autodropout/autodropout/experiment"
	"github.com/autodropout/autodropout/search"
)

func runSearch(args []string) error {
	fs := newFlagSet("search")
	cfgPath := fs.String("config", "", "search configuration JSON (see configs/search-fashion-mnist-tiny.json)")
	out := fs.String("out", "", "output folder: journal.jsonl, controller.json, trials/, top/, summary.json; rerun to resume")
	dry := fs.Bool("dry-run", false, "check the configuration, print it, the dropout sites and an estimate of the cost; run nothing")
	tflops := fs.Float64("tflops", experiment.DefaultTFLOPS, "dry run: sustained TFLOP/s of one accelerator, to turn FLOPs into hours")
	force := fs.Bool("force-config", false, "resume a folder started with a different configuration (not another method or controller kind)")
	method := fs.String("method", "", "override the config's method: rl or random")
	binary := fs.String("binary", "", "autodropout binary that trains each trial (default: this one)")
	natsURL := fs.String("nats", "", "run trials on `autodropout worker` processes through this NATS JetStream server (nats://[user:pass@]host:4222), keeping the journal and checkpoint there")
	run := fs.String("run", "", "with --nats: the run's name, shared with its workers (default \"default\")")
	nopts := addNATSFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkDryRunFlags(fs, *dry, *tflops); err != nil {
		return err
	}
	if *cfgPath == "" || (*out == "" && !*dry) {
		return fmt.Errorf("need --config FILE and --out DIR")
	}
	cfg, space, sites, err := readSearchConfig(*cfgPath, *method)
	if err != nil {
		return err
	}
	if *dry {
		b, _ := json.MarshalIndent(cfg, "", "  ")
		fmt.Printf("config:\n%s\n", b)
		_, err := experiment.SearchPlan(os.Stdout, cfg, sites, *tflops)
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

// readSearchConfig reads the search configuration at path, with method
// ("": the file's) in place of its method, and its search space and the
// model's dropout sites.
func readSearchConfig(path, method string) (search.Config, search.Space, []string, error) {
	cfg, err := search.ReadConfig(path)
	if err != nil {
		return cfg, nil, nil, err
	}
	if method != "" {
		cfg.Method = method
		if err := cfg.Check(); err != nil {
			return cfg, nil, nil, err
		}
	}
	space, sites, err := search.SpaceFor(cfg)
	if err != nil {
		return cfg, space, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, space, sites, nil
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
