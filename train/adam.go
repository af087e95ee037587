package train

import (
	"fmt"
	"math"

	"github.com/autodropout/autodropout/libtorch"
	lib "github.com/sugarme/gotch/libtch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Optimizer is what a training step needs of an optimizer. gotch's
// *nn.Optimizer is one; so is Adam.
type Optimizer interface {
	ZeroGrad() error
	Step() error
	SetLR(lr float64)
}

// Adam is torch.optim.Adam (β = 0.9, 0.999, ε = 1e-8, no weight decay,
// no AMSGrad), as gotch's DefaultAdamConfig builds it in libtorch, but
// with its moments and step counts in tensors and fields this package
// owns: libtorch's optimizer keeps them where gotch cannot read or write
// them, so a language model trained with it could not stop at a rung and
// continue exactly. Its update is PyTorch's, with the first moment
// updated as m ← m + (1−β1)(g − m) (lerp, as PyTorch 2 computes it):
// the same numbers up to rounding.
type Adam struct {
	LR, Beta1, Beta2, Eps float64

	vs      *gnn.VarStore // keeps the variables alive: params share their handles, and gotch frees a tensor when its Go object is collected
	names   []string      // trainable variables, sorted
	params  []*ts.Tensor  // by names
	m, v    []*ts.Tensor  // first and second moments (zero before a variable's first step)
	scratch []*ts.Tensor  // a variable's temporaries during Step
	steps   []int         // steps taken per variable (a variable without a gradient takes none)
}

// NewAdam returns Adam over vs's trainable variables with step size lr.
func NewAdam(vs *gnn.VarStore, lr float64) (*Adam, error) {
	a := &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, vs: vs}
	vars := trainables(vs)
	a.names = sortedKeys(vars)
	err := libtorch.NoGrad(func() {
		for _, n := range a.names {
			p := vars[n]
			a.params = append(a.params, p)
			a.m = append(a.m, p.MustZerosLike(false))
			a.v = append(a.v, p.MustZerosLike(false))
			a.scratch = append(a.scratch, p.MustZerosLike(false))
			a.steps = append(a.steps, 0)
		}
	})
	if err != nil {
		a.Drop()
		return nil, err
	}
	return a, nil
}

// SetLR sets the step size of the next steps.
func (a *Adam) SetLR(lr float64) { a.LR = lr }

// ZeroGrad zeroes every defined gradient, as libtorch's zero_grad does.
func (a *Adam) ZeroGrad() (err error) {
	defer recoverErr(&err, "zero gradients")
	for _, p := range a.params {
		g := p.MustGrad(false)
		if g.MustDefined() {
			libtorch.InPlace(g, lib.AtgZero_)
		}
		g.MustDrop()
	}
	return nil
}

// Step updates every variable that has a gradient:
//
//	t ← t+1; m ← m + (1−β1)(g−m); v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
//
// in place, through a scratch tensor per variable: no allocation, about
// a dozen libtorch calls per variable.
func (a *Adam) Step() (err error) {
	defer recoverErr(&err, "adam step")
	return libtorch.NoGrad(func() {
		for i, p := range a.params {
			g := p.MustGrad(false)
			if !g.MustDefined() {
				g.MustDrop()
				continue
			}
			a.steps[i]++
			t := float64(a.steps[i])
			m, v, s := a.m[i], a.v[i], a.scratch[i]
			gc, mc, vc, sc := lib.Ctensor(g.Ctensor()), lib.Ctensor(m.Ctensor()), lib.Ctensor(v.Ctensor()), lib.Ctensor(s.Ctensor())
			withScalar(m, 1-a.Beta1, func(out *lib.Ctensor, self lib.Ctensor, w lib.Cscalar) { lib.AtgLerp_(out, self, gc, w) })
			libtorch.InPlace(s, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgMulOut(out, self, gc, gc) })
			g.MustDrop()
			scaleInPlace(s, 1-a.Beta2)
			scaleInPlace(v, a.Beta2)
			libtorch.Add_(v, s)
			if a.LR == 0 {
				continue
			}
			// s ← (√v/√(1−β2ᵗ) + ε) · (−(1−β1ᵗ)/lr); p ← p + m/s.
			libtorch.InPlace(s, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgSqrtOut(out, self, vc) })
			scaleInPlace(s, 1/math.Sqrt(1-math.Pow(a.Beta2, t)))
			withScalar(s, a.Eps, lib.AtgAddScalar_)
			scaleInPlace(s, -(1-math.Pow(a.Beta1, t))/a.LR)
			libtorch.InPlace(p, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgAddcdiv_(out, self, mc, sc) })
		}
	})
}

// Drop frees the moments.
func (a *Adam) Drop() {
	for _, group := range [][]*ts.Tensor{a.m, a.v, a.scratch} {
		for _, t := range group {
			t.MustDrop()
		}
	}
	a.m, a.v, a.scratch = nil, nil, nil
}

// state copies the moments and step counts, by variable name.
func (a *Adam) state() (m, v map[string]*ts.Tensor, steps map[string]int, err error) {
	m, v, steps = map[string]*ts.Tensor{}, map[string]*ts.Tensor{}, map[string]int{}
	err = libtorch.NoGrad(func() {
		for i, n := range a.names {
			m[n], v[n], steps[n] = copyTensor(a.m[i]), copyTensor(a.v[i]), a.steps[i]
		}
	})
	return m, v, steps, err
}

// setState loads moments and step counts saved by state: every trainable
// variable's, of its shape.
func (a *Adam) setState(m, v map[string]*ts.Tensor, steps map[string]int) error {
	for i, n := range a.names {
		if m[n] == nil || v[n] == nil {
			return fmt.Errorf("no Adam moments for %s", n)
		}
		want := fmt.Sprint(a.params[i].MustSize())
		if fmt.Sprint(m[n].MustSize()) != want || fmt.Sprint(v[n].MustSize()) != want {
			return fmt.Errorf("Adam moments of %s: shape %v in the state, %v in the model", n, m[n].MustSize(), want)
		}
	}
	if len(m) != len(a.names) {
		return fmt.Errorf("the state has Adam moments for %d variables, the model %d trainable ones", len(m), len(a.names))
	}
	return libtorch.NoGrad(func() {
		for i, n := range a.names {
			a.m[i].Copy_(m[n])
			a.v[i].Copy_(v[n])
			a.steps[i] = steps[n]
		}
	})
}

// scaleInPlace multiplies x by c in place (not gotch's MulScalar_, which
// leaks the handle it replaces).
func scaleInPlace(x *ts.Tensor, c float64) { withScalar(x, c, lib.AtgMulScalar_) }

// withScalar runs an in-place op of x and the scalar c.
func withScalar(x *ts.Tensor, c float64, op func(out *lib.Ctensor, self lib.Ctensor, c lib.Cscalar)) {
	libtorch.InPlace(x, func(out *lib.Ctensor, self lib.Ctensor) {
		s := lib.AtsFloat(c)
		defer lib.AtsFree(s)
		op(out, self, s)
	})
}

// recoverErr turns a panic of libtorch's in-place helpers into *err.
func recoverErr(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %v", what, r)
	}
}
