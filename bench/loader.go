package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
)

// benchLoader measures the Fashion-MNIST loader alone (examples/s, as train
// configures it: shuffled, random crops), compares it with the examples/s
// of the first 1×28×28 model's step, and feeds that model's step from the
// loader to measure how long the step waits for batches.
func benchLoader(f *Settings, models []*benchModel, rep *Report) error {
	trainSet, _, err := data.Open("fashion-mnist", f.DataDir, data.OpenOptions{})
	if err != nil {
		fmt.Fprintf(f.Out, "\nloader: skipped (%v)\n", err)
		return nil
	}
	cfg := data.LoaderConfig{BatchSize: f.Batch, Shuffle: true, Seed: 1, Augment: data.Augment{CropPad: max(trainSet.H/8, 1)}}
	l, err := data.NewLoader(trainSet, cfg)
	if err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	seen := 0
	for b := range l.Epoch(ctx, 0) {
		seen += b.N
	}
	res := &LoaderResult{LoaderPerS: float64(seen) / time.Since(t0).Seconds()}
	rep.Loader = res
	fmt.Fprintf(f.Out, "\nloader: Fashion-MNIST, batch %d, shuffled, crop pad %d: %.0f examples/s alone (one epoch, %d examples)\n",
		f.Batch, cfg.Augment.CropPad, res.LoaderPerS, seen)
	var m *benchModel
	for _, c := range models {
		if c.in != nil && c.in[0] == int64(trainSet.C) && c.in[1] == int64(trainSet.H) && c.in[2] == int64(trainSet.W) {
			m = c
			break
		}
	}
	if m == nil {
		fmt.Fprintf(f.Out, "loader: no %d×%d×%d model in --models to compare with\n", trainSet.C, trainSet.H, trainSet.W)
		return nil
	}
	res.Model = m.name
	res.StepPerS = float64(f.Batch) / (m.noneMS() / 1e3)
	res.Ratio = res.LoaderPerS / res.StepPerS
	none := m.variants[0].ours.(*classifierStepper)
	ch := l.Epoch(ctx, 1)
	<-ch // the first batch is always waited for
	res.FedSteps = min(f.Steps, 5)
	var wait time.Duration
	for i := 0; i < res.FedSteps; i++ {
		t := time.Now()
		b, ok := <-ch
		if !ok {
			break
		}
		wait += time.Since(t)
		if _, err := train.Step(none.model, none.opt, b, gotch.CPU); err != nil {
			return fmt.Errorf("loader-fed step: %w", err)
		}
	}
	res.WaitMSPerStep = wait.Seconds() * 1e3 / float64(res.FedSteps)
	fmt.Fprintf(f.Out, "loader: %.1f× what %s's step consumes (%.0f examples/s); fed from the loader, the step waited %.2f ms per step over %d steps\n",
		res.Ratio, m.name, res.StepPerS, res.WaitMSPerStep, res.FedSteps)
	return nil
}
