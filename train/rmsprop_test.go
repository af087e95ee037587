package train

import (
	"math"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// RMSProp's steps are its definition (TensorFlow's: ε inside the square
// root, the mean square starting at 1, the learning rate inside the
// momentum), computed here in float64 from the gradients libtorch gives,
// over steps whose learning rate changes.
func TestRMSPropMatchesDefinition(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	libtorch.ManualSeed(3)
	vs := gnn.NewVarStore(gotch.CPU)
	m := mlp{gnn.NewLinear(vs.Root().Sub("l1"), 5, 4, gnn.DefaultLinearConfig()), gnn.NewLinear(vs.Root().Sub("l2"), 4, 2, gnn.DefaultLinearConfig())}
	const wd = 0.01
	opt, err := NewRMSProp(vs, 0.1, wd)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Drop()
	x := ts.MustRandn([]int64{8, 5}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	ms, mom := map[string][]float64{}, map[string][]float64{}
	for step := range 6 {
		lr := 0.1 / float64(step+1)
		opt.SetLR(lr)
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		loss := m.Forward(x).MustSquare(true).MustMean(gotch.Float, true)
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
		want := map[string][]float64{}
		for name, p := range trainables(vs) {
			g := p.MustGrad(false)
			gs, ps := g.Float64Values(), p.Float64Values()
			g.MustDrop()
			if ms[name] == nil {
				ms[name], mom[name] = ones(len(ps)), make([]float64, len(ps))
			}
			for i := range ps {
				gi := gs[i] + wd*ps[i]
				ms[name][i] = 0.9*ms[name][i] + 0.1*gi*gi
				mom[name][i] = 0.9*mom[name][i] + lr*gi/math.Sqrt(ms[name][i]+1e-3)
				ps[i] -= mom[name][i]
			}
			want[name] = ps
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		for name, p := range trainables(vs) {
			for i, v := range p.Float64Values() {
				if d := math.Abs(v - want[name][i]); d > 1e-5*(1+math.Abs(v)) {
					t.Fatalf("step %d, %s[%d] = %v, want %v", step, name, i, v, want[name][i])
				}
			}
		}
	}
}

func ones(n int) []float64 {
	o := make([]float64, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

// A run with RMSProp and the exponential schedule with warmup stops and
// continues exactly, as SGD's does (TestResumeIsExact).
func TestResumeIsExactRMSProp(t *testing.T) {
	oneThread(t)
	resumeIsExact(t, libtorch.FP32, "rmsprop")
}

func TestScheduleFactor(t *testing.T) {
	eff := Schedule{Kind: "exponential", DecayRate: 0.97, DecayEpochs: 2.4, WarmupEpochs: 5}
	for _, tc := range []struct {
		s                     Schedule
		step, total, perEpoch int
		want                  float64
	}{
		{Schedule{}, 0, 100, 10, 1},
		{Schedule{}, 50, 100, 10, 0.5},
		{Schedule{WarmupEpochs: 2}, 5, 100, 10, 0.25 * 0.5 * (1 + math.Cos(math.Pi*0.05))}, // a quarter of the warmup
		{eff, 0, 1000, 10, 0},
		{eff, 25, 1000, 10, 0.5 * 0.97},          // half the warmup, after the first decay (2.4)
		{eff, 60, 1000, 10, math.Pow(0.97, 2)},   // epoch 6: two decays (2.4, 4.8)
		{eff, 239, 1000, 10, math.Pow(0.97, 9)},  // epoch 23.9
		{eff, 240, 1000, 10, math.Pow(0.97, 10)}, // staircase at 24
	} {
		if got := tc.s.factor(tc.step, tc.total, tc.perEpoch); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v step %d: factor %v, want %v", tc.s, tc.step, got, tc.want)
		}
	}
	for _, bad := range []Schedule{{Kind: "step"}, {Kind: "exponential", DecayRate: 1.1, DecayEpochs: 1}, {Kind: "exponential", DecayRate: 0.9}, {WarmupEpochs: -1}} {
		if bad.Check() == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
