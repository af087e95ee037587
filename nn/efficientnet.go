package nn

import (
	"fmt"
	"github.com/autodropout/autodropout/libtorch"
	"math"
	"strings"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// EfficientNetConfig describes an EfficientNet-B (Tan & Le 2019) as
// torchvision 0.14 builds it: B0's seven MBConv stages scaled by a width and
// a depth multiplier.
type EfficientNetConfig struct {
	// WidthMult scales every channel count (rounded by makeDivisible to a
	// multiple of 8); DepthMult scales the number of blocks of each stage
	// (rounded up).
	WidthMult, DepthMult float64
	// Dropout is the probability of the dropout before the classifier
	// (torchvision's classifier.0).
	Dropout float64
	// StochasticDepth is the largest probability of dropping a residual
	// branch; block i of n drops with StochasticDepth·i/n (per sample, in
	// training only). 0 turns stochastic depth off.
	StochasticDepth float64
	// BNEps and BNMomentum configure every batch norm (PyTorch's momentum
	// convention: running = (1-m)·running + m·batch).
	BNEps, BNMomentum float64
	// Classes is the size of the classifier's output.
	Classes int64
	// InChannels is the number of input channels; 0 means 3 (RGB), the only
	// value torchvision's pretrained weights accept. Another count changes
	// only the stem convolution (features.0.0), as for ResNet.
	InChannels int64
}

// inChannels resolves InChannels' default of 3.
func (c EfficientNetConfig) inChannels() int64 {
	if c.InChannels == 0 {
		return 3
	}
	return c.InChannels
}

// EfficientNetB returns torchvision 0.14's configuration of EfficientNet-Bn
// (n = 0…7) with the given number of classes. B5–B7 use batch norm eps 1e-3
// and momentum 0.01, the smaller ones PyTorch's defaults (1e-5, 0.1).
func EfficientNetB(n int, classes int64) (EfficientNetConfig, error) {
	params := []struct{ w, d, drop float64 }{
		{1.0, 1.0, 0.2}, {1.0, 1.1, 0.2}, {1.1, 1.2, 0.3}, {1.2, 1.4, 0.3},
		{1.4, 1.8, 0.4}, {1.6, 2.2, 0.4}, {1.8, 2.6, 0.5}, {2.0, 3.1, 0.5},
	}
	if n < 0 || n >= len(params) {
		return EfficientNetConfig{}, fmt.Errorf("EfficientNet-B%d: want B0 … B7", n)
	}
	cfg := EfficientNetConfig{
		WidthMult: params[n].w, DepthMult: params[n].d, Dropout: params[n].drop,
		StochasticDepth: 0.2, BNEps: 1e-5, BNMomentum: 0.1, Classes: classes,
	}
	if n >= 5 {
		cfg.BNEps, cfg.BNMomentum = 1e-3, 0.01
	}
	return cfg, nil
}

// mbStage is a row of Table 1 of the EfficientNet paper, B0's baseline.
type mbStage struct {
	expand         float64
	kernel, stride int64
	in, out        int64
	layers         int
}

var efficientNetB0Stages = []mbStage{
	{1, 3, 1, 32, 16, 1},
	{6, 3, 2, 16, 24, 2},
	{6, 5, 2, 24, 40, 2},
	{6, 3, 2, 40, 80, 3},
	{6, 5, 1, 80, 112, 3},
	{6, 5, 2, 112, 192, 4},
	{6, 3, 1, 192, 320, 1},
}

// makeDivisible is torchvision's _make_divisible(v, 8): the nearest multiple
// of 8 (at least 8) that is not more than 10% below v.
func makeDivisible(v float64) int64 {
	const divisor = 8
	n := max(divisor, int64(v+divisor/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// MBConvBlock is one inverted-residual block of an EfficientNet as the
// config resolves it.
type MBConvBlock struct {
	Prefix         string // state-dict prefix, e.g. "features.2.1"
	In, Out        int64  // input and output channels
	Expanded       int64  // channels of the depthwise convolution
	Squeeze        int64  // channels of the squeeze-and-excitation bottleneck
	Kernel, Stride int64
	Residual       bool    // stride 1 and In == Out: a skip connection
	DropProb       float64 // stochastic depth probability
}

// Expands reports whether the block has a 1×1 expansion convolution.
func (b MBConvBlock) Expands() bool { return b.Expanded != b.In }

// Blocks resolves the configuration into its blocks, in forward order.
func (c EfficientNetConfig) Blocks() []MBConvBlock {
	var stages []mbStage
	total := 0
	for _, s := range efficientNetB0Stages {
		s.in = makeDivisible(float64(s.in) * c.WidthMult)
		s.out = makeDivisible(float64(s.out) * c.WidthMult)
		s.layers = int(math.Ceil(float64(s.layers) * c.DepthMult))
		stages = append(stages, s)
		total += s.layers
	}
	var blocks []MBConvBlock
	for si, s := range stages {
		for i := 0; i < s.layers; i++ {
			in, stride := s.in, s.stride
			if i > 0 {
				in, stride = s.out, 1
			}
			blocks = append(blocks, MBConvBlock{
				Prefix:   fmt.Sprintf("features.%d.%d", si+1, i),
				In:       in,
				Out:      s.out,
				Expanded: makeDivisible(float64(in) * s.expand),
				Squeeze:  max(1, in/4),
				Kernel:   s.kernel,
				Stride:   stride,
				Residual: stride == 1 && in == s.out,
				DropProb: c.StochasticDepth * float64(len(blocks)) / float64(total),
			})
		}
	}
	return blocks
}

// The stem is a 3×3 convolution with stride 2 (torchvision's features.0).
const efficientNetStemKernel, efficientNetStemStride = 3, 2

// StemChannels is the output width of the first convolution.
func (c EfficientNetConfig) StemChannels() int64 {
	return makeDivisible(float64(efficientNetB0Stages[0].in) * c.WidthMult)
}

// HeadChannels is the output width of the last 1×1 convolution, the
// classifier's input.
func (c EfficientNetConfig) HeadChannels() int64 {
	last := efficientNetB0Stages[len(efficientNetB0Stages)-1]
	return 4 * makeDivisible(float64(last.out)*c.WidthMult)
}

// NumParams counts the trainable parameters of the model the config
// describes without building it.
func (c EfficientNetConfig) NumParams() int64 {
	convParams := func(in, out, k, groups int64) int64 { return out*(in/groups)*k*k + 2*out }
	n := convParams(c.inChannels(), c.StemChannels(), efficientNetStemKernel, 1)
	for _, b := range c.Blocks() {
		if b.Expands() {
			n += convParams(b.In, b.Expanded, 1, 1)
		}
		n += convParams(b.Expanded, b.Expanded, b.Kernel, b.Expanded)
		n += b.Squeeze*b.Expanded + b.Squeeze + b.Expanded*b.Squeeze + b.Expanded
		n += convParams(b.Expanded, b.Out, 1, 1)
	}
	blocks := c.Blocks()
	head := c.HeadChannels()
	n += convParams(blocks[len(blocks)-1].Out, head, 1, 1)
	return n + head*c.Classes + c.Classes
}

func (c EfficientNetConfig) validate() error {
	switch {
	case !(c.WidthMult > 0) || !(c.DepthMult > 0):
		return fmt.Errorf("EfficientNet width %g, depth %g: multipliers must be positive", c.WidthMult, c.DepthMult)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("EfficientNet dropout %g: want 0 ≤ p < 1", c.Dropout)
	case !(c.StochasticDepth >= 0 && c.StochasticDepth < 1):
		return fmt.Errorf("EfficientNet stochastic depth %g: want 0 ≤ p < 1", c.StochasticDepth)
	case !(c.BNMomentum >= 0 && c.BNMomentum <= 1):
		return fmt.Errorf("EfficientNet batch norm momentum %g: want 0 ≤ m ≤ 1", c.BNMomentum)
	case !(c.BNEps > 0):
		return fmt.Errorf("EfficientNet batch norm eps %g: want > 0", c.BNEps)
	case c.Classes < 1:
		return fmt.Errorf("EfficientNet with %d classes: want at least 1", c.Classes)
	case c.InChannels < 0:
		return fmt.Errorf("EfficientNet with %d input channels: want at least 1 (0: 3)", c.InChannels)
	}
	return nil
}

// EfficientNet is torchvision's EfficientNet (B0…B7) with named dropout
// sites. Parameter and buffer names are torchvision's state-dict keys:
// features.0.0/.1 (stem convolution and batch norm), features.1 … 7 (the
// MBConv stages; in block features.S.I the layers are block.0 … block.3:
// the optional 1×1 expansion, the depthwise convolution, the
// squeeze-and-excitation (block.K.fc1, block.K.fc2, 1×1 convolutions with
// bias) and the 1×1 projection), features.8 (head) and classifier.1.
//
// Dropout sites, in forward order, are every batch norm's output, named
// like the batch norm ("features.0.1", "features.2.0.block.0.1", …), placed
// before its SiLU, and the shortcut of every block with a skip connection
// ("features.2.1.shortcut": the block's input, masked just before the
// addition).
//
// Initialization is torchvision's: He normal (fan_out) convolutions with
// zero biases, batch norm scale 1 and shift 0, classifier weights
// U(-1/√classes, 1/√classes) with zero bias.
type EfficientNet struct {
	cfg    EfficientNetConfig
	stem   convBN
	blocks []*mbConv
	head   convBN
	fc     *linear
	sites  Sites
}

// convBN is torchvision's Conv2dNormActivation without its activation.
type convBN struct {
	conv *gnn.Conv2D
	bn   *gnn.BatchNorm
	site string
}

func newConvBN(p *gnn.Path, s *Sites, cfg EfficientNetConfig, in, out, k, stride, groups int64) convBN {
	bnCfg := BatchNormConfig()
	bnCfg.Eps, bnCfg.Momentum = cfg.BNEps, cfg.BNMomentum
	// gotch's Path.Sub appends to the parent's slice, so sibling paths can
	// share a backing array: use each sub-path before making the next.
	c := convBN{conv: gnn.NewConv2D(p.Sub("0"), in, out, k, ConvConfigFanOut(out, k, stride, (k-1)/2, groups, false))}
	bnPath := p.Sub("1")
	c.bn = gnn.BatchNorm2D(bnPath, out, bnCfg)
	c.site = s.Declare(pathName(bnPath))
	return c
}

// forward returns bn(conv(x)) through its site, SiLU applied when act.
func (c convBN) forward(s *Sites, x *ts.Tensor, act, train bool) *ts.Tensor {
	h := c.conv.ForwardT(x, train)
	y := c.bn.ForwardT(h, train)
	h.MustDrop()
	y = s.apply(c.site, y, train)
	if act {
		libtorch.Silu_(y)
	}
	return y
}

type mbConv struct {
	MBConvBlock
	expand       *convBN // nil without expansion
	dw           convBN
	fc1, fc2     *gnn.Conv2D
	project      convBN
	shortcutSite string
}

// NewEfficientNet builds an EfficientNet under p.
func NewEfficientNet(p *gnn.Path, cfg EfficientNetConfig) (*EfficientNet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &EfficientNet{cfg: cfg}
	features := p.Sub("features")
	m.stem = newConvBN(features.Sub("0"), &m.sites, cfg, cfg.inChannels(), cfg.StemChannels(), efficientNetStemKernel, efficientNetStemStride, 1)
	blocks := cfg.Blocks()
	for _, b := range blocks {
		bp := features
		for _, part := range strings.Split(b.Prefix, ".")[1:] {
			bp = bp.Sub(part)
		}
		layers := bp.Sub("block")
		blk := &mbConv{MBConvBlock: b}
		k := 0
		next := func() *gnn.Path { q := layers.Sub(fmt.Sprint(k)); k++; return q }
		if b.Expands() {
			e := newConvBN(next(), &m.sites, cfg, b.In, b.Expanded, 1, 1, 1)
			blk.expand = &e
		}
		blk.dw = newConvBN(next(), &m.sites, cfg, b.Expanded, b.Expanded, b.Kernel, b.Stride, b.Expanded)
		se := next()
		blk.fc1 = gnn.NewConv2D(se.Sub("fc1"), b.Expanded, b.Squeeze, 1, ConvConfigFanOut(b.Squeeze, 1, 1, 0, 1, true))
		blk.fc2 = gnn.NewConv2D(se.Sub("fc2"), b.Squeeze, b.Expanded, 1, ConvConfigFanOut(b.Expanded, 1, 1, 0, 1, true))
		blk.project = newConvBN(next(), &m.sites, cfg, b.Expanded, b.Out, 1, 1, 1)
		if b.Residual {
			members := []string{blk.dw.site, blk.project.site}
			if blk.expand != nil {
				members = append(members, blk.expand.site)
			}
			blk.shortcutSite = m.sites.DeclareShortcut(b.Prefix, members...)
		}
		m.blocks = append(m.blocks, blk)
	}
	head := cfg.HeadChannels()
	m.head = newConvBN(features.Sub(fmt.Sprint(len(efficientNetB0Stages)+1)), &m.sites, cfg, blocks[len(blocks)-1].Out, head, 1, 1, 1)
	bound := 1 / math.Sqrt(float64(cfg.Classes))
	m.fc = newLinear(p.Sub("classifier").Sub("1"), head, cfg.Classes, &gnn.LinearConfig{
		WsInit: gnn.NewUniformInit(-bound, bound), BsInit: gnn.NewConstInit(0), Bias: true,
	})
	return m, nil
}

// NewEfficientNetB builds torchvision's EfficientNet-Bn (n = 0…7) under p.
func NewEfficientNetB(p *gnn.Path, n int, classes int64) (*EfficientNet, error) {
	cfg, err := EfficientNetB(n, classes)
	if err != nil {
		return nil, err
	}
	return NewEfficientNet(p, cfg)
}

// Config returns the configuration the model was built with.
func (m *EfficientNet) Config() EfficientNetConfig { return m.cfg }

// Sites returns the model's dropout sites.
func (m *EfficientNet) Sites() *Sites { return &m.sites }

// ForwardT implements ts.ModuleT for N×3×H×W inputs.
func (m *EfficientNet) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	h := m.stem.forward(&m.sites, x, true, train)
	for _, b := range m.blocks {
		next := b.forward(&m.sites, h, train)
		h.MustDrop()
		h = next
	}
	f := m.head.forward(&m.sites, h, true, train)
	h.MustDrop()
	pooled := f.MustAdaptiveAvgPool2d([]int64{1, 1}, true)
	flat := pooled.MustFlatten(1, -1, true)
	if train && m.cfg.Dropout > 0 {
		d := ts.MustDropout(flat, m.cfg.Dropout, true)
		flat.MustDrop()
		flat = d
	}
	out := m.fc.ForwardT(flat, train)
	flat.MustDrop()
	return out
}

// forward runs one MBConv block; x is left for the caller to drop.
func (b *mbConv) forward(s *Sites, x *ts.Tensor, train bool) *ts.Tensor {
	h := x
	if b.expand != nil {
		h = b.expand.forward(s, x, true, train)
	}
	d := b.dw.forward(s, h, true, train)
	if h != x {
		h.MustDrop()
	}
	// Squeeze and excitation: d · σ(fc2(SiLU(fc1(avgpool(d))))).
	sq := d.MustAdaptiveAvgPool2d([]int64{1, 1}, false)
	z := b.fc1.ForwardT(sq, train)
	sq.MustDrop()
	libtorch.Silu_(z)
	e := b.fc2.ForwardT(z, train)
	z.MustDrop()
	libtorch.Sigmoid_(e)
	scaled := d.MustMul(e, true)
	e.MustDrop()
	out := b.project.forward(s, scaled, false, train)
	scaled.MustDrop()
	if !b.Residual {
		return out
	}
	if train && b.DropProb > 0 {
		out = stochasticDepth(out, b.DropProb)
	}
	sc := s.Apply(b.shortcutSite, x, train)
	libtorch.Add_(out, sc)
	if sc != x {
		sc.MustDrop()
	}
	return out
}

// stochasticDepth zeroes whole samples of x with probability p and scales
// the others by 1/(1-p), as torchvision's stochastic_depth in "row" mode. It
// drops x.
func stochasticDepth(x *ts.Tensor, p float64) *ts.Tensor {
	size := x.MustSize()
	shape := make([]int64, len(size))
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = size[0]
	// keep/(1-p) with keep ~ Bernoulli(1-p), built out of place: gotch's
	// in-place ops leak (see libtorch.InPlace).
	u := ts.MustRand(shape, x.DType(), x.MustDevice())
	keep := u.MustLt(ts.FloatScalar(1-p), true)
	noise := keep.MustTotype(x.DType(), true).MustDivScalar(ts.FloatScalar(1-p), true)
	y := x.MustMul(noise, true)
	noise.MustDrop()
	return y
}

// pathName is the dotted state-dict name of a gotch path.
func pathName(p *gnn.Path) string {
	return strings.Join(p.Paths(), ".")
}
