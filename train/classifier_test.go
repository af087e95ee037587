package train

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// halves is a two-class task: the bright half of an 8×8 image is the top or
// the bottom one.
func halves(n int, std float32) *data.Images {
	im := &data.Images{Name: "halves", N: n, C: 1, H: 8, W: 8, Classes: 2, Mean: []float32{0.5}, Std: []float32{std}}
	im.Pixels = make([]uint8, n*64)
	im.Labels = make([]int64, n)
	for i := 0; i < n; i++ {
		c := i % 2
		im.Labels[i] = int64(c)
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				v := uint8((i*13 + x*7 + y*3) % 60) // noise
				if (y < 4) == (c == 0) {
					v += 180
				}
				im.Pixels[i*64+y*8+x] = v
			}
		}
	}
	return im
}

func run(t *testing.T, im *data.Images, lr float64) (*Result, error) {
	t.Helper()
	libtorch.ManualSeed(1)
	tr, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 1})
	ev, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 64})
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.LR = 3, lr
	return Classifier(context.Background(), vs, net, tr, ev, ev, cfg)
}

func TestClassifierLearns(t *testing.T) {
	res, err := run(t, halves(128, 0.25), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if res.ValAcc == nil || res.TestAcc == nil || *res.ValAcc < 0.95 || *res.TestAcc != *res.ValAcc {
		t.Errorf("accuracy %v/%v on a separable task, want ≥ 0.95", res.ValAcc, res.TestAcc)
	}
	if res.Epochs != 3 || res.Steps != 24 || res.Examples != 3*128 || res.Params == 0 {
		t.Errorf("result = %+v", res)
	}
}

// Settings libtorch would refuse with a C++ stack trace are refused first,
// naming the setting.
func TestClassifierRefusesBadSettings(t *testing.T) {
	for _, lr := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, err := run(t, halves(32, 0.25), lr)
		if err == nil || !strings.Contains(err.Error(), "learning rate") {
			t.Errorf("lr %v: error %v, want one naming the learning rate", lr, err)
		}
	}
}

func TestClassifierReportsDivergence(t *testing.T) {
	// A zero deviation normalizes pixels to ±Inf: the loss is NaN at once.
	_, err := run(t, halves(32, 0), 0.05)
	if !errors.Is(err, ErrDiverged) {
		t.Errorf("err = %v, want ErrDiverged", err)
	}
}

// Curve records every epoch's validation and training accuracy, and the
// run's validation accuracy is the last epoch's (not evaluated twice).
func TestClassifierCurve(t *testing.T) {
	im := halves(128, 0.25)
	libtorch.ManualSeed(1)
	tr, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 1})
	ev, _ := data.NewLoader(im, data.LoaderConfig{BatchSize: 64})
	vs := gnn.NewVarStore(gotch.CPU)
	net := nn.NewConvNet(vs.Root(), 1, 8, 8, 2)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Curve, cfg.CurveTrain = 3, true, ev
	res, err := Classifier(context.Background(), vs, net, tr, ev, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 3 {
		t.Fatalf("curve has %d points, want 3: %+v", len(res.Curve), res.Curve)
	}
	for i, p := range res.Curve {
		if p.Epoch != i+1 || p.TrainAcc == nil || *p.TrainAcc != p.ValAcc || p.TrainLoss <= 0 {
			t.Errorf("point %d = %+v (train and validation are the same examples here)", i, p)
		}
	}
	if res.ValAcc == nil || *res.ValAcc != res.Curve[2].ValAcc || res.TrainLoss != res.Curve[2].TrainLoss {
		t.Errorf("result's validation %v and loss %v, want the last point's %+v", res.ValAcc, res.TrainLoss, res.Curve[2])
	}
}
