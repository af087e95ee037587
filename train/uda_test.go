package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func TestTSAThreshold(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		progress float64
		want     float64
	}{
		{"linear", 0, 0.1}, {"linear", 0.5, 0.55}, {"linear", 1, 1},
		{"log", 0, 0.1}, {"log", 1, 1 - 0.9*math.Exp(-5)}, {"log", 0.2, 0.1 + 0.9*(1-math.Exp(-1))},
		{"exp", 0, 0.1 + 0.9*math.Exp(-5)}, {"exp", 1, 1}, {"exp", 0.8, 0.1 + 0.9*math.Exp(-1)},
		{"", 0, 1}, {"", 0.7, 1},
	} {
		if got := TSAThreshold(tc.schedule, tc.progress, 10); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%q at %v: %v, want %v", tc.schedule, tc.progress, got, tc.want)
		}
	}
}

func TestUDACheck(t *testing.T) {
	stream, err := data.NewViewStream(halves(8, 0.25), data.ViewConfig{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	ok := UDA{Unlabeled: stream, Weight: 1, Temperature: 0.4, Threshold: 0.8}
	for _, tc := range []struct {
		edit func(*UDA)
		want string
	}{
		{func(u *UDA) {}, ""},
		{func(u *UDA) { u.Threshold, u.Temperature, u.TSA = 0, 1, "exp" }, ""},
		{func(u *UDA) { u.Unlabeled = nil }, "no unlabeled stream"},
		{func(u *UDA) { u.Unlabeled = (*data.ViewStream)(nil) }, "no unlabeled stream"},
		{func(u *UDA) { u.Weight = 0 }, "weight λ"},
		{func(u *UDA) { u.Weight = math.Inf(1) }, "weight λ"},
		{func(u *UDA) { u.Temperature = 0 }, "temperature τ"},
		{func(u *UDA) { u.Temperature = 1.5 }, "temperature τ"},
		{func(u *UDA) { u.Threshold = 1 }, "threshold β"},
		{func(u *UDA) { u.Threshold = math.NaN() }, "threshold β"},
		{func(u *UDA) { u.TSA = "cosine" }, "tsa"},
	} {
		u := ok
		tc.edit(&u)
		err := u.Check()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", u, err, tc.want)
		}
	}
}

// identity is a model whose logits are its input.
type identity struct{}

func (identity) ForwardT(x *ts.Tensor, train bool) *ts.Tensor { return x.MustShallowClone() }

func tensor2(t *testing.T, rows [][]float32) *ts.Tensor {
	t.Helper()
	var flat []float32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	x, err := ts.NewTensorFromData(flat, []int64{int64(len(rows)), int64(len(rows[0]))})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func softmax(z []float32, temp float64) []float64 {
	p := make([]float64, len(z))
	m, s := math.Inf(-1), 0.0
	for _, v := range z {
		m = math.Max(m, float64(v)/temp)
	}
	for i, v := range z {
		p[i] = math.Exp(float64(v)/temp - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// The UDA loss equals the formula computed by hand: the labeled
// cross-entropy (annealed by TSA) plus λ times the mean over the
// unlabeled images of the masked KL divergence between the sharpened weak
// prediction and the strong one.
func TestUDALossMatchesReference(t *testing.T) {
	weak := [][]float32{{2, 0, -1}, {0.1, 0.2, 0}, {-3, 4, 0.5}}
	strong := [][]float32{{1, 0.5, 0}, {0, 0, 1}, {-1, 2, 2}}
	sup := [][]float32{{3, 0, 0}, {0, 1, 0.5}}
	labels := []int64{0, 2}
	for _, tc := range []struct {
		name      string
		tsa       string
		progress  float64
		threshold float64
	}{
		{"masked", "", 0, 0.8}, {"unmasked", "", 0, 0}, {"tsa", "linear", 0.5, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &udaRun{UDA: &UDA{Weight: 2, Temperature: 0.4, Threshold: tc.threshold, TSA: tc.tsa}}
			w := tensor2(t, weak)
			defer w.MustDrop()
			logTarget, mask, err := r.target(identity{}, w, nil)
			if err != nil {
				t.Fatal(err)
			}
			logits := tensor2(t, append(append([][]float32{}, sup...), strong...))
			y, _ := ts.NewTensorFromData(labels, []int64{2})
			var parts [4]float64
			loss, err := r.loss(logits, y, logTarget, mask, 2, tc.progress, &parts)
			if err != nil {
				t.Fatal(err)
			}
			got := loss.Float64Values(true)[0]

			// By hand.
			thr := TSAThreshold(tc.tsa, tc.progress, 3)
			var ce, kept float64
			for i, row := range sup {
				p := softmax(row, 1)[labels[i]]
				if p <= thr {
					ce -= math.Log(p)
					kept++
				}
			}
			ce /= math.Max(kept, 1)
			var kl float64
			for i := range weak {
				if slicesMax(softmax(weak[i], 1)) <= tc.threshold {
					continue
				}
				tgt, q := softmax(weak[i], 0.4), softmax(strong[i], 1)
				for c := range tgt {
					kl += tgt[c] * (math.Log(tgt[c]) - math.Log(q[c]))
				}
			}
			want := ce + 2*kl/3
			if math.Abs(got-want) > 1e-5 {
				t.Errorf("loss %v, want %v (labeled %v, consistency %v; parts %v)", got, want, ce, kl/3, parts)
			}
			if math.Abs(parts[0]-ce) > 1e-5 || math.Abs(parts[1]-kl/3) > 1e-5 {
				t.Errorf("parts %v, want labeled %v consistency %v", parts, ce, kl/3)
			}
		})
	}
}

func slicesMax(p []float64) float64 {
	m := p[0]
	for _, v := range p[1:] {
		m = math.Max(m, v)
	}
	return m
}

// trainUDA trains a ConvNet with dropout at every site on 16 labeled
// halves and the 80 others unlabeled, for epochs (stop, resume and save
// as resumable's), counting the target passes.
func trainUDA(t *testing.T, p libtorch.Precision, stop int, resume, save string) (*Result, *gnn.VarStore, int) {
	t.Helper()
	im := halves(96, 0.25)
	labeled, unlabeled := im.Subset(seq(0, 16)), im.Subset(seq(16, 96)).WithoutLabels()
	libtorch.ManualSeed(3)
	aug := data.Augment{CropPad: 1}
	tr, _ := data.NewLoader(labeled, data.LoaderConfig{BatchSize: 8, Shuffle: true, Seed: 3, Augment: aug})
	ev, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 96})
	strong := aug
	strong.RandAugment = &data.RandAugment{}
	stream, err := data.NewViewStream(unlabeled, data.ViewConfig{BatchSize: 24, Weak: aug, Strong: strong, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	reg, _ := autodropout.New("dropout", autodropout.Options{Rate: 0.2})
	net.Sites().SetAll(reg, nil)
	targets := 0
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Seed, cfg.StopEpoch, cfg.Precision = 4, 3, stop, p
	cfg.UDA = &UDA{Unlabeled: stream, Weight: 1, Temperature: 0.4, Threshold: 0.6, Unregularized: func() func() {
		targets++
		name := net.Sites().Names()[0]
		if net.Sites().Get(name) != reg {
			t.Errorf("target pass: the sites lost their regularizer before it")
		}
		net.Sites().SetAll(nil, nil)
		return func() { net.Sites().SetAll(reg, nil) }
	}}
	if resume != "" {
		st, err := LoadState(resume)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Drop()
		cfg.Resume = st
	}
	if save != "" {
		cfg.SaveState = func(s *State) error { defer s.Drop(); return s.Save(save) }
	}
	res, err := Classifier(context.Background(), vs, net, tr, ev, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, vs, targets
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// UDA trains (one target pass a step, the regularizers back on after it),
// reports its terms, and a run resumed between epochs equals an unbroken
// one bit for bit, in float32 and, where the CPU computes it, bfloat16.
func TestClassifierUDA(t *testing.T) {
	oneThread(t)
	for _, p := range []libtorch.Precision{libtorch.FP32, libtorch.BF16} {
		t.Run(string(p), func(t *testing.T) {
			if p == libtorch.BF16 && !libtorch.CPUHasBF16() {
				t.Skip("no bfloat16 on this CPU")
			}
			res, want, targets := trainUDA(t, p, 0, "", "")
			if res.Steps != 8 || targets != 8 || res.Examples != 4*16 {
				t.Errorf("steps %d, target passes %d, labeled examples %d: want 8, 8, 64", res.Steps, targets, res.Examples)
			}
			if *res.ValAcc < 0.9 {
				t.Errorf("validation accuracy %v on a separable task, want ≥ 0.9", *res.ValAcc)
			}
			if u := res.UDA; u == nil || u.SupLoss <= 0 || u.UnsupLoss < 0 || u.Confident <= 0 || u.Confident > 1 || u.TSAKept != nil {
				t.Errorf("UDA stats %+v", res.UDA)
			}
			one := filepath.Join(t.TempDir(), "1.state")
			trainUDA(t, p, 2, "", one)
			again, got, _ := trainUDA(t, p, 0, one, "")
			if *again.ValAcc != *res.ValAcc || again.Steps != res.Steps {
				t.Errorf("resumed: validation %v steps %d, want %v %d", *again.ValAcc, again.Steps, *res.ValAcc, res.Steps)
			}
			gv := nn.Variables(got)
			for name, w := range nn.Variables(want) {
				if !w.MustEqual(gv[name], false) {
					t.Errorf("resumed: variable %s differs from the unbroken run", name)
				}
			}
		})
	}
}
