package train

import (
	"regexp"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// BenchmarkStep times one training step (forward, backward, SGD) of
// WRN-16-2 on a batch of 128 Fashion-MNIST-sized images, with each
// regularizer at every batch-norm site. Compare the sub-benchmarks of one
// run (the machines are noisy across runs):
//
//	go test -run - -bench Step -benchtime 10x ./train/
func BenchmarkStep(b *testing.B) {
	bnSites := regexp.MustCompile(`bn\d+$`).MatchString
	for _, tc := range []struct {
		name string
		opt  autodropout.Options
	}{
		{"none", autodropout.Options{}},
		{"dropout", autodropout.Options{Rate: 0.1}},
		{"spatial", autodropout.Options{Rate: 0.1}},
		{"dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3}},
		{"pattern", autodropout.Options{Pattern: autodropout.Pattern{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.1}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			release, err := libtorch.TrainThread()
			if err != nil {
				b.Fatal(err)
			}
			defer release()
			libtorch.ManualSeed(1)
			vs := gnn.NewVarStore(gotch.CPU)
			m, err := nn.NewWRN(vs.Root(), 16, 2, 1, 10)
			if err != nil {
				b.Fatal(err)
			}
			name := tc.name
			if name == "none" {
				name = ""
			}
			if name != "" {
				reg, err := autodropout.New(name, tc.opt)
				if err != nil {
					b.Fatal(err)
				}
				m.Sites().SetAll(reg, bnSites)
			}
			opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.01)
			if err != nil {
				b.Fatal(err)
			}
			batch := &data.Batch{X: make([]float32, 128*28*28), Y: make([]int64, 128), N: 128, C: 1, H: 28, W: 28}
			for i := range batch.X {
				batch.X[i] = float32(i%97)/48 - 1
			}
			for i := range batch.Y {
				batch.Y[i] = int64(i % 10)
			}
			step(m, opt, batch, gotch.CPU) // warm-up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := step(m, opt, batch, gotch.CPU); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
