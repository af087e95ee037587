package nn

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The fixtures come from testdata/make_fixtures.py (PyTorch 1.13.1,
// torchvision 0.14.1 on the same libtorch as gotch); see its doc string.

type modelFixture struct {
	Name       string      `json:"name"`
	Classes    int64       `json:"classes"`
	Gain       float64     `json:"gain"`
	WeightSeed int64       `json:"weight_seed"`
	InputSeed  int64       `json:"input_seed"`
	InputShape []int64     `json:"input_shape"`
	Keys       [][2]any    `json:"keys"` // [name, shape] in sorted order
	Logits     [][]float64 `json:"logits"`
	keyShapes  map[string][]int64
}

type fixtures struct {
	Models []modelFixture `json:"models"`
	Pth    struct {
		File       string      `json:"file"`
		WidthMult  float64     `json:"width_mult"`
		DepthMult  float64     `json:"depth_mult"`
		Classes    int64       `json:"classes"`
		InputSeed  int64       `json:"input_seed"`
		InputShape []int64     `json:"input_shape"`
		Logits     [][]float64 `json:"logits"`
	} `json:"pth"`
	Mixed struct {
		Files   []string `json:"files"`
		Tensors map[string]struct {
			DType  string    `json:"dtype"`
			Shape  []int64   `json:"shape"`
			Values []float64 `json:"values"`
		} `json:"tensors"`
	} `json:"mixed"`
}

var (
	fixturesOnce sync.Once
	fixturesData *fixtures
	fixturesErr  error
)

func loadFixtures(t *testing.T) *fixtures {
	t.Helper()
	fixturesOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
		if err != nil {
			fixturesErr = err
			return
		}
		var f fixtures
		if err := json.Unmarshal(b, &f); err != nil {
			fixturesErr = err
			return
		}
		for i := range f.Models {
			m := &f.Models[i]
			m.keyShapes = map[string][]int64{}
			for _, k := range m.Keys {
				var s []int64
				for _, d := range k[1].([]any) {
					s = append(s, int64(d.(float64)))
				}
				m.keyShapes[k[0].(string)] = s
			}
		}
		fixturesData = &f
	})
	if fixturesErr != nil {
		t.Fatalf("fixtures: %v", fixturesErr)
	}
	return fixturesData
}

// fillStateDict mirrors fill_state_dict of make_fixtures.py: the same
// libtorch RNG calls in the same order give the same tensors.
func fillStateDict(t *testing.T, shapes map[string][]int64, seed int64, gain float64) map[string]*ts.Tensor {
	t.Helper()
	if err := libtorch.ManualSeed(seed); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(shapes))
	for k := range shapes {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]*ts.Tensor{}
	for _, k := range names {
		s := shapes[k]
		var v *ts.Tensor
		switch {
		case strings.HasSuffix(k, "num_batches_tracked"):
			continue
		case strings.HasSuffix(k, "running_mean"):
			v = ts.MustRandn(s, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(0.1), true)
		case strings.HasSuffix(k, "running_var"):
			v = ts.MustRand(s, gotch.Float, gotch.CPU).MustAddScalar(ts.FloatScalar(0.5), true)
		case strings.HasSuffix(k, "bias"):
			v = ts.MustRandn(s, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(0.1), true)
		case len(s) == 1:
			v = ts.MustRand(s, gotch.Float, gotch.CPU).MustAddScalar(ts.FloatScalar(0.5), true)
		default:
			numel := int64(1)
			for _, d := range s {
				numel *= d
			}
			v = ts.MustRandn(s, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(gain*math.Sqrt(1.0/float64(numel/s[0]))), true)
		}
		out[k] = v
	}
	return out
}

func varShapes(vs *gnn.VarStore) map[string][]int64 {
	out := map[string][]int64{}
	for k, v := range Variables(vs) {
		out[k] = v.MustSize()
	}
	return out
}

// buildFixtureModel builds the Go model a fixture names.
func buildFixtureModel(t *testing.T, name string, p *gnn.Path, classes int64) ts.ModuleT {
	t.Helper()
	var (
		m   ts.ModuleT
		err error
	)
	switch name {
	case "resnet18":
		m, err = NewResNetDepth(p, 18, classes)
	case "resnet50":
		m, err = NewResNetDepth(p, 50, classes)
	case "efficientnet_b0":
		m, err = NewEfficientNetB(p, 0, classes)
	default:
		t.Fatalf("no model %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// evalLogits runs m on x in evaluation mode without gradients and returns
// the logits row by row.
func evalLogits(m ts.ModuleT, x *ts.Tensor) [][]float64 {
	var y *ts.Tensor
	if err := libtorch.NoGrad(func() { y = m.ForwardT(x, false) }); err != nil {
		panic(err)
	}
	defer y.MustDrop()
	size := y.MustSize()
	vals := y.Float64Values()
	out := make([][]float64, size[0])
	for i := range out {
		out[i] = vals[int64(i)*size[1] : int64(i+1)*size[1]]
	}
	return out
}

// compareLogits fails unless got and want agree to 1e-4 relative to the
// largest logit (at least 1); it returns the largest absolute difference.
func compareLogits(t *testing.T, got, want [][]float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows of logits, want %d", len(got), len(want))
	}
	maxDiff, scale := 0.0, 1.0
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d has %d logits, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			maxDiff = math.Max(maxDiff, math.Abs(got[i][j]-want[i][j]))
			scale = math.Max(scale, math.Abs(want[i][j]))
		}
	}
	if !(maxDiff <= 1e-4*scale) {
		t.Errorf("logits differ from PyTorch's by up to %g (tolerance %g)\ngot  %v\nwant %v", maxDiff, 1e-4*scale, got[0], want[0])
	}
	return maxDiff
}

func seededInput(t *testing.T, seed int64, shape []int64) *ts.Tensor {
	t.Helper()
	if err := libtorch.ManualSeed(seed); err != nil {
		t.Fatal(err)
	}
	return ts.MustRandn(shape, gotch.Float, gotch.CPU)
}

// TestTorchvisionFixtures loads the fixtures' weights into our ResNet-18,
// ResNet-50 and EfficientNet-B0 by torchvision's names and compares the
// logits with torchvision's.
func TestTorchvisionFixtures(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.Models {
		t.Run(fx.Name, func(t *testing.T) {
			vs := gnn.NewVarStore(gotch.CPU)
			defer vs.Destroy()
			m := buildFixtureModel(t, fx.Name, vs.Root(), fx.Classes)

			// Our names and shapes are torchvision's state-dict keys, less
			// the num_batches_tracked counters.
			ours := varShapes(vs)
			theirs := map[string][]int64{}
			for k, s := range fx.keyShapes {
				if !strings.HasSuffix(k, ".num_batches_tracked") {
					theirs[k] = s
				}
			}
			for k, s := range theirs {
				if o, ok := ours[k]; !ok {
					t.Errorf("torchvision key %s %v missing from our model", k, s)
				} else if !sameShape(o, s) {
					t.Errorf("%s: our shape %v, torchvision's %v", k, o, s)
				}
			}
			for k := range ours {
				if _, ok := theirs[k]; !ok {
					t.Errorf("our variable %s is not a torchvision key", k)
				}
			}
			if t.Failed() {
				return
			}

			weights := fillStateDict(t, theirs, fx.WeightSeed, fx.Gain)
			r, err := LoadTensors(vs, weights, nil)
			dropAll(weights)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Loaded) != len(theirs) {
				t.Fatalf("loaded %d tensors, want %d", len(r.Loaded), len(theirs))
			}
			x := seededInput(t, fx.InputSeed, fx.InputShape)
			defer x.MustDrop()
			d := compareLogits(t, evalLogits(m, x), fx.Logits)
			t.Logf("%s: max |Go − PyTorch| = %.3g over logits up to %.3g", fx.Name, d, maxAbs(fx.Logits))
		})
	}
}

// TestTorchvisionPth loads a real torch.save file (a tiny torchvision
// EfficientNet with num_batches_tracked counters) and compares the logits.
func TestTorchvisionPth(t *testing.T) {
	f := loadFixtures(t)
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	m, err := NewEfficientNet(vs.Root(), tinyEfficientNetConfig(f.Pth.WidthMult, f.Pth.DepthMult, f.Pth.Classes))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", f.Pth.File)
	r, err := LoadStateDict(vs, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Complete() || len(r.Loaded) != len(Variables(vs)) {
		t.Errorf("report %v", r)
	}
	bns := 0
	for k := range Variables(vs) {
		if strings.HasSuffix(k, ".running_var") {
			bns++
		}
	}
	if len(r.Ignored) != bns || bns == 0 {
		t.Errorf("ignored %d num_batches_tracked, want one per batch norm (%d): %v", len(r.Ignored), bns, r.Ignored)
	}
	x := seededInput(t, f.Pth.InputSeed, f.Pth.InputShape)
	defer x.MustDrop()
	d := compareLogits(t, evalLogits(m, x), f.Pth.Logits)
	t.Logf("%s: max |Go − PyTorch| = %.3g; %v", f.Pth.File, d, r)
}

func tinyEfficientNetConfig(w, d float64, classes int64) EfficientNetConfig {
	cfg, _ := EfficientNetB(0, classes)
	cfg.WidthMult, cfg.DepthMult = w, d
	return cfg
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func maxAbs(rows [][]float64) float64 {
	m := 0.0
	for _, r := range rows {
		for _, v := range r {
			m = math.Max(m, math.Abs(v))
		}
	}
	return m
}
