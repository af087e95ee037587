package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func TestLossScalerStateMachine(t *testing.T) {
	s := &LossScaler{Scale: 8, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 3}
	for i, tc := range []struct {
		overflow  bool
		wantStep  bool
		wantScale float64
	}{
		{false, true, 8},
		{false, true, 8},
		{false, true, 16}, // third good step in a row: grow
		{true, false, 8},  // overflow: skip and back off
		{false, true, 8},
		{false, true, 8},
		{true, false, 4}, // the count of good steps starts over
		{true, false, 2},
		{false, true, 2},
		{false, true, 2},
		{false, true, 4},
	} {
		if got := s.Update(tc.overflow); got != tc.wantStep || s.Scale != tc.wantScale {
			t.Fatalf("update %d (overflow %v): step %v, scale %v; want %v, %v", i, tc.overflow, got, s.Scale, tc.wantStep, tc.wantScale)
		}
	}
	// The scale never grows to infinity.
	s = &LossScaler{Scale: math.MaxFloat64, GrowthFactor: 2, BackoffFactor: 0.5, GrowthInterval: 1}
	s.Update(false)
	if s.Scale != math.MaxFloat64 {
		t.Errorf("scale grew to %v", s.Scale)
	}
	if d := NewLossScaler(); d.Scale != 65536 || d.GrowthFactor != 2 || d.BackoffFactor != 0.5 || d.GrowthInterval != 2000 {
		t.Errorf("defaults %+v, want PyTorch's GradScaler defaults", d)
	}
}

// convStep builds the small ConvNet on 8×8 images, its optimizer and a
// batch; the same seed gives the same weights.
func convStep(t *testing.T) (*gnn.VarStore, ts.ModuleT, *gnn.Optimizer, *data.Batch) {
	t.Helper()
	libtorch.ManualSeed(7)
	vs := gnn.NewVarStore(gotch.CPU)
	m := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	im := halves(16, 0.25)
	l, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16})
	var b *data.Batch
	for x := range l.Epoch(context.Background(), 0) {
		b = x
	}
	return vs, m, opt, b
}

// weights returns the trainable variables' values by name (batch-norm
// statistics, which every forward pass in training updates, left out).
func weights(vs *gnn.VarStore) map[string][]float64 {
	out := map[string][]float64{}
	for name, v := range nn.Variables(vs) {
		if !v.MustRequiresGrad() {
			continue
		}
		out[name] = v.MustTotype(gotch.Double, false).Float64Values(true)
	}
	return out
}

// The loss scaler's path (scale, backward, unscale, finiteness check)
// gives exactly the plain step's weights when nothing overflows: a power of
// two scales and unscales float32 gradients without rounding. The CPU has
// no float16 autocast, so this runs the scaler on a float32 step; on CUDA
// the same code runs under float16 autocast.
func TestLossScaledStepMatchesPlainStep(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	vs1, m1, opt1, b := convStep(t)
	vs2, m2, opt2, _ := convStep(t)
	amp := &AMP{Precision: libtorch.FP32, Device: gotch.CPU, Scaler: NewLossScaler(), vars: vs2.TrainableVariables()}
	for i := 0; i < 3; i++ {
		if _, err := step(m1, opt1, b, gotch.CPU, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := step(m2, opt2, b, gotch.CPU, amp); err != nil {
			t.Fatal(err)
		}
	}
	w1, w2 := weights(vs1), weights(vs2)
	for name, a := range w1 {
		for i := range a {
			if a[i] != w2[name][i] {
				t.Fatalf("%s[%d]: %v plain, %v loss-scaled", name, i, a[i], w2[name][i])
			}
		}
	}
	if amp.Scaler.Scale != 65536 {
		t.Errorf("scale %v after good steps, want 65536", amp.Scaler.Scale)
	}
}

// A scale so large that the gradients overflow skips the optimizer's
// step, leaves the weights alone and halves the scale; it is not an error.
func TestLossScalerSkipsOverflowingStep(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	vs, m, opt, b := convStep(t)
	before := weights(vs)
	sc := NewLossScaler()
	sc.Scale = 1e39 // beyond float32: the scaled loss is infinite
	amp := &AMP{Precision: libtorch.FP32, Device: gotch.CPU, Scaler: sc, vars: vs.TrainableVariables()}
	if _, err := step(m, opt, b, gotch.CPU, amp); err != nil {
		t.Fatal(err)
	}
	if sc.Scale != 5e38 {
		t.Errorf("scale %v after an overflow, want 5e38", sc.Scale)
	}
	after := weights(vs)
	for name, a := range before {
		for i := range a {
			if a[i] != after[name][i] {
				t.Fatalf("%s[%d] changed from %v to %v in a skipped step", name, i, a[i], after[name][i])
			}
		}
	}
	// At the smallest scale the scaler accepts, finite gradients are an
	// ordinary step (only overflows there are divergence).
	sc.Scale = minLossScale
	if _, err := step(m, opt, b, gotch.CPU, amp); err != nil {
		t.Fatalf("finite gradients at the smallest scale: %v", err)
	}
	if sc.Scale != minLossScale {
		t.Errorf("scale %v after a good step, want %v", sc.Scale, minLossScale)
	}
}

// In bf16 the forward pass computes in bfloat16 while the weights, their
// gradients and the batch-norm statistics stay float32.
func TestBF16StepKeepsFloat32State(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	vs, m, opt, b := convStep(t)
	amp, err := NewAMP(libtorch.BF16, vs)
	if err != nil {
		t.Fatal(err)
	}
	if amp.Scaler != nil {
		t.Error("bf16 has a loss scaler")
	}
	for i := 0; i < 2; i++ {
		if _, err := StepAMP(m, opt, b, amp); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range nn.Variables(vs) {
		if dt := v.DType(); dt != gotch.Float {
			t.Errorf("%s is %v after bf16 steps, want Float", name, dt)
		}
	}
	for _, v := range vs.TrainableVariables() {
		g := v.MustGrad(false)
		if g.MustDefined() && g.DType() != gotch.Float {
			t.Errorf("a gradient is %v, want Float", g.DType())
		}
		g.MustDrop()
	}
	if on, _, _ := libtorch.AutocastState(gotch.CPU); on {
		t.Error("autocast still on after the step")
	}
	// The forward pass did run in bfloat16: the batch-norm outputs (the
	// regularizer sites) are bfloat16.
	rec := &dtypeRecorder{}
	m.(*nn.ConvNet).Sites().SetAll(rec, func(string) bool { return true })
	if _, err := StepAMP(m, opt, b, amp); err != nil {
		t.Fatal(err)
	}
	if len(rec.seen) != 2 || rec.seen[0] != gotch.BFloat16 || rec.seen[1] != gotch.BFloat16 {
		t.Errorf("the sites saw %v, want two BFloat16 activations", rec.seen)
	}
}

// dtypeRecorder is an identity site that records its inputs' dtypes.
type dtypeRecorder struct{ seen []gotch.DType }

func (r *dtypeRecorder) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	r.seen = append(r.seen, x.DType())
	return x.MustShallowClone()
}

func TestClassifierLearnsInBF16(t *testing.T) {
	libtorch.ManualSeed(1)
	im := halves(128, 0.25)
	tr, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 1})
	ev, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 64})
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Precision = 3, libtorch.BF16
	res, err := Classifier(context.Background(), vs, net, tr, ev, ev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Precision != "bf16" {
		t.Errorf("result precision %q, want bf16", res.Precision)
	}
	if *res.ValAcc < 0.95 {
		t.Errorf("bf16 validation accuracy %v on a separable task, want ≥ 0.95", *res.ValAcc)
	}
	// A checkpoint of a bf16 run holds float32 weights and loads into a
	// model that then evaluates in either precision to nearly the same
	// accuracy.
	path := filepath.Join(t.TempDir(), "model.ot")
	if err := nn.SaveCheckpoint(vs, path); err != nil {
		t.Fatal(err)
	}
	vs2 := gnn.NewVarStore(gotch.CPU)
	net2 := nn.NewConvNet(vs2.Root(), 1, 8, 8, 2)
	if _, err := nn.LoadCheckpoint(vs2, path, nil); err != nil {
		t.Fatal(err)
	}
	for name, v := range nn.Variables(vs2) {
		if v.DType() != gotch.Float {
			t.Errorf("loaded %s is %v, want Float", name, v.DType())
		}
	}
	fp32, err := Accuracy(context.Background(), net2, ev, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	amp, _ := NewAMP(libtorch.BF16, vs2)
	bf16, err := amp.accuracy(context.Background(), net2, ev)
	if err != nil {
		t.Fatal(err)
	}
	if bf16 != *res.ValAcc || math.Abs(fp32-bf16) > 0.02 {
		t.Errorf("reloaded: fp32 accuracy %v, bf16 %v; the run's bf16 accuracy %v", fp32, bf16, *res.ValAcc)
	}
	// And a float32 run continues from the bf16 checkpoint.
	cfg.Precision, cfg.Epochs = libtorch.FP32, 1
	res2, err := Classifier(context.Background(), vs2, net2, tr, ev, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Precision != "fp32" || *res2.ValAcc < 0.95 {
		t.Errorf("fp32 run from the bf16 checkpoint: %+v", res2)
	}
}

func TestClassifierRefusesFP16OnCPU(t *testing.T) {
	im := halves(16, 0.25)
	tr, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16})
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	cfg := DefaultConfig()
	cfg.Precision = libtorch.FP16
	if _, err := Classifier(context.Background(), vs, net, tr, nil, nil, cfg); err == nil {
		t.Error("fp16 on the CPU trained; want an error")
	}
}

func TestTrainLMLearnsInBF16(t *testing.T) {
	if err := libtorch.ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := 0; i < 2000; i++ {
		ids = append(ids, int64(i%7))
	}
	c := &data.Corpus{Vocab: data.NewVocab(), Train: ids, Valid: ids[:400], Test: ids[:400]}
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewTransformerXL(vs.Root(), nn.TransformerXLConfig{NToken: 7, NLayer: 2, DModel: 16, NHead: 2, DHead: 8, DInner: 32, TgtLen: 8, MemLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	res, err := TrainLM(context.Background(), vs, m, c, LMConfig{LR: 1e-2, Clip: 1, Steps: 150, BatchSize: 4, TgtLen: 8, Device: gotch.CPU, Precision: libtorch.BF16})
	if err != nil {
		t.Fatal(err)
	}
	if res.Precision != "bf16" || res.ValPPL > 2 || math.IsNaN(res.ValPPL) {
		t.Errorf("result %+v", res)
	}
}
