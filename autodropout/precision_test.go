package autodropout

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Mixed precision (train's --precision bf16) hands the regularizers
// bfloat16 activations, inside libtorch's autocast region. These tests
// check that every module keeps its semantics there: the same masks as in
// float32 for the same seed, the same rescaling up to the rounding of the
// factor to the activation's dtype, the activation's dtype kept, and the
// identity at evaluation.

// lowPrecisionCases are the modules with the inputs they take.
func lowPrecisionCases(t *testing.T) []struct {
	r     ts.ModuleT
	shape []int64
} {
	t.Helper()
	tp := func(p TransformerPattern) ts.ModuleT {
		d, err := NewTransformerDropout(p)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	vd, err := NewVariationalDropout(0.25)
	if err != nil {
		t.Fatal(err)
	}
	img := []int64{4, 8, 28, 28}
	seq := []int64{3, 16, 12}
	return []struct {
		r     ts.ModuleT
		shape []int64
	}{
		{mustNew(t, "dropout", Options{Rate: 0.1}), img},
		{mustNew(t, "spatial", Options{Rate: 0.2}), img},
		{mustNew(t, "dropblock", Options{Rate: 0.1, BlockSize: 3}), img},
		{mustNew(t, "dropblock", Options{Rate: 0.1, BlockSize: 4, Scope: PerMask}), img},
		// Separable patterns, rotated and sheared ones (whose kept counts
		// come from a matrix product), shared across channels, per batch.
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 3, Stride: 2, Repeat: 8}}), img},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.1}}), img},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 5, Stride: 1, Repeat: 32, Rotate: 45, ShearY: 0.2, ShareC: true}}), img},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 2, Stride: 3, Repeat: 4, Rotate: 15}, Scope: PerBatch}), img},
		{tp(TransformerPattern{Size: 2, Stride: 3, Repeat: 3, Noise: "zero"}), seq},
		{tp(TransformerPattern{Size: 1, Stride: 2, Repeat: 4, Noise: "zero", PerFeature: true}), seq},
		{tp(TransformerPattern{Size: 2, Stride: 2, Repeat: 2, Noise: "gaussian", Sigma: 0.5}), seq},
		{vd, seq},
	}
}

// forwardIn runs r on x in training mode, inside a bf16 autocast region
// when autocast is set, and returns the output as float64 values with its
// dtype.
func forwardIn(t *testing.T, r ts.ModuleT, x *ts.Tensor, autocast bool, seedV int64) (gotch.DType, []float64) {
	t.Helper()
	seed(t, seedV)
	if autocast {
		exit, err := libtorch.Autocast(gotch.CPU, libtorch.BF16)
		if err != nil {
			t.Fatal(err)
		}
		defer exit()
	}
	y := r.ForwardT(x, true)
	dt := y.DType()
	_, v := read(t, y)
	return dt, v
}

// In bfloat16 and float16, inside autocast or not, each module drops the
// same units as in float32 for the same seed and scales the kept ones by
// the same factor, rounded to the activation's precision.
func TestRegularizersInLowPrecision(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i, tc := range lowPrecisionCases(t) {
		name := fmt.Sprint(tc.r)
		seed(t, 100+int64(i))
		// Positive inputs away from zero: a dropped unit is exactly 0, a
		// kept one is not.
		x32, err := ts.Rand(tc.shape, gotch.Float, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		x32 = x32.MustAddScalar(ts.FloatScalar(0.5), true)
		_, want := forwardIn(t, tc.r, x32, false, int64(i))
		for _, c := range []struct {
			dt       gotch.DType
			autocast bool
			eps      float64 // unit roundoff of dt
		}{
			{gotch.BFloat16, false, 0x1p-8},
			{gotch.BFloat16, true, 0x1p-8},
			{gotch.Half, false, 0x1p-11},
		} {
			xl := x32.MustTotype(c.dt, false)
			_, xv := read(t, xl.MustShallowClone())
			dt, got := forwardIn(t, tc.r, xl, c.autocast, int64(i))
			xl.MustDrop()
			if dt != c.dt {
				t.Errorf("%s in %v (autocast %v): output %v, want %v", name, c.dt, c.autocast, dt, c.dt)
				continue
			}
			_, x32v := read(t, x32.MustShallowClone())
			bad := 0
			for j := range want {
				// want = x·f in float32; got = round(round(x)·round(f)).
				// Each rounding is at most eps relative.
				if (want[j] == 0) != (got[j] == 0) {
					bad++
					continue
				}
				if want[j] == 0 {
					continue
				}
				f := want[j] / x32v[j]
				if math.Abs(got[j]-xv[j]*f) > 3*c.eps*math.Abs(xv[j]*f) {
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%s in %v (autocast %v): %d of %d units differ from float32's mask and scale", name, c.dt, c.autocast, bad, len(want))
			}
		}
		x32.MustDrop()
	}
}

// A pattern's masks come from a table built at its first use on a map
// size; a first use inside an autocast region must not build it in
// bfloat16 (whose integers stop being exact at 256) for every later use.
func TestPatternTableBuiltUnderAutocast(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, p := range []Pattern{
		{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.1},
		{Size: 4, Stride: 1, Repeat: 32, Rotate: 60},
	} {
		// A map size no other test uses: the table is new here.
		const n, c, h, w = 2, 3, 29, 31
		d, err := NewPatternDropout(p, ScopeDefault)
		if err != nil {
			t.Fatal(err)
		}
		x := ones(t, n, c, h, w).MustTotype(gotch.BFloat16, true)
		_, inside := forwardIn(t, d, x, true, 7)
		x.MustDrop()
		x32 := ones(t, n, c, h, w)
		_, outside := forwardIn(t, d, x32, false, 7)
		x32.MustDrop()
		for i, pl := range planes(inside, h*w) {
			if m := mean(pl); math.Abs(m-1) > 0x1p-7 {
				t.Errorf("%v: plane %d averages %v inside autocast, want 1", p, i, m)
			}
		}
		for i, pl := range planes(outside, h*w) {
			if m := mean(pl); math.Abs(m-1) > 1e-5 {
				t.Errorf("%v: plane %d averages %v in float32 after a first use inside autocast, want 1", p, i, m)
			}
		}
		m, err := p.Mask(n, c, h, w, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		_, mv := read(t, m)
		for i, pl := range planes(mv, h*w) {
			for _, v := range pl {
				if v != 0 && v != 1 {
					t.Fatalf("%v: mask plane %d holds %v, want 0 or 1", p, i, v)
				}
			}
		}
	}
}

// A map higher than 256 cells, where a plane's dropped counts pass
// bfloat16's exact integers: inside autocast the counts must still be
// exact, or the kept cells are rescaled by a wrong factor.
func TestPatternCountsExactUnderAutocast(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := Pattern{Size: 20, Stride: 1, Repeat: 14, Rotate: 10}
	const n, c, h, w = 2, 2, 300, 8
	for _, sc := range []Scope{PerMask, PerBatch} {
		d, err := NewPatternDropout(p, sc)
		if err != nil {
			t.Fatal(err)
		}
		x := ones(t, n, c, h, w).MustTotype(gotch.BFloat16, true)
		_, inside := forwardIn(t, d, x, true, 9)
		x.MustDrop()
		x32 := ones(t, n, c, h, w)
		_, outside := forwardIn(t, d, x32, false, 9)
		x32.MustDrop()
		for i := range inside {
			if (inside[i] == 0) != (outside[i] == 0) || math.Abs(inside[i]-outside[i]) > 0x1p-8*outside[i] {
				t.Fatalf("%v scope %v: unit %d is %v inside autocast, %v in float32", p, sc, i, inside[i], outside[i])
			}
		}
		// Both may come from one table: check the rescaling itself.
		groups := planes(outside, h*w)
		if sc == PerBatch {
			groups = [][]float64{outside}
		}
		for i, g := range groups {
			if m := mean(g); math.Abs(m-1) > 1e-5 {
				t.Errorf("%v scope %v: plane %d averages %v, want 1", p, sc, i, m)
			}
		}
	}
}

// At evaluation every module is the identity in low precision too.
func TestRegularizersIdentityInLowPrecision(t *testing.T) {
	for _, tc := range lowPrecisionCases(t) {
		x := randn(t, tc.shape...).MustTotype(gotch.BFloat16, true)
		_, xv := read(t, x.MustShallowClone())
		y := tc.r.ForwardT(x, false)
		if y.DType() != gotch.BFloat16 {
			t.Errorf("%v at evaluation: %v, want BFloat16", tc.r, y.DType())
		}
		_, yv := read(t, y)
		for i := range xv {
			if xv[i] != yv[i] {
				t.Fatalf("%v at evaluation changed unit %d: %v → %v", tc.r, i, xv[i], yv[i])
			}
		}
		x.MustDrop()
	}
}

// The gradient through a module in bfloat16 is bfloat16 and equals the
// scaled mask, as in float32.
func TestRegularizerGradientInBF16(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	d := mustNew(t, "pattern", Options{Pattern: Pattern{Size: 2, Stride: 2, Repeat: 8, Rotate: 20}})
	w := ones(t, 2, 3, 8, 8).MustTotype(gotch.BFloat16, true)
	defer w.MustDrop()
	w.MustRequiresGrad_(true)
	y := d.ForwardT(w, true)
	s := y.MustSum(gotch.Float, false)
	s.MustBackward()
	s.MustDrop()
	_, yv := read(t, y)
	g := w.MustGrad(false)
	if g.DType() != gotch.BFloat16 {
		t.Errorf("gradient %v, want BFloat16", g.DType())
	}
	_, gv := read(t, g)
	for i := range gv {
		if gv[i] != yv[i] { // on ones, y is the scaled mask
			t.Fatalf("gradient %v at %d, want the scaled mask's %v", gv[i], i, yv[i])
		}
	}
}
