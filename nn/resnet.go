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

// inChannels resolves InChannels' default of 3.
func (c ResNetConfig) inChannels() int64 {
	if c.InChannels == 0 {
		return 3
	}
	return c.InChannels
}

// convSpec is one convolution without bias: in→out channels, a k×k kernel
// with "same" padding k/2, and a stride.
type convSpec struct{ in, out, k, s int64 }

// resNetPool is the stem's max pool (kernel, stride, padding) after conv1.
var resNetPool = struct{ k, s, p int64 }{3, 2, 1}

// stem is conv1: 7×7, stride 2, 64 channels.
func (c ResNetConfig) stem() convSpec { return convSpec{c.inChannels(), 64, 7, 2} }

// resBlockSpec is one block as NewResNet builds it.
type resBlockSpec struct {
	layer, index int        // the block's name is layer<layer+1>.<index>
	convs        []convSpec // the residual branch, each followed by a batch norm
	down         *convSpec  // the 1×1 projection shortcut; nil for identity
}

// blocks lays out the blocks in forward order; NewResNet, NumParams and
// ForwardMACs all read it.
func (c ResNetConfig) blocks() []resBlockSpec {
	expansion := int64(1)
	if c.Bottleneck {
		expansion = 4
	}
	var out []resBlockSpec
	in := c.stem().out
	for l, n := range c.Layers {
		planes := c.stem().out << l
		for i := 0; i < n; i++ {
			s := int64(1)
			if l > 0 && i == 0 {
				s = 2
			}
			b := resBlockSpec{layer: l, index: i}
			if c.Bottleneck {
				b.convs = []convSpec{{in, planes, 1, 1}, {planes, planes, 3, s}, {planes, planes * expansion, 1, 1}}
			} else {
				b.convs = []convSpec{{in, planes, 3, s}, {planes, planes, 3, 1}}
			}
			o := planes * expansion
			if s != 1 || in != o {
				b.down = &convSpec{in, o, 1, s}
			}
			out = append(out, b)
			in = o
		}
	}
	return out
}

// NumParams counts the trainable parameters of the model the config
// describes without building it.
func (c ResNetConfig) NumParams() int64 {
	// Weights plus the batch norm's scale and shift.
	convParams := func(c convSpec) int64 { return c.in*c.out*c.k*c.k + 2*c.out }
	n := convParams(c.stem())
	in := c.stem().out
	for _, b := range c.blocks() {
		for _, cv := range b.convs {
			n += convParams(cv)
		}
		if b.down != nil {
			n += convParams(*b.down)
		}
		in = b.convs[len(b.convs)-1].out
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
// "layer1.0.bn3" in a bottleneck), the projection shortcut's batch norm
// where there is one ("layer2.0.downsample.1"), and its shortcut path just
// before the addition ("layer1.0.shortcut": the block's input, or the
// projection after its batch-norm site). A batch-norm site sits between
// the batch norm and its ReLU.
//
// Initialization is torchvision's: He normal (fan_out, ReLU gain) for
// convolutions, batch norm scale 1 and shift 0, PyTorch's default for fc.
type ResNet struct {
	conv1  *gnn.Conv2D
	bn1    *gnn.BatchNorm
	blocks []*resBlock
	fc     *linear
	sites  Sites
}

type resBlock struct {
	convs        []*gnn.Conv2D
	bns          []*gnn.BatchNorm
	bnSites      []string
	shortcutSite string
	down         *gnn.Conv2D // nil for an identity shortcut
	downBN       *gnn.BatchNorm
	downSite     string
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
	if cfg.InChannels < 0 {
		return nil, fmt.Errorf("ResNet with %d input channels: want at least 1", cfg.InChannels)
	}
	stem := cfg.stem()
	m := &ResNet{
		conv1: gnn.NewConv2D(p.Sub("conv1"), stem.in, stem.out, stem.k, ConvConfigFanOut(stem.out, stem.k, stem.s, stem.k/2, 1, false)),
		bn1:   gnn.BatchNorm2D(p.Sub("bn1"), stem.out, BatchNormConfig()),
	}
	m.sites.Declare("bn1")
	in := stem.out
	for _, spec := range cfg.blocks() {
		prefix := fmt.Sprintf("layer%d.%d", spec.layer+1, spec.index)
		bp := p.Sub(fmt.Sprintf("layer%d", spec.layer+1)).Sub(fmt.Sprint(spec.index))
		b := &resBlock{}
		for j, c := range spec.convs {
			name := fmt.Sprintf("conv%d", j+1)
			bnName := fmt.Sprintf("bn%d", j+1)
			b.convs = append(b.convs, gnn.NewConv2D(bp.Sub(name), c.in, c.out, c.k, ConvConfigFanOut(c.out, c.k, c.s, c.k/2, 1, false)))
			b.bns = append(b.bns, gnn.BatchNorm2D(bp.Sub(bnName), c.out, BatchNormConfig()))
			b.bnSites = append(b.bnSites, m.sites.Declare(prefix+"."+bnName))
		}
		if d := spec.down; d != nil {
			dp := bp.Sub("downsample")
			b.down = gnn.NewConv2D(dp.Sub("0"), d.in, d.out, 1, ConvConfigFanOut(d.out, 1, d.s, 0, 1, false))
			b.downBN = gnn.BatchNorm2D(dp.Sub("1"), d.out, BatchNormConfig())
			b.downSite = m.sites.Declare(prefix + ".downsample.1")
		}
		members := b.bnSites
		if b.downSite != "" {
			members = append(members[:len(members):len(members)], b.downSite)
		}
		b.shortcutSite = m.sites.DeclareShortcut(prefix, members...)
		m.blocks = append(m.blocks, b)
		in = spec.convs[len(spec.convs)-1].out
	}
	m.fc = newLinear(p.Sub("fc"), in, cfg.Classes, LinearConfig(in))
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
	k, st, pad := resNetPool.k, resNetPool.s, resNetPool.p
	p := h.MustMaxPool2d([]int64{k, k}, []int64{st, st}, []int64{pad, pad}, []int64{1, 1}, false, true)
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
	sc := x
	if b.down != nil {
		d := b.down.ForwardT(x, train)
		sc = b.downBN.ForwardT(d, train)
		d.MustDrop()
		sc = s.apply(b.downSite, sc, train)
		sc = s.apply(b.shortcutSite, sc, train)
	} else {
		sc = s.Apply(b.shortcutSite, x, train)
	}
	libtorch.Add_(h, sc)
	if sc != x {
		sc.MustDrop()
	}
	libtorch.Relu_(h)
	return h
}
