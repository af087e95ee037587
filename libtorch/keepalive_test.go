package libtorch

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// keepAliveSteps is how many nested forward passes the stress test runs.
// Before gotch's wrappers kept their arguments alive, the first corrupted
// or crashed pass came within a few hundred (see the test).
const keepAliveSteps = 1500

// TestNestedTemporariesSurviveGC runs gotch ops nested the way a newcomer
// writes them (the README's bn.ForwardT(conv.ForwardT(x, train), train),
// a Cat of temporaries, a temporary Scalar, a temporary added in place by
// Add_), with no intermediate held in a variable, while another goroutine
// forces one garbage collection after another. gotch frees a tensor from a finalizer once its Go value is
// unreachable, and an unnamed temporary is unreachable as soon as its C
// handle is read; the gotch copy that make setup builds keeps every
// argument alive until its C call returns (internal/gotchbuild,
// fixKeepAlive). Without that, this test crashed ("SmallVector unable to
// grow", SIGSEGV in a C call) or computed wrong numbers.
func TestNestedTemporariesSurviveGC(t *testing.T) {
	release, err := TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	vs := nn.NewVarStore(gotch.CPU)
	conv := nn.NewConv2D(vs.Root().Sub("conv"), 8, 16, 3, nn.NewConv2DConfig(nn.WithPadding2D(1)))
	bn := nn.BatchNorm2D(vs.Root().Sub("bn"), 16, nn.DefaultBatchNormConfig())
	x := ts.MustRandn([]int64{4, 8, 24, 24}, gotch.Float, gotch.CPU)
	defer x.MustDrop()

	want := nestedReference(conv, bn, x)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // collections during every C call of the loop below
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	defer debug.SetGCPercent(debug.SetGCPercent(1))

	err = NoGrad(func() {
		for step := 0; step < keepAliveSteps; step++ {
			sum := conv.ForwardT(x, true)
			Add_(sum, conv.ForwardT(x, true).MustMulScalar(ts.FloatScalar(0.5), false))
			got := ts.MustCat([]*ts.Tensor{
				bn.ForwardT(conv.ForwardT(x, true), true).MustRelu(false),
				sum,
			}, 1).MustAbs(false).MustMean(gotch.Float, false).Float64Values()[0]
			sum.MustDrop()
			if math.Abs(got-want) > 1e-4*math.Abs(want) {
				t.Fatalf("step %d: nested ops gave %v, the same ops with named tensors %v: a temporary was freed while libtorch used it", step, got, want)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(vs)
}

// nestedReference computes the test's expression with every tensor named
// and kept alive explicitly.
func nestedReference(conv *nn.Conv2D, bn *nn.BatchNorm, x *ts.Tensor) float64 {
	var out float64
	err := NoGrad(func() {
		c1 := conv.ForwardT(x, true)
		b := bn.ForwardT(c1, true)
		r := b.MustRelu(false)
		c2 := conv.ForwardT(x, true)
		half := ts.FloatScalar(0.5)
		m := c2.MustMulScalar(half, false)
		sum := c2.MustAdd(m, false)
		cat := ts.MustCat([]*ts.Tensor{r, sum}, 1)
		a := cat.MustAbs(false)
		mean := a.MustMean(gotch.Float, false)
		out = mean.Float64Values()[0]
		runtime.KeepAlive(half)
		for _, t := range []*ts.Tensor{c1, b, r, c2, m, sum, cat, a, mean} {
			t.MustDrop()
		}
	})
	if err != nil {
		panic(err)
	}
	return out
}
