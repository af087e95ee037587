package train

import (
	"fmt"
	"math"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// AMP is a training run's automatic mixed precision: the precision its
// forward passes compute in and, for float16, the loss scaler. The weights,
// their gradients and the optimizer's state stay float32 in every
// precision: a step enters libtorch's autocast for the forward pass and
// the loss (see libtorch.Autocast), leaves it, and runs backward and the
// optimizer as in float32. A nil *AMP is float32.
type AMP struct {
	Precision libtorch.Precision // resolved: FP32, BF16 or FP16
	Device    gotch.Device
	Scaler    *LossScaler // FP16 only: dynamic loss scaling
	vars      []*ts.Tensor
}

// NewAMP resolves p for the device of vs (see libtorch.Resolve) and
// returns the run's precision; for FP16 it adds a LossScaler with
// PyTorch's defaults, which unscales the gradients of vs's trainable
// variables.
func NewAMP(p libtorch.Precision, vs *gnn.VarStore) (*AMP, error) {
	dev := vs.Device()
	r, err := libtorch.Resolve(p, dev)
	if err != nil {
		return nil, err
	}
	a := &AMP{Precision: r, Device: dev}
	if r == libtorch.FP16 {
		a.Scaler = NewLossScaler()
		a.vars = vs.TrainableVariables()
	}
	return a, nil
}

// String returns the precision's name; "fp32" for nil.
func (a *AMP) String() string {
	if a == nil {
		return string(libtorch.FP32)
	}
	return string(a.Precision)
}

// Autocast enters the precision's autocast region on the calling thread
// (a no-op for nil and FP32) and returns the function that leaves it.
func (a *AMP) Autocast() (exit func() error, err error) {
	if a == nil {
		return func() error { return nil }, nil
	}
	return libtorch.Autocast(a.Device, a.Precision)
}

// forward runs fn, which computes a loss, in the precision's autocast
// region, and leaves the region also when fn panics.
func (a *AMP) forward(fn func() (*ts.Tensor, error)) (loss *ts.Tensor, err error) {
	exit, err := a.Autocast()
	if err != nil {
		return nil, err
	}
	defer func() {
		if xerr := exit(); err == nil && xerr != nil {
			if loss != nil {
				loss.MustDrop()
				loss = nil
			}
			err = xerr
		}
	}()
	return fn()
}

// backward runs zero_grad, backward of loss and, unless the loss scaler
// finds an infinite or NaN gradient, clip (when not nil) and the
// optimizer's step. A step that the scaler skips is not an error.
func (a *AMP) backward(loss *ts.Tensor, opt Optimizer, clip func() error) error {
	if err := opt.ZeroGrad(); err != nil {
		return err
	}
	if a == nil || a.Scaler == nil {
		if err := loss.Backward(); err != nil {
			return err
		}
	} else {
		scaled, err := loss.MulScalar(ts.FloatScalar(a.Scaler.Scale), false)
		if err != nil {
			return err
		}
		err = scaled.Backward()
		scaled.MustDrop()
		if err != nil {
			return err
		}
		finite, err := unscaleGrads(a.vars, 1/a.Scaler.Scale)
		if err != nil {
			return err
		}
		if !a.Scaler.Update(!finite) {
			if a.Scaler.Scale < minLossScale {
				return fmt.Errorf("%w: float16 gradients stay infinite or NaN down to loss scale %g", ErrDiverged, a.Scaler.Scale)
			}
			return nil
		}
	}
	if clip != nil {
		if err := clip(); err != nil {
			return err
		}
	}
	return opt.Step()
}

// minLossScale is where the loss scaler gives up: gradients that are
// still infinite at a scale this small come from a diverged model, not
// from float16's range.
const minLossScale = 0x1p-24

// unscaleGrads multiplies every defined gradient of vars by inv in place
// and reports whether all of them are finite.
func unscaleGrads(vars []*ts.Tensor, inv float64) (finite bool, err error) {
	total := 0.0
	for _, v := range vars {
		g, err := v.Grad(false)
		if err != nil {
			return false, err
		}
		if !g.MustDefined() {
			g.MustDrop()
			continue
		}
		err = func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("unscale gradient: %v", r)
				}
			}()
			libtorch.InPlace(g, func(out *lib.Ctensor, self lib.Ctensor) {
				c := lib.AtsFloat(inv)
				lib.AtgMulScalar_(out, self, c)
				lib.AtsFree(c)
			})
			return nil
		}()
		if err == nil {
			// A sum in float64 of the gradient's absolute values is
			// infinite or NaN exactly when one of them is.
			var a, s *ts.Tensor
			if a, err = g.Abs(false); err == nil {
				s, err = a.Sum(gotch.Double, true)
			}
			if err == nil {
				total += s.Float64Values(true)[0]
			}
		}
		g.MustDrop()
		if err != nil {
			return false, err
		}
	}
	return !math.IsNaN(total) && !math.IsInf(total, 0), nil
}

// LossScaler is dynamic loss scaling for float16 training, the state
// machine of PyTorch's torch.cuda.amp.GradScaler: the loss is multiplied by
// Scale before backward so that small gradients do not underflow float16,
// and the gradients are divided by it before the optimizer's step. A step
// whose gradients overflow (an infinite or NaN value) is skipped and the
// scale multiplied by BackoffFactor; after GrowthInterval steps in a row
// without overflow the scale is multiplied by GrowthFactor.
type LossScaler struct {
	Scale          float64
	GrowthFactor   float64
	BackoffFactor  float64
	GrowthInterval int
	good           int // steps without overflow since the last change
}

// NewLossScaler returns PyTorch's defaults: scale 2^16, growth 2 every
// 2000 good steps, backoff 0.5.
func NewLossScaler() *LossScaler {
	return &LossScaler{Scale: 65536, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 2000}
}

// Update records one step whose unscaled gradients overflowed or not,
// adjusts the scale, and reports whether the optimizer should take the
// step (it should not after an overflow).
func (s *LossScaler) Update(overflow bool) (step bool) {
	if overflow {
		s.Scale *= s.BackoffFactor
		s.good = 0
		return false
	}
	s.good++
	if s.good >= s.GrowthInterval {
		// Grow only to a finite scale, as GradScaler does.
		if g := s.Scale * s.GrowthFactor; !math.IsInf(g, 0) {
			s.Scale = g
		}
		s.good = 0
	}
	return true
}
