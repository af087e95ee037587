package autodropout_test

import (
	"runtime"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// DropBlock builds its mask with in-place ops; gotch's in-place methods
// leave a handle behind that keeps the mask's storage alive, which leaked
// one mask per call (18 MB a WRN-16-2 step). The C heap in use must stay
// flat over training steps.
func TestDropBlockFreesItsMasks(t *testing.T) {
	if u, _ := train.MallocBytes(); u == 0 {
		t.Skip("mallinfo2 is missing")
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const mb = 1 << 20
	for _, tc := range []struct {
		dt gotch.DType
		sc autodropout.Scope
	}{{gotch.BFloat16, autodropout.PerBatch}, {gotch.Float, autodropout.PerMask}} {
		d := &autodropout.DropBlock{P: 0.1, BlockSize: 3, Scope: tc.sc}
		x := ts.MustRandn([]int64{64, 32, 28, 28}, gotch.Float, gotch.CPU).MustTotype(tc.dt, true).MustSetRequiresGrad(true, true)
		step := func() {
			y := d.ForwardT(x, true)
			s := y.MustSum(gotch.Float, true)
			s.MustBackward()
			s.MustDrop()
		}
		inUse := func() float64 {
			runtime.GC()
			u, _ := train.MallocBytes()
			return float64(u) / mb
		}
		for i := 0; i < 3; i++ {
			step()
		}
		before := inUse()
		for i := 0; i < 20; i++ {
			step()
		}
		maskMB := float64(64*32*28*28*tc.dt.Size()) / mb
		if grew := inUse() - before; grew > 2*maskMB {
			t.Errorf("%v %v: C heap in use grew %.1f MB over 20 steps (a mask is %.1f MB)", tc.dt, d, grew, maskMB)
		}
		x.MustDrop()
	}
}
