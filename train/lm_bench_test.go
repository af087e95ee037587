package train

import (
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// BenchmarkLMStep times one training step (forward, backward, gradient
// clip, Adam: LMStep) of a small Transformer-XL (B=16, T=32, memory 32,
// vocabulary 800) with each regularizer on every site: go test ./train -bench LMStep -run XXX
func BenchmarkLMStep(b *testing.B) {
	drop, _ := autodropout.NewDropout(0.1)
	vari, _ := autodropout.NewVariationalDropout(0.1)
	pat, _ := autodropout.NewTransformerDropout(autodropout.TransformerPattern{Size: 2, Stride: 8, Repeat: 4, Noise: "zero"})
	for _, c := range []struct {
		name string
		m    ts.ModuleT
	}{{"none", nil}, {"dropout", drop}, {"variational", vari}, {"pattern", pat}} {
		b.Run(c.name, func(b *testing.B) {
			release, vs, m := benchTXL(b)
			defer release()
			if c.m != nil {
				m.Sites().SetAll(c.m, nil)
			}
			opt, err := LMOptimizer(vs, "adam", 1e-3)
			if err != nil {
				b.Fatal(err)
			}
			defer opt.(*Adam).Drop()
			x := ts.MustRandint(800, []int64{16, 32}, gotch.Int64, gotch.CPU)
			var mems []*ts.Tensor
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// The training step of TrainLM, with the small config's clip.
				if _, mems, err = LMStep(vs, opt, m, x, x, mems, 0.25); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdamStep times the optimizer step alone on the small
// Transformer-XL of BenchmarkLMStep (gradients from one backward pass):
// libtorch's Adam against this package's, whose state can be saved:
// go test ./train -bench AdamStep -run XXX
func BenchmarkAdamStep(b *testing.B) {
	for _, name := range []string{"libtorch", "go"} {
		b.Run(name, func(b *testing.B) {
			release, vs, m := benchTXL(b)
			defer release()
			var opt Optimizer
			var err error
			if name == "libtorch" {
				opt, err = gnn.DefaultAdamConfig().Build(vs, 1e-3)
			} else {
				var a *Adam
				a, err = NewAdam(vs, 1e-3)
				defer a.Drop()
				opt = a
			}
			if err != nil {
				b.Fatal(err)
			}
			x := ts.MustRandint(800, []int64{16, 32}, gotch.Int64, gotch.CPU)
			_, mems, err := LMStep(vs, opt, m, x, x, nil, 0.25)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range mems {
				t.MustDrop()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := opt.Step(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchTXL pins a training thread (call release when done) and builds the
// benchmarks' small Transformer-XL (B=16, T=32, memory 32, vocabulary 800).
func benchTXL(b *testing.B) (release func(), vs *gnn.VarStore, m *nn.TransformerXL) {
	b.Helper()
	release, err := libtorch.TrainThread()
	if err != nil {
		b.Fatal(err)
	}
	vs = gnn.NewVarStore(gotch.CPU)
	cfg := nn.TransformerXLConfig{NToken: 800, NLayer: 2, DModel: 64, NHead: 4, DHead: 16, DInner: 128, TgtLen: 32, MemLen: 32}
	if m, err = nn.NewTransformerXL(vs.Root(), cfg); err != nil {
		release()
		b.Fatal(err)
	}
	return release, vs, m
}
