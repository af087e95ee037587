package nn

import (
	"fmt"
	"github.com/autodropout/autodropout/libtorch"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// WRN is the wide residual network WRN-d-k of Zagoruyko & Komodakis (2016)
// for small images, as the AutoDropout paper uses it on CIFAR-10 (WRN-28-10
// for the final model, WRN-28-2 as the search proxy). It has three groups
// of (d-4)/6 pre-activation basic blocks with 16k, 32k and 64k channels.
//
// Parameter names follow the common PyTorch implementation (conv1,
// block1.layer.0.bn1, block1.layer.0.conv1, …, block1.layer.0.convShortcut,
// bn1, fc). Dropout sites are every batch-norm output (named like the
// batch norm) and every block's shortcut path just before the addition
// ("block1.layer.0.shortcut": the raw input of an identity block, the
// projection's output otherwise). The original's dropout between the two
// convs is left to the sites.
type WRN struct {
	conv1  *gnn.Conv2D
	blocks []*wrnBlock
	bn     *gnn.BatchNorm
	fc     *linear
	sites  Sites
}

type wrnBlock struct {
	prefix           string
	bn1, bn2         *gnn.BatchNorm
	conv1, conv2     *gnn.Conv2D
	shortcut         *gnn.Conv2D // nil when input and output shapes agree
	bn1Site, bn2Site string
	shortcutSite     string
}

// wrnStemWidth is the output width of a WRN's first convolution.
const wrnStemWidth = 16

// wrnBlockSpec is one basic block of a WRN as NewWRN builds it: two 3×3
// convolutions in→out (the first with the stride) and a 1×1 projection
// shortcut when the shapes differ.
type wrnBlockSpec struct {
	group, index    int // the block's name is block<group+1>.layer.<index>
	in, out, stride int64
	shortcut        bool
}

// wrnBlocks lays out WRN-depth-width's blocks in forward order; NewWRN and
// ForwardMACs both read it. depth must be 6n+4.
func wrnBlocks(depth, width int) ([]wrnBlockSpec, error) {
	if depth < 10 || (depth-4)%6 != 0 {
		return nil, fmt.Errorf("WRN depth %d: want 6n+4 with n ≥ 1 (e.g. 16, 22, 28, 40)", depth)
	}
	if width < 1 {
		return nil, fmt.Errorf("WRN width %d: want at least 1", width)
	}
	n := (depth - 4) / 6
	var blocks []wrnBlockSpec
	in := int64(wrnStemWidth)
	for g := 0; g < 3; g++ {
		out := int64(wrnStemWidth<<g) * int64(width)
		for i := 0; i < n; i++ {
			s := int64(1)
			if g > 0 && i == 0 {
				s = 2
			}
			blocks = append(blocks, wrnBlockSpec{g, i, in, out, s, in != out || s != 1})
			in = out
		}
	}
	return blocks, nil
}

// NewWRN builds WRN-depth-width for inC-channel images and classes outputs.
// depth must be 6n+4.
func NewWRN(p *gnn.Path, depth, width int, inC, classes int64) (*WRN, error) {
	specs, err := wrnBlocks(depth, width)
	if err != nil {
		return nil, err
	}
	m := &WRN{conv1: gnn.NewConv2D(p.Sub("conv1"), inC, wrnStemWidth, 3, ConvConfigFanOut(wrnStemWidth, 3, 1, 1, 1, false))}
	in := int64(wrnStemWidth)
	for _, sp := range specs {
		prefix := fmt.Sprintf("block%d.layer.%d", sp.group+1, sp.index)
		bp := p.Sub(fmt.Sprintf("block%d", sp.group+1)).Sub("layer").Sub(fmt.Sprint(sp.index))
		out, s := sp.out, sp.stride
		b := &wrnBlock{
			prefix: prefix,
			bn1:    gnn.BatchNorm2D(bp.Sub("bn1"), sp.in, BatchNormConfig()),
			conv1:  gnn.NewConv2D(bp.Sub("conv1"), sp.in, out, 3, ConvConfigFanOut(out, 3, s, 1, 1, false)),
			bn2:    gnn.BatchNorm2D(bp.Sub("bn2"), out, BatchNormConfig()),
			conv2:  gnn.NewConv2D(bp.Sub("conv2"), out, out, 3, ConvConfigFanOut(out, 3, 1, 1, 1, false)),
		}
		if sp.shortcut {
			b.shortcut = gnn.NewConv2D(bp.Sub("convShortcut"), sp.in, out, 1, ConvConfigFanOut(out, 1, s, 0, 1, false))
		}
		b.bn1Site = m.sites.Declare(prefix + ".bn1")
		b.bn2Site = m.sites.Declare(prefix + ".bn2")
		b.shortcutSite = m.sites.DeclareShortcut(prefix, b.bn1Site, b.bn2Site)
		m.blocks = append(m.blocks, b)
		in = out
	}
	m.bn = gnn.BatchNorm2D(p.Sub("bn1"), in, BatchNormConfig())
	m.sites.Declare("bn1")
	fcCfg := LinearConfig(in)
	fcCfg.BsInit = gnn.NewConstInit(0)
	m.fc = newLinear(p.Sub("fc"), in, classes, fcCfg)
	return m, nil
}

// Sites returns the model's dropout sites.
func (m *WRN) Sites() *Sites { return &m.sites }

// ForwardT implements ts.ModuleT.
func (m *WRN) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	h := m.conv1.ForwardT(x, train)
	for _, b := range m.blocks {
		next := b.forward(&m.sites, h, train)
		h.MustDrop()
		h = next
	}
	a := m.bn.ForwardT(h, train)
	h.MustDrop()
	a = m.sites.apply("bn1", a, train)
	libtorch.Relu_(a)
	// Global average pooling works for any input size (32×32 CIFAR, 28×28 MNIST).
	pooled := a.MustMeanDim([]int64{2, 3}, false, a.DType(), true)
	out := m.fc.ForwardT(pooled, train)
	pooled.MustDrop()
	return out
}

// forward runs one pre-activation block; x is left for the caller to drop.
func (b *wrnBlock) forward(s *Sites, x *ts.Tensor, train bool) *ts.Tensor {
	a := b.bn1.ForwardT(x, train)
	a = s.apply(b.bn1Site, a, train)
	libtorch.Relu_(a)
	h := b.conv1.ForwardT(a, train)
	h2 := b.bn2.ForwardT(h, train)
	h.MustDrop()
	h2 = s.apply(b.bn2Site, h2, train)
	libtorch.Relu_(h2)
	r := b.conv2.ForwardT(h2, train)
	h2.MustDrop()
	// As in the reference implementation, a projection shortcut starts from
	// the activated input; an identity shortcut from the raw input.
	var sc *ts.Tensor
	if b.shortcut != nil {
		sc = s.apply(b.shortcutSite, b.shortcut.ForwardT(a, train), train)
	} else {
		sc = s.Apply(b.shortcutSite, x, train)
	}
	out := r.MustAdd(sc, true)
	if sc != x {
		sc.MustDrop()
	}
	a.MustDrop()
	return out
}
