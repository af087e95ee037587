package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/autodropout/autodropout/gpucheck"
	"github.com/autodropout/autodropout/libtorch"
)

// runGPUCheck runs one check of scripts/gpu-check.sh (package gpucheck)
// and prints its report as JSON; a check that fails exits 1 after printing.
func runGPUCheck(args []string) error {
	fs := newFlagSet("gpucheck")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), "usage: autodropout gpucheck train|masks|forward [flags]; 'autodropout gpucheck CHECK -h' lists a check's flags")
		}
		return flag.ErrHelp
	}
	check := args[0]
	device := fs.String("device", "cuda", "cpu, cuda or cuda:N")
	seed := fs.Int64("seed", 1, "seed of the weights, data and masks")
	var report any
	var ok bool
	switch check {
	case "train":
		o := gpucheck.TrainOptions{Model: "wrn-16-2", Steps: 200, Batch: 128, LR: 0.05}
		fs.StringVar(&o.Model, "model", o.Model, "model (package nn's names)")
		prec := fs.String("precision", "bf16", "fp32, bf16 (autocast) or fp16 (autocast and the loss scaler)")
		fs.IntVar(&o.Steps, "steps", o.Steps, "training steps")
		fs.IntVar(&o.Batch, "batch", o.Batch, "examples per step")
		fs.Float64Var(&o.LR, "lr", o.LR, "learning rate (SGD, Nesterov momentum 0.9)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		p, err := libtorch.ParsePrecision(*prec)
		if err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
		o.Device, o.Precision, o.Seed = *device, p, *seed
		r, err := gpucheck.Train(o)
		if err != nil {
			return err
		}
		report, ok = r, r.OK
	case "masks":
		o := gpucheck.MaskOptions{Planes: 8192, H: 16, W: 16}
		fs.Int64Var(&o.Planes, "planes", o.Planes, "mask planes (samples × channels) per regularizer and device")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		o.Device, o.Seed = *device, *seed
		rs, err := gpucheck.Masks(o)
		if err != nil {
			return err
		}
		ok = true
		for _, r := range rs {
			ok = ok && r.OK
		}
		report = rs
	case "forward":
		o := gpucheck.ForwardOptions{Model: "resnet50", Classes: 1000}
		fs.StringVar(&o.Model, "model", o.Model, "model (package nn's names)")
		fs.Int64Var(&o.Classes, "classes", o.Classes, "classes of the model's head")
		fs.StringVar(&o.Weights, "weights", "", "PyTorch state dict of the weights (scripts/gpu_check_ref.py)")
		fs.StringVar(&o.Ref, "ref", "", "reference input and outputs (scripts/gpu_check_ref.py)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if o.Weights == "" || o.Ref == "" {
			return fmt.Errorf("--weights and --ref are required (scripts/gpu_check_ref.py writes them)")
		}
		o.Device = *device
		r, err := gpucheck.Forward(o)
		if err != nil {
			return err
		}
		report, ok = r, r.OK
	default:
		return fmt.Errorf("unknown check %q%s: want train, masks or forward", check, didYouMean(check, []string{"train", "masks", "forward"}))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s check failed (see its report above)", check)
	}
	return nil
}
