package train

import (
	"fmt"

	"github.com/autodropout/autodropout/libtorch"
	lib "github.com/sugarme/gotch/libtch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// RMSProp is TensorFlow 1's tf.train.RMSPropOptimizer, the optimizer of
// EfficientNet's recipe (Tan & Le 2019: decay 0.9, momentum 0.9, ε 1e-3),
// as timm's RMSpropTF reproduces it in PyTorch. It differs from
// torch.optim.RMSprop in three ways that matter at ε = 1e-3: ε is added
// inside the square root, the mean square starts at 1 rather than 0, and
// the learning rate scales the update before the momentum accumulates it
// (so a changing learning rate does not rescale the momentum). Per
// trainable variable p with gradient g:
//
//	g ← g + WeightDecay·p        (L2 on the loss, as TF's recipe adds it)
//	ms ← Decay·ms + (1−Decay)·g²
//	mom ← Momentum·mom + LR·g/√(ms + Eps)
//	p ← p − mom
//
// Its state lives in tensors this package owns, so a run can stop
// between epochs and continue exactly (State.RMSMeanSquare, Momentum).
type RMSProp struct {
	LR, Decay, Momentum, Eps, WeightDecay float64

	vs          *gnn.VarStore // keeps the variables alive (see Adam)
	names       []string      // trainable variables, sorted
	params      []*ts.Tensor
	ms, mom     []*ts.Tensor // mean square (ones at first) and momentum (zeros)
	scratch, sq []*ts.Tensor // a variable's temporaries during Step
}

// EfficientNet's RMSProp settings (Tan & Le 2019, section 5; the TPU
// code's defaults): decay and momentum 0.9, ε 1e-3, weight decay 1e-5.
const (
	RMSPropDecay       = 0.9
	RMSPropMomentum    = 0.9
	RMSPropEps         = 1e-3
	RMSPropWeightDecay = 1e-5
)

// NewRMSProp returns RMSProp over vs's trainable variables with
// EfficientNet's decay, momentum and ε, and the given learning rate and
// weight decay.
func NewRMSProp(vs *gnn.VarStore, lr, weightDecay float64) (*RMSProp, error) {
	r := &RMSProp{LR: lr, Decay: RMSPropDecay, Momentum: RMSPropMomentum, Eps: RMSPropEps, WeightDecay: weightDecay, vs: vs}
	vars := trainables(vs)
	r.names = sortedKeys(vars)
	err := libtorch.NoGrad(func() {
		for _, n := range r.names {
			p := vars[n]
			r.params = append(r.params, p)
			r.ms = append(r.ms, p.MustOnesLike(false))
			r.mom = append(r.mom, p.MustZerosLike(false))
			r.scratch = append(r.scratch, p.MustZerosLike(false))
			r.sq = append(r.sq, p.MustZerosLike(false))
		}
	})
	if err != nil {
		r.Drop()
		return nil, err
	}
	return r, nil
}

// SetLR sets the learning rate of the next steps.
func (r *RMSProp) SetLR(lr float64) { r.LR = lr }

// ZeroGrad zeroes every defined gradient.
func (r *RMSProp) ZeroGrad() (err error) {
	defer recoverErr(&err, "zero gradients")
	for _, p := range r.params {
		g := p.MustGrad(false)
		if g.MustDefined() {
			libtorch.InPlace(g, lib.AtgZero_)
		}
		g.MustDrop()
	}
	return nil
}

// Step updates every variable that has a gradient, in place through two
// scratch tensors per variable (no allocation).
func (r *RMSProp) Step() (err error) {
	defer recoverErr(&err, "rmsprop step")
	return libtorch.NoGrad(func() {
		for i, p := range r.params {
			g := p.MustGrad(false)
			if !g.MustDefined() {
				g.MustDrop()
				continue
			}
			ms, mom, s, sq := r.ms[i], r.mom[i], r.scratch[i], r.sq[i]
			// s ← g + wd·p
			s.Copy_(p)
			scaleInPlace(s, r.WeightDecay)
			libtorch.Add_(s, g)
			g.MustDrop()
			sc := lib.Ctensor(s.Ctensor())
			// ms ← decay·ms + (1−decay)·s²
			libtorch.InPlace(sq, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgMulOut(out, self, sc, sc) })
			scaleInPlace(sq, 1-r.Decay)
			scaleInPlace(ms, r.Decay)
			libtorch.Add_(ms, sq)
			// sq ← √(ms + ε); mom ← momentum·mom + lr·s/sq; p ← p − mom
			sq.Copy_(ms)
			withScalar(sq, r.Eps, lib.AtgAddScalar_)
			libtorch.InPlace(sq, lib.AtgSqrt_)
			scaleInPlace(s, r.LR)
			scaleInPlace(mom, r.Momentum)
			sqc := lib.Ctensor(sq.Ctensor())
			libtorch.InPlace(mom, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgAddcdiv_(out, self, sc, sqc) })
			momc := lib.Ctensor(mom.Ctensor())
			libtorch.InPlace(p, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgSub_(out, self, momc) })
		}
	})
}

// Drop frees the optimizer's tensors.
func (r *RMSProp) Drop() {
	for _, group := range [][]*ts.Tensor{r.ms, r.mom, r.scratch, r.sq} {
		for _, t := range group {
			t.MustDrop()
		}
	}
	r.ms, r.mom, r.scratch, r.sq = nil, nil, nil, nil
}

// state copies the mean squares and momenta, by variable name.
func (r *RMSProp) state() (ms, mom map[string]*ts.Tensor, err error) {
	ms, mom = map[string]*ts.Tensor{}, map[string]*ts.Tensor{}
	err = libtorch.NoGrad(func() {
		for i, n := range r.names {
			ms[n], mom[n] = copyTensor(r.ms[i]), copyTensor(r.mom[i])
		}
	})
	return ms, mom, err
}

// setState loads what state saved: every trainable variable's, of its
// shape.
func (r *RMSProp) setState(ms, mom map[string]*ts.Tensor) error {
	if len(ms) != len(r.names) || len(mom) != len(r.names) {
		return fmt.Errorf("the state has RMSProp buffers for %d and %d variables, the model %d trainable ones", len(ms), len(mom), len(r.names))
	}
	for i, n := range r.names {
		want := fmt.Sprint(r.params[i].MustSize())
		if ms[n] == nil || mom[n] == nil || fmt.Sprint(ms[n].MustSize()) != want || fmt.Sprint(mom[n].MustSize()) != want {
			return fmt.Errorf("RMSProp buffers of %s: missing, or not of the model's shape %v", n, want)
		}
	}
	return libtorch.NoGrad(func() {
		for i, n := range r.names {
			r.ms[i].Copy_(ms[n])
			r.mom[i].Copy_(mom[n])
		}
	})
}
