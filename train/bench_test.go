package train

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// BenchmarkStep times one training step (forward, backward, SGD) of
// WRN-16-2 on a batch of 128 Fashion-MNIST-sized images, with each
// regularizer at every batch-norm site. Compare the sub-benchmarks of one
// run (the machines are noisy across runs):
//
//	go test -run - -bench Step -benchtime 10x ./train/
func BenchmarkStep(b *testing.B) {
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
			m, opt, batch := wrnStep(b, 16, 2, 128, name, tc.opt, bnSite)
			step(m, opt, batch, gotch.CPU, nil) // warm-up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := step(m, opt, batch, gotch.CPU, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStepWRN28 times WRN-28-2's training step on a batch of 128
// CIFAR-sized (3×32×32) images with each regularizer at the second batch
// norm of every block, where the hand-written pattern file puts patterns:
//
//	go test -run - -bench StepWRN28 -benchtime 5x ./train/
func BenchmarkStepWRN28(b *testing.B) {
	bn2 := regexp.MustCompile(`^block\d\.layer\.\d+\.bn2$`).MatchString
	for _, tc := range stepCases() {
		b.Run(tc.name, func(b *testing.B) {
			release, err := libtorch.TrainThread()
			if err != nil {
				b.Fatal(err)
			}
			defer release()
			m, opt, batch := wrnStepIn(b, 28, 2, 128, []int{3, 32, 32}, tc.reg, tc.opt, bn2)
			step(m, opt, batch, gotch.CPU, nil) // warm-up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := step(m, opt, batch, gotch.CPU, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bnSite matches every batch-norm output, the paper's sites.
var bnSite = regexp.MustCompile(`bn\d+$`).MatchString

type stepCase struct {
	name, reg string
	opt       autodropout.Options
}

// stepCases are the regularizers the step benchmarks compare ("" for none).
func stepCases() []stepCase {
	return []stepCase{
		{"none", "", autodropout.Options{}},
		{"dropout", "dropout", autodropout.Options{Rate: 0.1}},
		{"dropblock", "dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3}},
		{"pattern", "pattern", autodropout.Options{Pattern: handPattern}},
	}
}

// handPattern is the pattern of configs/patterns/wrn-16-2-hand.json.
var handPattern = autodropout.Pattern{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.1}

// BenchmarkSite times one regularizer site alone: the module's forward on a
// WRN-16-2 activation at batch 128 and the backward through it (the
// multiply's gradient; of y.sum(), which every case pays alike), at each
// group's map size. Against none (a shallow
// clone), this is what a site adds to a step:
//
//	go test -run - -bench Site ./train/
func BenchmarkSite(b *testing.B) {
	release, err := libtorch.TrainThread()
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	for _, shape := range [][]int64{{128, 32, 28, 28}, {128, 64, 14, 14}, {128, 128, 7, 7}} {
		x := ts.MustRandn(shape, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
		for _, tc := range stepCases() {
			reg := tc.reg
			if reg == "" {
				reg = "none"
			}
			r, err := autodropout.New(reg, tc.opt)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", shape[1], shape[2], shape[3], tc.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					y := r.ForwardT(x, true)
					loss, err := y.Sum(gotch.Float, false)
					if err != nil {
						b.Fatal(err)
					}
					if err := loss.Backward(); err != nil {
						b.Fatal(err)
					}
					loss.MustDrop()
					y.MustDrop()
				}
			})
		}
		x.MustDrop()
	}
}

// wrnStep builds WRN-depth-width for 1×28×28 inputs with regularizer reg
// (none when "") at the sites that match, its SGD optimizer, and a fixed
// batch of n examples: one training step's worth of fixture.
func wrnStep(tb testing.TB, depth, width, n int, reg string, o autodropout.Options, sites func(string) bool) (*nn.WRN, *gnn.Optimizer, *data.Batch) {
	return wrnStepIn(tb, depth, width, n, []int{1, 28, 28}, reg, o, sites)
}

// wrnStepIn is wrnStep for inputs of shape in (C, H, W).
func wrnStepIn(tb testing.TB, depth, width, n int, in []int, reg string, o autodropout.Options, sites func(string) bool) (*nn.WRN, *gnn.Optimizer, *data.Batch) {
	tb.Helper()
	libtorch.ManualSeed(1)
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewWRN(vs.Root(), depth, width, int64(in[0]), 10)
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
	batch := &data.Batch{X: make([]float32, n*in[0]*in[1]*in[2]), Y: make([]int64, n), N: n, C: in[0], H: in[1], W: in[2]}
	for i := range batch.X {
		batch.X[i] = float32(i%97)/48 - 1
	}
	for i := range batch.Y {
		batch.Y[i] = int64(i % 10)
	}
	return m, opt, batch
}
