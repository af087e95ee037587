package autodropout

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// wrn162Sites are the shapes at WRN-16-2's six dropout sites on a batch of
// 128 Fashion-MNIST images (autodropout bench's default model).
var wrn162Sites = [][]int64{
	{128, 32, 28, 28}, {128, 32, 28, 28},
	{128, 64, 14, 14}, {128, 64, 14, 14},
	{128, 128, 7, 7}, {128, 128, 7, 7},
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRegularizerStep times one training step's worth of a
// regularizer on one thread: forward and backward at the six sites of
// WRN-16-2, in fp32 and bf16 (the dtype the sites see under autocast).
// cpu-ns/op is the process's CPU time, steadier than wall time on a shared
// machine; compare a variant with none.
func BenchmarkRegularizerStep(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := libtorch.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	regs := []Regularizer{mustNew(b, "none", Options{}),
		mustNew(b, "dropblock", Options{Rate: 0.1, BlockSize: 3}),
		mustNew(b, "dropblock", Options{Rate: 0.1, BlockSize: 7})}
	for _, dt := range []gotch.DType{gotch.Float, gotch.BFloat16} {
		xs := make([]*ts.Tensor, len(wrn162Sites))
		for i, s := range wrn162Sites {
			x := ts.MustRandn(s, gotch.Float, gotch.CPU).MustTotype(dt, true)
			xs[i] = x.MustSetRequiresGrad(true, true)
		}
		for _, r := range regs {
			b.Run(fmt.Sprintf("%v/%v", dt, r), func(b *testing.B) {
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					for _, x := range xs {
						y := r.ForwardT(x, true)
						s := y.MustSum(gotch.Float, true)
						s.MustBackward()
						s.MustDrop()
					}
				}
				b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
			})
		}
		for _, x := range xs {
			x.MustDrop()
		}
	}
}
