package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/trial"
)

// runTrain trains one model: the flags are a trial.Spec, trial.Run
// trains it, printing its progress, and writes result.json in --out.
// With --nproc N (and no torchrun variables already making this process
// a rank), trial.Launch starts N ranks of this binary instead.
func runTrain(args []string) error {
	fs := newFlagSet("train")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, "usage: autodropout train [flags]            image classification (the default)\n       autodropout train --task lm [flags]  language models\n\n")
		trial.PrintFlags(w)
	}
	var spec trial.Spec
	spec.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := trial.CheckParsed(fs); err != nil {
		return err
	}
	spec.Output = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, isRank := os.LookupEnv(distributed.VarWorldSize); spec.Nproc > 1 && !isRank {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--nproc: find this program to start its ranks: %w", err)
		}
		_, err = trial.Launch(ctx, self, spec, os.Stderr)
		return err
	}
	_, err := trial.Run(ctx, spec)
	return err
}

// writeJSON writes v atomically (a reader never sees half a file),
// creating the folder if needed.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// setThreads applies a --threads value (0: all cores) to libtorch and
// returns the thread count.
func setThreads(threads int) (int, error) {
	n, err := libtorch.ThreadsFromEnv(fmt.Sprint(threads))
	if err != nil {
		return 0, fmt.Errorf("--threads: %w", err)
	}
	return n, libtorch.SetThreads(n)
}
