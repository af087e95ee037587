package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/autodropout/autodropout/bench"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
)

func parseBenchFlags(args []string) (*bench.Settings, error) {
	f := bench.DefaultSettings()
	fs := newFlagSet("bench")
	fs.StringVar(&f.Models, "models", "wrn-16-2,wrn-28-2,transformer-xl",
		"comma-separated models; a classifier takes an input shape after @ (without one: wrn-16-2@1x28x28, others @3x32x32)")
	fs.IntVar(&f.Batch, "batch", 128, "classifier batch size (the Transformer-XL's comes from --lm-config)")
	fs.IntVar(&f.Threads, "threads", 0, "libtorch intra-op threads, ours and PyTorch's (0: all cores)")
	fs.IntVar(&f.Steps, "steps", 10, "timed steps per variant (medians are reported)")
	fs.IntVar(&f.Warmup, "warmup", 2, "untimed steps per variant first")
	fs.StringVar(&benchJSON, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&f.PyTorch, "pytorch", false, "also time the same models in PyTorch eager (needs python3 with torch; skipped with a message otherwise)")
	fs.StringVar(&f.Python, "python", "", "Python for --pytorch (default: /usr/bin/python3, else python3 on PATH)")
	fs.StringVar(&f.Script, "pytorch-script", "scripts/bench_pytorch.py", "the PyTorch reference script")
	fs.StringVar(&f.WrnPattern, "pattern", "configs/patterns/wrn-16-2-hand.json",
		"pattern file for the classifiers; other WRNs take each entry at the same site kind of every block of its group")
	fs.StringVar(&f.LMConfig, "lm-config", "configs/transformer-xl-small.json", "Transformer-XL model and recipe")
	fs.StringVar(&f.LMPattern, "lm-pattern", "configs/transformer-xl-patterns-hand.json", "Transformer-XL pattern file")
	fs.IntVar(&f.Vocab, "vocab", 14922, "Transformer-XL vocabulary size; the default is the fortunes corpus's at min count 2")
	fs.StringVar(&f.DataDir, "data-dir", data.FashionMNISTDir, "Fashion-MNIST folder for the loader measurement")
	fs.Float64Var(&f.Rate, "drop-rate", 0.1, "drop probability of Dropout and DropBlock")
	fs.IntVar(&f.BlockSize, "block-size", 3, "DropBlock's block side")
	fs.StringVar(&f.Images.Dir, "images-dir", "", "images section: a folder-per-class dataset to stream (e.g. ImageNet's train/; default: generated JPEGs)")
	fs.IntVar(&f.Images.Gen, "images-gen", 300, "images section without --images-dir: JPEGs of 500×375 to generate (at most 10,000 distinct, the rest hard links); 100000 shows memory over 100,000 images")
	fs.IntVar(&f.Images.Timed, "images-timed", 0, "images section: images per speed measurement (0: all, at most 2,000)")
	fs.IntVar(&f.Images.Batch, "images-batch", 64, "images section: batch size")
	fs.StringVar(&f.Images.Script, "images-script", "scripts/bench_imagefolder.py", "images section: the torchvision ImageFolder+DataLoader reference (run with --pytorch)")
	variants := fs.String("variants", "", "comma-separated regularizers to time (default all: none, dropout, dropblock, pattern; none is always timed)")
	skip := fs.String("skip", "", "comma-separated sections to leave out: "+strings.Join(bench.Sections, ", "))
	device := fs.String("device", "cpu", "cpu, cuda or cuda:N: where the steps run, ours and PyTorch's (a GPU times steps only: --skip mask,loader)")
	precisions := fs.String("precision", "fp32", "comma-separated precisions of the timed steps, each variant in each: fp32, bf16, auto; fp32 by default, where train's default is auto, so that runs compare with earlier ones; the first precision's steps feed the loader and controller sections")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.Batch < 1 || f.Steps < 1 || f.Warmup < 0 {
		return nil, fmt.Errorf("want --batch ≥ 1, --steps ≥ 1 and --warmup ≥ 0")
	}
	if *variants != "" {
		f.Variants = map[string]bool{"none": true}
		for _, v := range strings.Split(*variants, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains([]string{"none", "dropout", "dropblock", "pattern"}, v) {
				return nil, fmt.Errorf("--variants %q: want some of none, dropout, dropblock, pattern", v)
			}
			f.Variants[v] = true
		}
	}
	dev, err := libtorch.ParseDevice(*device)
	if err != nil {
		return nil, fmt.Errorf("--device: %w", err)
	}
	f.Device = dev
	for _, s := range strings.Split(*precisions, ",") {
		p, err := libtorch.ParsePrecision(s)
		if err == nil {
			p, err = libtorch.Resolve(p, dev)
		}
		if err != nil {
			return nil, fmt.Errorf("--precision: %w", err)
		}
		if slices.Contains(f.Precisions, p) {
			continue // auto may resolve to one already listed
		}
		f.Precisions = append(f.Precisions, p)
	}
	f.Skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(bench.Sections, s) {
			return nil, fmt.Errorf("--skip %q: want some of %s", s, strings.Join(bench.Sections, ", "))
		}
		f.Skip[s] = true
	}
	return f, nil
}

// benchJSON is --json: where runBench writes the report.
var benchJSON string

// runBench parses the flags, runs the benchmark and writes --json.
func runBench(args []string) error {
	f, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	if _, err := setThreads(f.Threads); err != nil {
		return err
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		return err
	}
	defer release()
	f.Out = os.Stdout
	rep, err := bench.Run(f)
	if err != nil {
		return err
	}
	if benchJSON != "" {
		if err := writeJSON(benchJSON, rep); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
		fmt.Printf("\nwrote %s\n", benchJSON)
	}
	return nil
}
