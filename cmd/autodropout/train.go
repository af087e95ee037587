package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var (
		model     = fs.String("model", "convnet", "model: convnet")
		dataset   = fs.String("data", "fashion-mnist", "dataset: fashion-mnist or mnist")
		dataDir   = fs.String("data-dir", data.FashionMNISTDir, "folder of the dataset's files")
		epochs    = fs.Int("epochs", 1, "training epochs")
		batchSize = fs.Int("batch-size", 128, "examples per step")
		lr        = fs.Float64("lr", 0.05, "peak learning rate (SGD, Nesterov momentum 0.9, cosine decay)")
		seed      = fs.Int64("seed", 1, "seed of every random choice: split, order, initialization")
		threads   = fs.Int("threads", 0, "libtorch intra-op threads (0: all cores)")
		subset    = fs.Int("train-subset", 0, "train on this many examples (0: all)")
		valFrac   = fs.Float64("val-frac", 0.1, "fraction of the training set held out for validation")
		out       = fs.String("out", "", "folder for result.json and the checkpoint (empty: none)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model != "convnet" {
		return fmt.Errorf("--model %q: only convnet is available so far", *model)
	}
	if *dataset != "fashion-mnist" && *dataset != "mnist" {
		return fmt.Errorf("--data %q: want fashion-mnist or mnist", *dataset)
	}
	n, err := libtorch.ThreadsFromEnv(fmt.Sprint(*threads))
	if err != nil {
		return fmt.Errorf("--threads: %w", err)
	}
	if err := libtorch.SetThreads(n); err != nil {
		return err
	}
	if err := libtorch.ManualSeed(*seed); err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
	}

	full, err := data.LoadMNIST(*dataDir, "train")
	if err != nil {
		return err
	}
	testSet, err := data.LoadMNIST(*dataDir, "t10k")
	if err != nil {
		return err
	}
	trIdx, valIdx, err := data.Split(full.N, *valFrac, *seed)
	if err != nil {
		return fmt.Errorf("--val-frac: %w", err)
	}
	if *subset > 0 && *subset < len(trIdx) {
		trIdx = trIdx[:*subset]
	}
	trainSet := full.Subset(trIdx)
	trainLoader, err := data.NewLoader(trainSet, data.LoaderConfig{BatchSize: *batchSize, Shuffle: true, Seed: *seed, Augment: data.Augment{CropPad: 2}})
	if err != nil {
		return err
	}
	evalCfg := data.LoaderConfig{BatchSize: 500}
	var valLoader *data.Loader
	if len(valIdx) > 0 {
		if valLoader, err = data.NewLoader(full.Subset(valIdx), evalCfg); err != nil {
			return err
		}
	}
	testLoader, err := data.NewLoader(testSet, evalCfg)
	if err != nil {
		return err
	}

	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, int64(full.H), int64(full.W), int64(full.Classes))
	cfg := train.DefaultConfig()
	cfg.Epochs, cfg.LR, cfg.Progress = *epochs, *lr, os.Stdout
	fmt.Printf("training %s on %s: %d train / %d validation / %d test examples, %d epochs of %d steps, %d threads, seed %d\n",
		*model, *dataset, trainSet.N, len(valIdx), testSet.N, *epochs, trainLoader.Batches(), libtorch.Threads(), *seed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.Classifier(ctx, vs, net, trainLoader, valLoader, testLoader, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("done in %s: train loss %.4f, validation accuracy %.4f, test accuracy %.4f (%d parameters)\n",
		time.Duration(res.WallS*float64(time.Second)).Round(time.Second), res.TrainLoss, res.ValAcc, res.TestAcc, res.Params)
	if *out == "" {
		return nil
	}
	if err := vs.Save(filepath.Join(*out, "model.ot")); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return writeJSON(filepath.Join(*out, "result.json"), res)
}

// writeJSON writes v atomically: a reader never sees half a file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
