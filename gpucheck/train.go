package gpucheck

import (
	"fmt"
	"math"
	"time"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	gnn "github.com/sugarme/gotch/nn"
)

// TrainOptions says which short training Train runs.
type TrainOptions struct {
	Model     string             // a model name of package nn, e.g. "wrn-16-2"
	Device    string             // cpu, cuda or cuda:N
	Precision libtorch.Precision // fp32, bf16 or fp16 (fp16: with the loss scaler)
	Steps     int
	Batch     int
	LR        float64
	Seed      int64
}

// TrainReport is what a short training did. The loss "falls" when the
// mean of the last tenth of the steps is below 0.8 of the first tenth's.
type TrainReport struct {
	Check      string    `json:"check"`
	Model      string    `json:"model"`
	Device     string    `json:"device"`
	Precision  string    `json:"precision"`
	Steps      int       `json:"steps"`
	Batch      int       `json:"batch"`
	Losses     []float64 `json:"losses"` // every step's
	First      float64   `json:"first"`  // mean of the first tenth
	Last       float64   `json:"last"`   // mean of the last tenth
	Finite     bool      `json:"finite"`
	Falls      bool      `json:"falls"`
	Skipped    int       `json:"skipped_steps"` // fp16: steps the loss scaler skipped after an overflow
	FinalScale float64   `json:"final_scale,omitempty"`
	Seconds    float64   `json:"seconds"`
	OK         bool      `json:"ok"`
}

// Train trains o.Model from scratch on Synthetic data for o.Steps steps
// with SGD (Nesterov momentum 0.9), in o.Precision on o.Device, through
// the training step that train.Classifier runs (train.StepAMP).
func Train(o TrainOptions) (*TrainReport, error) {
	if o.Steps < 2 || o.Batch < 1 {
		return nil, fmt.Errorf("train check: %d steps of batch %d: want at least 2 steps of 1", o.Steps, o.Batch)
	}
	dev, err := libtorch.ParseDevice(o.Device)
	if err != nil {
		return nil, err
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := libtorch.ManualSeed(o.Seed); err != nil {
		return nil, err
	}
	src := NewSynthetic(o.Seed)
	vs := gnn.NewVarStore(dev)
	model, err := nn.New(o.Model, vs.Root(), nn.Input{C: int64(src.C), H: int64(src.H), W: int64(src.W)}, int64(src.Classes))
	if err != nil {
		return nil, err
	}
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, o.LR)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	amp, err := train.NewAMP(o.Precision, vs)
	if err != nil {
		return nil, err
	}
	r := &TrainReport{Check: "train", Model: o.Model, Device: o.Device, Precision: string(amp.Precision), Steps: o.Steps, Batch: o.Batch, Finite: true}
	start := time.Now()
	for i := 0; i < o.Steps; i++ {
		scale := 0.0
		if amp.Scaler != nil {
			scale = amp.Scaler.Scale
		}
		loss, err := train.StepAMP(model, opt, src.Batch(o.Batch), amp)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		if amp.Scaler != nil && amp.Scaler.Scale < scale {
			r.Skipped++
		}
		r.Losses = append(r.Losses, loss)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			r.Finite = false
		}
	}
	r.Seconds = time.Since(start).Seconds()
	if amp.Scaler != nil {
		r.FinalScale = amp.Scaler.Scale
	}
	k := max(1, o.Steps/10)
	r.First, r.Last = mean(r.Losses[:k]), mean(r.Losses[o.Steps-k:])
	r.Falls = r.Last < 0.8*r.First
	r.OK = r.Finite && r.Falls && r.Skipped < o.Steps/2
	return r, nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
