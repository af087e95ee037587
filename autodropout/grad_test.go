package autodropout

import (
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// The gradient of a dropped unit is exactly zero, and that of a kept one is
// not: the regularizers are masks, not noise.
func TestGradientZeroExactlyWhereDropped(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	seed(t, 4)
	for _, r := range allRegularizers(t)[1:] {
		x := randn(t, 4, 3, 12, 10) // never exactly zero
		x.MustRequiresGrad_(true)
		y := r.ForwardT(x, true)
		// Weight the outputs so the gradient is not the mask itself.
		w := randn(t, 4, 3, 12, 10)
		s := y.MustMul(w, false).MustSum(gotch.Float, true)
		s.MustBackward()
		_, yv := read(t, y)
		_, gv := read(t, x.MustGrad(false))
		dropped := 0
		for i := range yv {
			if (yv[i] == 0) != (gv[i] == 0) {
				t.Fatalf("%v: unit %d has output %v but gradient %v", r, i, yv[i], gv[i])
			}
			if yv[i] == 0 {
				dropped++
			}
		}
		if dropped == 0 || dropped == len(yv) {
			t.Errorf("%v dropped %d of %d units", r, dropped, len(yv))
		}
		for _, t := range []interface{ MustDrop() }{x, y, w, s} {
			t.MustDrop()
		}
	}
}

// A full-width horizontal stripe turned by 90° is a full-height vertical
// stripe.
func TestStripeRotatedIsVertical(t *testing.T) {
	const s = 16
	for _, angle := range []float64{0, 90} {
		p := Pattern{Height: 1, Width: s, Stride: 1, Repeat: 1, Rotate: angle}
		seed(t, 2)
		_, m := mask(t, p, 3, 2, s, s)
		for plane := 0; plane < 6; plane++ {
			v := m[plane*s*s : (plane+1)*s*s]
			bh, bw, cells := droppedBox(v, s, s)
			wantH, wantW := 1, s
			if angle == 90 {
				wantH, wantW = s, 1
			}
			if bh != wantH || bw != wantW || cells != s {
				t.Errorf("rotate %v, plane %d: dropped %d cells in a %d×%d box, want %d in %d×%d", angle, plane, cells, bh, bw, s, wantH, wantW)
			}
		}
	}
}
