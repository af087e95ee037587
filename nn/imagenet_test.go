package nn

import (
	"fmt"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Parameter counts of torchvision 0.14's models with 1000 classes
// (sum(p.numel() for p in model.parameters())).
var torchvisionParams = map[string]int64{
	"resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032,
	"resnet101": 44549160, "resnet152": 60192808,
	"efficientnet_b0": 5288548, "efficientnet_b1": 7794184, "efficientnet_b2": 9109994,
	"efficientnet_b3": 12233232, "efficientnet_b4": 19341616, "efficientnet_b5": 30389784,
	"efficientnet_b6": 43040704, "efficientnet_b7": 66347960,
}

// TestImageNetParams builds ResNet-18, ResNet-50 and EfficientNet-B0 and
// counts their trainable parameters; the larger models are checked through
// the configs' arithmetic, which the built ones confirm.
func TestImageNetParams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build bool
	}{
		{"resnet18", true}, {"resnet34", false}, {"resnet50", true}, {"resnet101", false}, {"resnet152", false},
		{"efficientnet_b0", true}, {"efficientnet_b1", false}, {"efficientnet_b2", false},
		{"efficientnet_b3", false}, {"efficientnet_b4", false}, {"efficientnet_b5", false},
		{"efficientnet_b6", false}, {"efficientnet_b7", false},
	} {
		want := torchvisionParams[tc.name]
		var counted int64
		var build func(p *gnn.Path) error
		if d, ok := strings.CutPrefix(tc.name, "resnet"); ok {
			var depth int
			fmt.Sscan(d, &depth)
			cfg, err := ResNetDepth(depth, 1000)
			if err != nil {
				t.Fatal(err)
			}
			counted = cfg.NumParams()
			build = func(p *gnn.Path) error { _, err := NewResNet(p, cfg); return err }
		} else {
			var n int
			fmt.Sscanf(tc.name, "efficientnet_b%d", &n)
			cfg, err := EfficientNetB(n, 1000)
			if err != nil {
				t.Fatal(err)
			}
			counted = cfg.NumParams()
			build = func(p *gnn.Path) error { _, err := NewEfficientNet(p, cfg); return err }
		}
		if counted != want {
			t.Errorf("%s config counts %d parameters, torchvision has %d", tc.name, counted, want)
		}
		if !tc.build {
			continue
		}
		vs := gnn.NewVarStore(gotch.CPU)
		if err := build(vs.Root()); err != nil {
			t.Fatal(err)
		}
		if got := countParams(vs); got != want {
			t.Errorf("%s has %d parameters, want %d", tc.name, got, want)
		}
		vs.Destroy()
	}
}

func TestEfficientNetConfigs(t *testing.T) {
	// torchvision 0.14: (stem, head, blocks, classifier dropout, BN eps).
	for _, tc := range []struct {
		n                  int
		stem, head, blocks int64
		dropout, eps       float64
	}{
		{0, 32, 1280, 16, 0.2, 1e-5},
		{1, 32, 1280, 23, 0.2, 1e-5},
		{4, 48, 1792, 32, 0.4, 1e-5},
		{7, 64, 2560, 55, 0.5, 1e-3},
	} {
		cfg, err := EfficientNetB(tc.n, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got := []any{cfg.StemChannels(), cfg.HeadChannels(), int64(len(cfg.Blocks())), cfg.Dropout, cfg.BNEps}; fmt.Sprint(got) != fmt.Sprint([]any{tc.stem, tc.head, tc.blocks, tc.dropout, tc.eps}) {
			t.Errorf("B%d: stem, head, blocks, dropout, eps = %v", tc.n, got)
		}
		blocks := cfg.Blocks()
		if last := blocks[len(blocks)-1]; last.DropProb >= cfg.StochasticDepth || blocks[0].DropProb != 0 {
			t.Errorf("B%d: stochastic depth from %g to %g", tc.n, blocks[0].DropProb, last.DropProb)
		}
	}
	// B7's features.5.0 as torchvision builds it: 160 → 224 channels,
	// expanded 960, squeeze 40, 5×5, stride 1, no skip, block 28 of 55.
	cfg, _ := EfficientNetB(7, 1000)
	found := false
	for _, b := range cfg.Blocks() {
		if b.Prefix == "features.5.0" {
			found = true
			want := MBConvBlock{Prefix: "features.5.0", In: 160, Out: 224, Expanded: 960, Squeeze: 40, Kernel: 5, Stride: 1, DropProb: 0.10181818181818182}
			if b != want {
				t.Errorf("B7 %s = %+v, want %+v", b.Prefix, b, want)
			}
		}
	}
	if !found {
		t.Error("B7 has no block features.5.0")
	}
	for _, n := range []int{-1, 8} {
		if _, err := EfficientNetB(n, 10); err == nil {
			t.Errorf("EfficientNet-B%d: no error", n)
		}
	}
	bad, _ := EfficientNetB(0, 0)
	if _, err := NewEfficientNet(gnn.NewVarStore(gotch.CPU).Root(), bad); err == nil || !strings.Contains(err.Error(), "classes") {
		t.Errorf("0 classes: %v", err)
	}
	if _, err := NewResNetDepth(gnn.NewVarStore(gotch.CPU).Root(), 20, 10); err == nil || !strings.Contains(err.Error(), "18, 34, 50") {
		t.Errorf("ResNet-20: %v", err)
	}
}

func TestMakeDivisible(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int64
	}{{32, 32}, {3.2, 8}, {17.6, 16}, {19.2, 24}, {11.2, 16}, {35.2, 32}, {44.8, 48}, {1.1 * 16, 16}} {
		if got := makeDivisible(tc.v); got != tc.want {
			t.Errorf("makeDivisible(%g) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// siteRecorder is a regularizer that logs the site it is assigned to and, in
// training, halves its input (a new tensor, as a dropout would return).
type siteRecorder struct {
	name string
	log  *[]string
}

func (r siteRecorder) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	*r.log = append(*r.log, r.name)
	if !train {
		return x
	}
	return x.MustMulScalar(ts.FloatScalar(0.5), false)
}

// TestImageNetSites checks the site names, that every site runs once per
// forward pass in declaration order, the output shape, and that gradients
// flow through the sites in training.
func TestImageNetSites(t *testing.T) {
	small := tinyEfficientNetConfig(0.1, 0.5, 7)
	for _, tc := range []struct {
		name       string
		build      func(p *gnn.Path) (SiteModel, error)
		n          int
		first, has []string
	}{
		{
			name:  "resnet18",
			build: func(p *gnn.Path) (SiteModel, error) { return NewResNetDepth(p, 18, 7) },
			n:     1 + 8*3 + 3,
			first: []string{"bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.0.shortcut", "layer1.1.bn1"},
			has:   []string{"layer2.0.bn2", "layer2.0.shortcut", "layer2.0.downsample.1", "layer4.1.shortcut"},
		},
		{
			name:  "resnet50",
			build: func(p *gnn.Path) (SiteModel, error) { return NewResNetDepth(p, 50, 7) },
			n:     1 + 16*4 + 4,
			first: []string{"bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.0.bn3", "layer1.0.downsample.1", "layer1.0.shortcut", "layer1.1.bn1"},
			has:   []string{"layer3.5.bn3", "layer4.2.shortcut"},
		},
		{
			name:  "efficientnet_tiny",
			build: func(p *gnn.Path) (SiteModel, error) { return NewEfficientNet(p, small) },
			// Stem, head; per block the expansion (all but stage 1's),
			// depthwise and projection batch norms and the residual sites.
			n: func() int {
				n := 2
				for _, b := range small.Blocks() {
					n += 2
					if b.Expands() {
						n++
					}
					if b.Residual {
						n++
					}
				}
				return n
			}(),
			first: []string{"features.0.1", "features.1.0.block.0.1", "features.1.0.block.2.1", "features.1.0.shortcut", "features.2.0.block.0.1", "features.2.0.block.1.1", "features.2.0.block.3.1"},
			has:   []string{"features.4.1.shortcut", "features.8.1"},
		},
		{
			name:  "efficientnet_b0",
			build: func(p *gnn.Path) (SiteModel, error) { return NewEfficientNetB(p, 0, 7) },
			n:     1 + 15 + 16 + 16 + 9 + 1,
			first: []string{"features.0.1", "features.1.0.block.0.1", "features.1.0.block.2.1", "features.2.0.block.0.1"},
			has:   []string{"features.2.1.shortcut", "features.7.0.block.3.1", "features.8.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Gradient mode is per OS thread (see libtorch.TrainThread).
			release, err := libtorch.TrainThread()
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			vs := gnn.NewVarStore(gotch.CPU)
			defer vs.Destroy()
			m, err := tc.build(vs.Root())
			if err != nil {
				t.Fatal(err)
			}
			names := m.Sites().Names()
			if len(names) != tc.n {
				t.Errorf("%d sites, want %d", len(names), tc.n)
			}
			if len(names) < len(tc.first) || strings.Join(names[:len(tc.first)], " ") != strings.Join(tc.first, " ") {
				t.Errorf("sites start %v, want %v", names[:min(len(names), len(tc.first))], tc.first)
			}
			set := map[string]bool{}
			for _, n := range names {
				set[n] = true
			}
			for _, n := range tc.has {
				if !set[n] {
					t.Errorf("no site %q", n)
				}
			}
			// Every site but the residual ones is a batch norm's output.
			vars := Variables(vs)
			for _, n := range names {
				if _, ok := vars[n+".running_var"]; !ok && !strings.HasSuffix(n, ".shortcut") {
					t.Errorf("site %q is neither a batch norm nor a block's shortcut", n)
				}
			}

			var log []string
			for _, n := range names {
				if err := m.Sites().Set(n, siteRecorder{n, &log}); err != nil {
					t.Fatal(err)
				}
			}
			libtorch.ManualSeed(1)
			x := ts.MustRandn([]int64{2, 3, 32, 32}, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			y := m.ForwardT(x, true)
			if got := y.MustSize(); len(got) != 2 || got[0] != 2 || got[1] != 7 {
				t.Fatalf("output shape %v, want [2 7]", got)
			}
			if strings.Join(log, " ") != strings.Join(names, " ") {
				t.Errorf("sites ran in order\n%v\nwant\n%v", log, names)
			}
			loss := y.MustSum(gotch.Float, true)
			loss.MustBackward()
			loss.MustDrop()
			stemName := "conv1.weight"
			if strings.HasPrefix(tc.name, "efficientnet") {
				stemName = "features.0.0.weight"
			}
			stem := vars[stemName]
			g := stem.MustGrad(false)
			if s := g.MustAbs(false).MustSum(gotch.Double, true).Float64Values(true)[0]; !(s > 0) {
				t.Errorf("no gradient reaches %s (|grad| sum %g)", stemName, s)
			}
			g.MustDrop()
			log = log[:0]
			libtorch.NoGrad(func() { m.ForwardT(x, false).MustDrop() })
			if len(log) != len(names) {
				t.Errorf("evaluation ran %d sites, want %d", len(log), len(names))
			}
		})
	}
}
