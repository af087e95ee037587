package train

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Adam matches libtorch's Adam (gotch's DefaultAdamConfig) step for step
// on the same model, gradients and step sizes, up to float32 rounding.
func TestAdamMatchesLibtorch(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	build := func() (*gnn.VarStore, ts.Module) {
		if err := libtorch.ManualSeed(5); err != nil {
			t.Fatal(err)
		}
		vs := gnn.NewVarStore(gotch.CPU)
		l1 := gnn.NewLinear(vs.Root().Sub("l1"), 6, 8, gnn.DefaultLinearConfig())
		l2 := gnn.NewLinear(vs.Root().Sub("l2"), 8, 3, gnn.DefaultLinearConfig())
		return vs, mlp{l1, l2}
	}
	vsRef, mRef := build()
	ref, err := gnn.DefaultAdamConfig().Build(vsRef, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	vsOurs, mOurs := build()
	ours, err := NewAdam(vsOurs, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Drop()
	x := ts.MustRandn([]int64{16, 6}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	for step := range 30 {
		lr := 0.01 * (1 - float64(step)/40)
		for _, c := range []struct {
			m   ts.Module
			opt Optimizer
		}{{mRef, ref}, {mOurs, ours}} {
			c.opt.SetLR(lr)
			if err := c.opt.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
			out := c.m.Forward(x)
			loss := out.MustSquare(true).MustMean(gotch.Float, true)
			if err := loss.Backward(); err != nil {
				t.Fatal(err)
			}
			loss.MustDrop()
			if err := c.opt.Step(); err != nil {
				t.Fatal(err)
			}
		}
	}
	refVars, ourVars := nn.Variables(vsRef), nn.Variables(vsOurs)
	for name, r := range refVars {
		o := ourVars[name]
		diff := r.MustSub(o, false).MustAbs(true).MustMax(true).Float64Values(true)[0]
		scale := r.MustAbs(false).MustMax(true).Float64Values(true)[0]
		if diff > 1e-5*math.Max(scale, 1) {
			t.Errorf("%s: max |ours − libtorch| = %g after 30 steps (scale %g)", name, diff, scale)
		}
	}
}

type mlp struct{ l1, l2 *gnn.Linear }

func (m mlp) Forward(x *ts.Tensor) *ts.Tensor {
	h := m.l1.Forward(x).MustTanh(true)
	defer h.MustDrop()
	return m.l2.Forward(h)
}

// A language-model run stopped at a step, saved to a file and resumed
// ends exactly as the run that never stopped: the same weights, training
// loss and validation perplexity. The corpus wraps around (the memories
// reset) before and after the stop, and dropout draws masks throughout.
func TestTrainLMResumesExactly(t *testing.T) {
	// One OS thread for building the models too: libtorch's thread count
	// is per thread (package libtorch).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ids []int64
	for i := range 600 {
		ids = append(ids, int64((i*i+3*i)%11))
	}
	c := &data.Corpus{Name: "tiny", Vocab: data.NewVocab(), Train: ids[:300], Valid: ids[300:450], Test: ids[450:]}
	build := func() (*gnn.VarStore, *nn.TransformerXL) {
		if err := libtorch.ManualSeed(3); err != nil {
			t.Fatal(err)
		}
		cfg := nn.TransformerXLConfig{NToken: 11, NLayer: 2, DModel: 16, NHead: 2, DHead: 8, DInner: 32, TgtLen: 8, MemLen: 8, Dropout: 0.2, DropAtt: 0.1}
		vs := gnn.NewVarStore(gotch.CPU)
		m, err := nn.NewTransformerXL(vs.Root(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := nn.SetLMRegularizer(m.Sites(), "dropout", "", cfg); err != nil {
			t.Fatal(err)
		}
		return vs, m
	}
	// 300 tokens in 4 streams of 75: 74 predictions a stream, 10 segments
	// of 8 (the last shorter): 23 steps wrap twice, the stop at 13 falls
	// between the wraps.
	base := LMConfig{LR: 1e-2, Clip: 1, Steps: 23, BatchSize: 4, TgtLen: 8, Device: gotch.CPU, Seed: 7}
	vsA, mA := build()
	whole, err := TrainLM(context.Background(), vsA, mA, c, base)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "rung.state")
	vsB, mB := build()
	first := base
	first.StopStep = 13
	first.SaveState = func(s *State) error {
		defer s.Drop()
		if len(s.Mems) != 2 || len(s.AdamM) == 0 || s.Steps != 13 || s.Segment != 3 {
			t.Errorf("state: %d memories, %d Adam moments, step %d, segment %d; want 2, some, 13, 3", len(s.Mems), len(s.AdamM), s.Steps, s.Segment)
		}
		return s.Save(path)
	}
	rung, err := TrainLM(context.Background(), vsB, mB, c, first)
	if err != nil {
		t.Fatal(err)
	}
	if rung.Steps != 13 || rung.ValPPL <= 1 || rung.TestPPL != 0 {
		t.Errorf("rung result %+v: want 13 steps, a validation perplexity and no test", rung)
	}
	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Drop()
	vsC, mC := build() // a fresh process: other initial weights would be overwritten
	rest := base
	rest.Resume = st
	resumed, err := TrainLM(context.Background(), vsC, mC, c, rest)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ValPPL != whole.ValPPL || resumed.TestPPL != whole.TestPPL || resumed.TrainLoss != whole.TrainLoss || resumed.Steps != 23 || resumed.Tokens != whole.Tokens {
		t.Errorf("resumed %+v, unbroken %+v", resumed, whole)
	}
	want := nn.Variables(vsA)
	for name, v := range nn.Variables(vsC) {
		w := want[name]
		if !v.MustEqual(w, false) {
			t.Errorf("variable %s differs after the resume", name)
		}
	}

	// A resume needs a step schedule, and a state from before the stop.
	for _, bad := range []struct {
		cfg  LMConfig
		want string
	}{
		{LMConfig{LR: 1e-2, Steps: 13, StopStep: 13, BatchSize: 4, TgtLen: 8, Resume: st}, "resume after step 13 of a run that stops after step 13"},
		{LMConfig{LR: 1e-2, Duration: 1e9, StopStep: 5, BatchSize: 4, TgtLen: 8}, "want a number of steps and no duration"},
	} {
		vs, m := build()
		if _, err := TrainLM(context.Background(), vs, m, c, bad.cfg); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("TrainLM: %v, want %q", err, bad.want)
		}
	}
}
