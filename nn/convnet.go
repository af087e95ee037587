package nn

import (
	"github.com/autodropout/autodropout/libtorch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ConvNet is a small two-block convolutional network for 28×28 images:
// (conv3×3 → batch norm → ReLU → 2×2 max pool) twice, then a hidden linear
// layer and a classifier. It trains one epoch of Fashion-MNIST in about a
// minute on two cores.
type ConvNet struct {
	conv1, conv2 *gnn.Conv2D
	bn1, bn2     *gnn.BatchNorm
	fc1, fc2     *linear
	flat         int64
	sites        Sites
}

// The ConvNet's widths: its two convolutions and its hidden linear layer.
const convNetC1, convNetC2, convNetHidden = 32, 64, 128

// NewConvNet creates a ConvNet for inC×h×w inputs (h and w divisible by 4)
// and the given number of classes.
func NewConvNet(p *gnn.Path, inC, h, w, classes int64) *ConvNet {
	const c1, c2, hidden = convNetC1, convNetC2, convNetHidden
	m := &ConvNet{
		conv1: gnn.NewConv2D(p.Sub("conv1"), inC, c1, 3, ConvConfig(inC, 3, 1, 1, 1, false)),
		bn1:   gnn.BatchNorm2D(p.Sub("bn1"), c1, BatchNormConfig()),
		conv2: gnn.NewConv2D(p.Sub("conv2"), c1, c2, 3, ConvConfig(c1, 3, 1, 1, 1, false)),
		bn2:   gnn.BatchNorm2D(p.Sub("bn2"), c2, BatchNormConfig()),
		fc1:   newLinear(p.Sub("fc1"), c2*(h/4)*(w/4), hidden, LinearConfig(c2*(h/4)*(w/4))),
		fc2:   newLinear(p.Sub("fc2"), hidden, classes, LinearConfig(hidden)),
		flat:  c2 * (h / 4) * (w / 4),
	}
	m.sites.Declare("bn1")
	m.sites.Declare("bn2")
	return m
}

// Sites returns the model's dropout sites.
func (m *ConvNet) Sites() *Sites { return &m.sites }

// ForwardT implements ts.ModuleT. Intermediates are dropped as soon as they
// are used, so memory stays flat over long training loops.
func (m *ConvNet) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	block := func(x *ts.Tensor, conv *gnn.Conv2D, bn *gnn.BatchNorm, site string) *ts.Tensor {
		c := conv.ForwardT(x, train)
		b := bn.ForwardT(c, train)
		c.MustDrop()
		b = m.sites.apply(site, b, train)
		libtorch.Relu_(b)
		p := b.MustMaxPool2d([]int64{2, 2}, []int64{2, 2}, []int64{0, 0}, []int64{1, 1}, false, true)
		return p
	}
	h1 := block(x, m.conv1, m.bn1, "bn1")
	h2 := block(h1, m.conv2, m.bn2, "bn2")
	h1.MustDrop()
	f := h2.MustView([]int64{-1, m.flat}, true)
	z := m.fc1.ForwardT(f, train)
	f.MustDrop()
	libtorch.Relu_(z)
	out := m.fc2.ForwardT(z, train)
	z.MustDrop()
	return out
}
