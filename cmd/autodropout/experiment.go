package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/autodropout/autodropout/experiment"
	"github.com/autodropout/autodropout/search"
)

func runExperiment(args []string) error {
	fs := newFlagSet("experiment")
	cfgPath := fs.String("config", "configs/demo.json", "experiment configuration JSON (configs/demo.json, configs/paper/*, configs/study/*)")
	dry := fs.Bool("dry-run", false, "check the configuration and print the plan and an estimate of its cost; run nothing")
	tflops := fs.Float64("tflops", experiment.DefaultTFLOPS, "dry run: sustained TFLOP/s of one accelerator, to turn FLOPs into hours")
	out := fs.String("out", "runs/demo", "output folder; rerun to resume")
	binary := fs.String("binary", "", "autodropout binary that trains each model (default: this one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkDryRunFlags(fs, *dry, *tflops); err != nil {
		return err
	}
	cfg, err := experiment.ReadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.CheckFiles(); err != nil {
		return fmt.Errorf("experiment config %s: %w", *cfgPath, err)
	}
	if *dry {
		scfg, err := cfg.SearchConfig()
		if err != nil {
			return err
		}
		_, sites, err := search.SpaceFor(scfg)
		if err != nil {
			return err
		}
		return experiment.WritePlan(os.Stdout, cfg, scfg, sites, *tflops)
	}
	bin, err := trainerBinary(*binary)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err = experiment.Run(ctx, cfg, experiment.Settings{Out: *out, Binary: bin, Progress: os.Stdout})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w; %s", err, rerunHint())
	}
	return err
}
