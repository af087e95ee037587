package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// resumable trains a dropout ConvNet on halves under a 3-epoch schedule in
// precision p with optimizer opt ("": SGD), from its initialization or from resume, stopping after stop
// epochs (0: all) and saving the state to save (empty: none).
func resumable(t *testing.T, p libtorch.Precision, opt string, stop int, resume, save string) (*Result, *gnn.VarStore) {
	t.Helper()
	im := halves(96, 0.25)
	libtorch.ManualSeed(7)
	tr, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 7, Augment: data.Augment{CropPad: 1}})
	ev, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 64})
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	reg, err := autodropout.New("dropout", autodropout.Options{Rate: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if net.Sites().SetAll(reg, func(string) bool { return true }) == 0 {
		t.Fatal("no sites")
	}
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Seed, cfg.StopEpoch, cfg.Precision, cfg.Optimizer = 3, 7, stop, p, opt
	if opt == "rmsprop" { // EfficientNet's recipe, shortened
		cfg.LR, cfg.WeightDecay = 0.01, RMSPropWeightDecay
		cfg.Schedule = Schedule{Kind: "exponential", DecayRate: 0.97, DecayEpochs: 0.5, WarmupEpochs: 1}
	}
	if resume != "" {
		st, err := LoadState(resume)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Drop()
		cfg.Resume = st
	}
	if save != "" {
		cfg.SaveState = func(s *State) error {
			defer s.Drop()
			s.Identity = map[string]string{"seed": "7"}
			return s.Save(save)
		}
	}
	res, err := Classifier(context.Background(), vs, net, tr, ev, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, vs
}

// oneThread runs the test on one intra-op thread and restores the count
// after it.
func oneThread(t *testing.T) {
	old := libtorch.Threads()
	if err := libtorch.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { libtorch.SetThreads(old) })
}

// TestResumeIsExact: 3 epochs straight and 1 + 2 through a saved state give
// bit-identical weights (batch-norm buffers included) and the same
// validation accuracy; so do 1 + 1 + 1. In float32, and in bfloat16
// autocast where the CPU computes it.
func TestResumeIsExact(t *testing.T) {
	oneThread(t)
	for _, p := range []libtorch.Precision{libtorch.FP32, libtorch.BF16} {
		t.Run(string(p), func(t *testing.T) {
			if p == libtorch.BF16 && !libtorch.CPUHasBF16() {
				t.Skip("no bfloat16 on this CPU")
			}
			resumeIsExact(t, p, "")
		})
	}
}

func resumeIsExact(t *testing.T, p libtorch.Precision, opt string) {
	dir := t.TempDir()
	straight, want := resumable(t, p, opt, 0, "", "")
	if straight.Precision != string(p) {
		t.Fatalf("trained in %s, want %s", straight.Precision, p)
	}
	one := filepath.Join(dir, "1.state")
	r1, _ := resumable(t, p, opt, 1, "", one)
	if r1.Epochs != 1 || r1.Steps != 6 {
		t.Fatalf("stopped run: epochs %d steps %d, want 1 and 6", r1.Epochs, r1.Steps)
	}
	for _, tc := range []struct {
		name string
		run  func() (*Result, *gnn.VarStore)
	}{
		{"1+2", func() (*Result, *gnn.VarStore) { return resumable(t, p, opt, 0, one, "") }},
		{"1+1+1", func() (*Result, *gnn.VarStore) {
			two := filepath.Join(dir, "2.state")
			resumable(t, p, opt, 2, one, two)
			return resumable(t, p, opt, 0, two, "")
		}},
	} {
		res, got := tc.run()
		if res.Epochs != straight.Epochs || res.Steps != straight.Steps || res.Examples != straight.Examples {
			t.Errorf("%s: epochs/steps/examples %d/%d/%d, want %d/%d/%d", tc.name, res.Epochs, res.Steps, res.Examples, straight.Epochs, straight.Steps, straight.Examples)
		}
		if *res.ValAcc != *straight.ValAcc {
			t.Errorf("%s: validation accuracy %v, want %v", tc.name, *res.ValAcc, *straight.ValAcc)
		}
		wv, gv := nn.Variables(want), nn.Variables(got)
		if len(wv) != len(gv) {
			t.Fatalf("%s: %d variables, want %d", tc.name, len(gv), len(wv))
		}
		for name, w := range wv {
			if !w.MustEqual(gv[name], false) {
				t.Errorf("%s: variable %s differs from the unbroken run", tc.name, name)
			}
		}
	}
}

// TestResumeWithoutMomentumDiffers shows the test above can fail: a state
// whose momentum buffers are zeroed continues to other weights.
func TestResumeWithoutMomentumDiffers(t *testing.T) {
	oneThread(t)
	dir := t.TempDir()
	_, want := resumable(t, libtorch.FP32, "", 0, "", "")
	one := filepath.Join(dir, "1.state")
	resumable(t, libtorch.FP32, "", 1, "", one)
	st, err := LoadState(one)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Momentum {
		m.MustZero_()
	}
	zeroed := filepath.Join(dir, "zeroed.state")
	if err := st.Save(zeroed); err != nil {
		t.Fatal(err)
	}
	st.Drop()
	_, got := resumable(t, libtorch.FP32, "", 0, zeroed, "")
	same := true
	gv := nn.Variables(got)
	for name, w := range nn.Variables(want) {
		same = same && w.MustEqual(gv[name], false)
	}
	if same {
		t.Error("zeroed momentum continued to the unbroken run's weights: the momentum round trip is not tested")
	}
}

func TestStateIdentity(t *testing.T) {
	s := &State{Identity: map[string]string{"seed": "1", "epochs": "3"}}
	for _, tc := range []struct {
		want map[string]string
		err  string
	}{
		{map[string]string{"seed": "1", "epochs": "3"}, ""},
		{map[string]string{"seed": "2", "epochs": "3"}, `seed is "1" there, "2" here`},
		{map[string]string{"seed": "1"}, `epochs is "3" there, "" here`},
		{map[string]string{"seed": "1", "epochs": "3", "flags": "x"}, `flags is "" there, "x" here`},
	} {
		err := s.CheckIdentity("a.state", tc.want)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "a.state")) {
			t.Errorf("CheckIdentity(%v) = %v, want %q", tc.want, err, tc.err)
		}
	}
}

func TestLoadStateRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.state")
	if err := writeTestFile(p, "not a state\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadState(garbage) = %v, want an error naming the file", err)
	}
}

func writeTestFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
