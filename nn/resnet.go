package nn

import (
	"fmt"
	"github.com/autodropout/autodropout/libtorch"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ResNetConfig describes a torchvision ResNet (He et al. 2016, the "v1.5"
// variant with the stride on the 3×3 convolution of a bottleneck).
type ResNetConfig struct {
	// Bottleneck selects 1×1–3×3–1×1 bottleneck blocks (expansion 4, as in
	// ResNet-50/101/152); false selects 3×3–3×3 basic blocks (ResNet-18/34).
	Bottleneck bool
	// Layers is the number of blocks in layer1 … layer4.
	Layers [4]int
	// Classes is the size of the fc layer's output.
	Classes int64
	// InChannels is the number of input channels; 0 means 3 (RGB), the only
	// value torchvision's pretrained weights accept.
	InChannels int64
}

// ResNetDepth returns torchvision's configuration of ResNet-depth (18, 34,
// 50, 101 or 152) with the given number of classes.
func ResNetDepth(depth int, classes int64) (ResNetConfig, error) {
	cfg := ResNetConfig{Classes: classes}
	switch depth {
	case 18:
		cfg.Layers = [4]int{2, 2, 2, 2}
	case 34:
		cfg.Layers = [4]int{3, 4, 6, 3}
	case 50:
		cfg.Layers, cfg.Bottleneck = [4]int{3, 4, 6, 3}, true
	case 101:
		cfg.Layers, cfg.Bottleneck = [4]int{3, 4, 23, 3}, true
	case 152:
		cfg.Layers, cfg.Bottleneck = [4]int{3, 8, 36, 3}, true
	default:
		return cfg, fmt.Errorf("ResNet depth %d: want 18, 34, 50, 101 or 152", depth)
	}
	return cfg, nil
}

// NumParams counts the trainable parameters of the model the config
// describes without building it.
func (c ResNetConfig) NumParams() int64 {
	inC := c.InChannels
	if inC == 0 {
		inC = 3
	}
	convParams := func(in, out, k int64) int64 { return in*out*k*k + 2*out }
	n := convParams(inC, 64, 7)
	in := int64(64)
	for l, blocks := range c.Layers {
		planes := int64(64) << l
		for i := 0; i < blocks; i++ {
			out := planes
			if c.Bottleneck {
				out = 4 * planes
				n += convParams(in, planes, 1) + convParams(planes, planes, 3) + convParams(planes, out, 1)
			} else {
				n += convParams(in, planes, 3) + convParams(planes, planes, 3)
			}
			if in != out || (i == 0 && l > 0) {
				n += convParams(in, out, 1)
			}
			in = out
		}
	}
	return n + in*c.Classes + c.Classes
}

// ResNet is torchvision's ResNet with named dropout sites. Its parameter
// and buffer names are torchvision's state-dict keys (conv1, bn1,
// layer1.0.conv1, layer1.0.bn1, …, layer2.0.downsample.0 and .1, fc), so
// torchvision's weights load with LoadStateDict.
//
// Dropout sites, in forward order: "bn1" (the stem), then for every block
// the outputs of its batch norms ("layer1.0.bn1", "layer1.0.bn2", and
// "layer1.0.bn3" in a bottleneck), its residual branch before the addition
// ("layer1.0.residual", after the last batch norm's site), and the
// projection shortcut's batch norm where there is one
// ("layer2.0.downsample.1"). A site sits between a batch norm and its ReLU.
//
// Initialization is torchvision's: He normal (fan_out, ReLU gain) for
// convolutions, batch norm scale 1 and shift 0, PyTorch's default for fc.
type ResNet struct {
	conv1  *gnn.Conv2D
	bn1    *gnn.BatchNorm
	blocks []*resBlock
	fc     *gnn.Linear
	sites  Sites
}

type resBlock struct {
	convs    []*gnn.Conv2D
	bns      []*gnn.BatchNorm
	bnSites  []string
	resSite  string
	down     *gnn.Conv2D // nil for an identity shortcut
	downBN   *gnn.BatchNorm
	downSite string
}

// NewResNet builds a ResNet under p.
func NewResNet(p *gnn.Path, cfg ResNetConfig) (*ResNet, error) {
	for i, n := range cfg.Layers {
		if n < 1 {
			return nil, fmt.Errorf("ResNet layer%d has %d blocks: want at least 1", i+1, n)
		}
	}
	if cfg.Classes < 1 {
		return nil, fmt.Errorf("ResNet with %d classes: want at least 1", cfg.Classes)
	}
	inC := cfg.InChannels
	if inC == 0 {
		inC = 3
	}
	if inC < 0 {
		return nil, fmt.Errorf("ResNet with %d input channels: want at least 1", inC)
	}
	m := &ResNet{
		conv1: gnn.NewConv2D(p.Sub("conv1"), inC, 64, 7, ConvConfigFanOut(64, 7, 2, 3, 1, false)),
		bn1:   gnn.BatchNorm2D(p.Sub("bn1"), 64, BatchNormConfig()),
	}
	m.sites.declare("bn1")
	expansion := int64(1)
	if cfg.Bottleneck {
		expansion = 4
	}
	in := int64(64)
	for l, n := range cfg.Layers {
		planes := int64(64) << l
		stride := int64(2)
		if l == 0 {
			stride = 1
		}
		lp := p.Sub(fmt.Sprintf("layer%d", l+1))
		for i := 0; i < n; i++ {
			prefix := fmt.Sprintf("layer%d.%d", l+1, i)
			bp := lp.Sub(fmt.Sprint(i))
			s := stride
			if i > 0 {
				s = 1
			}
			b := &resBlock{}
			// (in, out, kernel, stride) of each convolution of the branch.
			type convSpec struct{ in, out, k, s int64 }
			var specs []convSpec
			if cfg.Bottleneck {
				specs = []convSpec{{in, planes, 1, 1}, {planes, planes, 3, s}, {planes, planes * 4, 1, 1}}
			} else {
				specs = []convSpec{{in, planes, 3, s}, {planes, planes, 3, 1}}
			}
			for j, c := range specs {
				name := fmt.Sprintf("conv%d", j+1)
				bnName := fmt.Sprintf("bn%d", j+1)
				b.convs = append(b.convs, gnn.NewConv2D(bp.Sub(name), c.in, c.out, c.k, ConvConfigFanOut(c.out, c.k, c.s, c.k/2, 1, false)))
				b.bns = append(b.bns, gnn.BatchNorm2D(bp.Sub(bnName), c.out, BatchNormConfig()))
				b.bnSites = append(b.bnSites, m.sites.declare(prefix+"."+bnName))
			}
			b.resSite = m.sites.declare(prefix + ".residual")
			out := planes * expansion
			if s != 1 || in != out {
				dp := bp.Sub("downsample")
				b.down = gnn.NewConv2D(dp.Sub("0"), in, out, 1, ConvConfigFanOut(out, 1, s, 0, 1, false))
				b.downBN = gnn.BatchNorm2D(dp.Sub("1"), out, BatchNormConfig())
				b.downSite = m.sites.declare(prefix + ".downsample.1")
			}
			m.blocks = append(m.blocks, b)
			in = out
		}
	}
	m.fc = gnn.NewLinear(p.Sub("fc"), in, cfg.Classes, LinearConfig(in))
	return m, nil
}

// NewResNetDepth builds torchvision's ResNet-depth (18, 34, 50, 101 or 152)
// under p.
func NewResNetDepth(p *gnn.Path, depth int, classes int64) (*ResNet, error) {
	cfg, err := ResNetDepth(depth, classes)
	if err != nil {
		return nil, err
	}
	return NewResNet(p, cfg)
}

// Sites returns the model's dropout sites.
func (m *ResNet) Sites() *Sites { return &m.sites }

// ForwardT implements ts.ModuleT. Inputs are N×C×H×W; any H, W ≥ 32 works
// (global average pooling before fc).
func (m *ResNet) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	c := m.conv1.ForwardT(x, train)
	h := m.bn1.ForwardT(c, train)
	c.MustDrop()
	h = m.sites.apply("bn1", h, train)
	libtorch.Relu_(h)
	p := h.MustMaxPool2d([]int64{3, 3}, []int64{2, 2}, []int64{1, 1}, []int64{1, 1}, false, true)
	for _, b := range m.blocks {
		next := b.forward(&m.sites, p, train)
		p.MustDrop()
		p = next
	}
	pooled := p.MustAdaptiveAvgPool2d([]int64{1, 1}, true)
	flat := pooled.MustFlatten(1, -1, true)
	out := m.fc.ForwardT(flat, train)
	flat.MustDrop()
	return out
}

// forward runs one block; x is left for the caller to drop.
func (b *resBlock) forward(s *Sites, x *ts.Tensor, train bool) *ts.Tensor {
	h := x
	last := len(b.convs) - 1
	for i, conv := range b.convs {
		c := conv.ForwardT(h, train)
		if h != x {
			h.MustDrop()
		}
		h = b.bns[i].ForwardT(c, train)
		c.MustDrop()
		h = s.apply(b.bnSites[i], h, train)
		if i < last {
			libtorch.Relu_(h)
		}
	}
	h = s.apply(b.resSite, h, train)
	if b.down != nil {
		d := b.down.ForwardT(x, train)
		sc := b.downBN.ForwardT(d, train)
		d.MustDrop()
		sc = s.apply(b.downSite, sc, train)
		libtorch.Add_(h, sc)
		sc.MustDrop()
	} else {
		libtorch.Add_(h, x)
	}
	libtorch.Relu_(h)
	return h
}
