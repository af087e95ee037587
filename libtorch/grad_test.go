package libtorch

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestNoGradRestoresMode(t *testing.T) {
	release, err := TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	w := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer w.MustDrop()
	var inside bool
	if err := NoGrad(func() {
		y := w.MustMulScalar(ts.FloatScalar(2), false)
		inside = y.MustRequiresGrad()
		y.MustDrop()
	}); err != nil {
		t.Fatal(err)
	}
	if inside {
		t.Error("NoGrad recorded a graph")
	}
	y := w.MustMulScalar(ts.FloatScalar(2), false)
	defer y.MustDrop()
	if !y.MustRequiresGrad() {
		t.Error("gradient recording still off after NoGrad")
	}
}

func TestSetGradEnabledReportsPreviousMode(t *testing.T) {
	release, err := TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, step := range []struct{ set, wantPrev bool }{{false, true}, {false, false}, {true, false}, {true, true}} {
		prev, err := setGradEnabled(step.set)
		if err != nil || prev != step.wantPrev {
			t.Fatalf("setGradEnabled(%v) = %v, %v; want previous %v", step.set, prev, err, step.wantPrev)
		}
	}
}
