package train

import (
	"fmt"
	"math"

	gnn "github.com/sugarme/gotch/nn"
)

// Schedule is a classifier's learning-rate schedule, as a factor of the
// peak rate at each step. The zero value is a cosine decay from 1 to 0
// over the run, per step.
type Schedule struct {
	// Kind is "" or "cosine", or "exponential": the rate is multiplied by
	// DecayRate every DecayEpochs epochs (staircase, as EfficientNet's
	// recipe: 0.97 every 2.4 epochs).
	Kind        string
	DecayRate   float64 // exponential: factor per DecayEpochs (0 < r ≤ 1)
	DecayEpochs float64 // exponential: epochs between decays (> 0)
	// WarmupEpochs, in either kind, raises the rate linearly from 0 to
	// the schedule's over the first epochs (EfficientNet: 5); 0: none.
	WarmupEpochs float64
}

// Check reports a schedule that cannot run.
func (s Schedule) Check() error {
	switch {
	case s.Kind != "" && s.Kind != "cosine" && s.Kind != "exponential":
		return fmt.Errorf("learning-rate schedule %q: want cosine or exponential", s.Kind)
	case s.Kind == "exponential" && !(s.DecayRate > 0 && s.DecayRate <= 1):
		return fmt.Errorf("exponential schedule: decay rate %v: want a factor in (0, 1]", s.DecayRate)
	case s.Kind == "exponential" && !(s.DecayEpochs > 0 && !math.IsInf(s.DecayEpochs, 0)):
		return fmt.Errorf("exponential schedule: decay every %v epochs: want a positive number", s.DecayEpochs)
	case !(s.WarmupEpochs >= 0 && !math.IsInf(s.WarmupEpochs, 0)):
		return fmt.Errorf("warmup of %v epochs: want 0 or more", s.WarmupEpochs)
	}
	return nil
}

// factor is the share of the peak rate at step (0-based) of total steps,
// with perEpoch steps an epoch.
func (s Schedule) factor(step, total, perEpoch int) float64 {
	epoch := float64(step) / float64(max(perEpoch, 1))
	f := 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total)))
	if s.Kind == "exponential" {
		f = math.Pow(s.DecayRate, math.Floor(epoch/s.DecayEpochs))
	}
	if s.WarmupEpochs > 0 && epoch < s.WarmupEpochs {
		f *= epoch / s.WarmupEpochs
	}
	return f
}

// classifierOptimizer is SGD (gotch's, in libtorch) or RMSProp (this
// package's), with how each saves and restores its state.
type classifierOptimizer struct {
	Optimizer
	sgd      *gnn.Optimizer
	rms      *RMSProp
	momentum float64 // SGD's
}

// newClassifierOptimizer builds cfg's optimizer over vs.
func newClassifierOptimizer(vs *gnn.VarStore, cfg Config) (*classifierOptimizer, error) {
	switch cfg.Optimizer {
	case "", "sgd":
		opt, err := gnn.NewSGDConfig(cfg.Momentum, 0, cfg.WeightDecay, cfg.Momentum > 0).Build(vs, cfg.LR)
		if err != nil {
			return nil, fmt.Errorf("optimizer: %w", err)
		}
		return &classifierOptimizer{Optimizer: opt, sgd: opt, momentum: cfg.Momentum}, nil
	case "rmsprop":
		r, err := NewRMSProp(vs, cfg.LR, cfg.WeightDecay)
		if err != nil {
			return nil, fmt.Errorf("optimizer: %w", err)
		}
		return &classifierOptimizer{Optimizer: r, rms: r}, nil
	}
	return nil, fmt.Errorf("optimizer %q: want sgd or rmsprop", cfg.Optimizer)
}

func (o *classifierOptimizer) drop() {
	if o.rms != nil {
		o.rms.Drop()
	}
}

// capture copies the variables and the optimizer's state.
func (o *classifierOptimizer) capture(vs *gnn.VarStore) (*State, error) {
	if o.rms == nil {
		return captureState(vs, o.sgd, o.momentum)
	}
	st, err := captureState(vs, nil, 0)
	if err != nil {
		return nil, err
	}
	if st.RMSMeanSquare, st.Momentum, err = o.rms.state(); err != nil {
		st.Drop()
		return nil, err
	}
	return st, nil
}

// apply loads a state's variables and optimizer state.
func (o *classifierOptimizer) apply(vs *gnn.VarStore, s *State) error {
	if o.rms == nil {
		if len(s.RMSMeanSquare) > 0 {
			return fmt.Errorf("the state is RMSProp's, the optimizer SGD")
		}
		return applyState(vs, o.sgd, s, o.momentum)
	}
	if err := applyState(vs, nil, s, 0); err != nil {
		return err
	}
	return o.rms.setState(s.RMSMeanSquare, s.Momentum)
}
