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
			name := tc.name
			if name == "none" {
				name = ""
			}
			m, opt, batch := wrnStep(b, 16, 2, 128, name, tc.opt, bnSites)
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

// wrnStep builds WRN-depth-width for 1×28×28 inputs with regularizer reg
// (none when "") at the sites that match, its SGD optimizer, and a fixed
// batch of n examples: one training step's worth of fixture.
func wrnStep(tb testing.TB, depth, width, n int, reg string, o autodropout.Options, sites func(string) bool) (*nn.WRN, *gnn.Optimizer, *data.Batch) {
	tb.Helper()
	libtorch.ManualSeed(1)
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewWRN(vs.Root(), depth, width, 1, 10)
	if err != nil {
		tb.Fatal(err)
	}
	if reg != "" {
		r, err := autodropout.New(reg, o)
		if err != nil {
			tb.Fatal(err)
		}
		m.Sites().SetAll(r, sites)
	}
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.01)
	if err != nil {
		tb.Fatal(err)
	}
	batch := &data.Batch{X: make([]float32, n*28*28), Y: make([]int64, n), N: n, C: 1, H: 28, W: 28}
	for i := range batch.X {
		batch.X[i] = float32(i%97)/48 - 1
	}
	for i := range batch.Y {
		batch.Y[i] = int64(i % 10)
	}
	return m, opt, batch
}
