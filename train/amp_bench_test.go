package train

import (
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// BenchmarkStepPrecision times WRN-16-2's training step (batch 128,
// 1×28×28) in each precision the CPU has, with no regularizer and with a
// pattern at every batch-norm output. Compare the sub-benchmarks of one
// run; `autodropout bench --precision fp32,bf16` alternates them instead:
//
//	go test -run - -bench StepPrecision -benchtime 10x ./train/
func BenchmarkStepPrecision(b *testing.B) {
	for _, reg := range []string{"", "pattern"} {
		for _, p := range []libtorch.Precision{libtorch.FP32, libtorch.BF16} {
			name := string(p) + "/none"
			if reg != "" {
				name = string(p) + "/" + reg
			}
			b.Run(name, func(b *testing.B) {
				release, err := libtorch.TrainThread()
				if err != nil {
					b.Fatal(err)
				}
				defer release()
				m, opt, batch := wrnStep(b, 16, 2, 128, reg, autodropout.Options{Pattern: handPattern}, bnSite)
				amp := &AMP{Precision: p, Device: gotch.CPU}
				StepAMP(m, opt, batch, amp) // warm-up
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := StepAMP(m, opt, batch, amp); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
