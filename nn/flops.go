package nn

import (
	"fmt"
	"strings"
)

// ForwardMACs returns the multiply-accumulates (MACs) of one forward pass
// of one example through the named model (any name New accepts) at input
// in (C×H×W) with classes outputs, for search cost estimates. It reads the
// layer tables the constructors build from, and its output sizes follow
// the constructors' padding, strides and (floor) pooling exactly.
//
// Counted, as torchvision's "GFLOPS" column and most papers' "FLOPs" count
// (they mean MACs): convolutions (weight numel × output height × output
// width, which covers grouped and depthwise ones, and the 1×1
// squeeze-and-excitation convolutions of EfficientNet) and linear layers.
// Not counted: batch norm, activations, pooling, residual additions, the
// squeeze-and-excitation scaling (a few percent together at most).
//
// A training step costs about 3× the forward (the backward pass computes
// gradients of both activations and weights, about 2× the forward); the
// caller applies that factor and the batch size.
func ForwardMACs(name string, in Input, classes int64) (int64, error) {
	c, err := forwardTally(name, in, classes)
	return c.macs, err
}

// ForwardOutputs returns the elements of every convolution's and linear
// layer's output in one forward pass of one example (the same walk as
// ForwardMACs): the scale of the activations a training step keeps for
// its backward pass. Each convolution's output is followed by a batch
// norm and mostly a nonlinearity whose outputs autograd keeps too, so a
// step holds about 3× this per example; the caller applies the factor,
// the batch size and the bytes per element.
func ForwardOutputs(name string, in Input, classes int64) (int64, error) {
	c, err := forwardTally(name, in, classes)
	return c.outputs, err
}

func forwardTally(name string, in Input, classes int64) (tally, error) {
	if in.C < 1 || in.H < 1 || in.W < 1 {
		return tally{}, fmt.Errorf("model %q: input %d×%d×%d: want positive sizes", name, in.C, in.H, in.W)
	}
	if classes < 1 {
		return tally{}, fmt.Errorf("model %q with %d classes: want at least 1", name, classes)
	}
	key := strings.ToLower(name)
	for _, f := range families {
		if m := f.pattern.FindStringSubmatch(key); m != nil {
			return f.macs(m, in, classes)
		}
	}
	return tally{}, unknownModel(name)
}

// tally counts a forward pass: MACs and output elements.
type tally struct{ macs, outputs int64 }

// conv counts a k×k convolution in→out with the given stride, padding and
// groups on an h×w map, and returns its output size (PyTorch's
// floor((h + 2·pad − k)/stride) + 1).
func (t *tally) conv(in, out, k, stride, pad, groups, h, w int64) (oh, ow int64) {
	oh = (h+2*pad-k)/stride + 1
	ow = (w+2*pad-k)/stride + 1
	t.macs += out * (in / groups) * k * k * oh * ow
	t.outputs += out * oh * ow
	return oh, ow
}

// linear counts a linear layer in→out.
func (t *tally) linear(in, out int64) {
	t.macs += in * out
	t.outputs += out
}

// convNetMACs counts NewConvNet: two 3×3 "same" convolutions, each followed
// by a 2×2 max pool, then two linear layers.
func convNetMACs(in Input, classes int64) (tally, error) {
	if err := checkConvNetInput(in); err != nil {
		return tally{}, err
	}
	var t tally
	h, w := t.conv(in.C, convNetC1, 3, 1, 1, 1, in.H, in.W)
	h, w = t.conv(convNetC1, convNetC2, 3, 1, 1, 1, h/2, w/2)
	t.linear(convNetC2*(h/2)*(w/2), convNetHidden)
	t.linear(convNetHidden, classes)
	return t, nil
}

// wrnMACs counts NewWRN's layout (wrnBlocks).
func wrnMACs(depth, width int, in Input, classes int64) (tally, error) {
	blocks, err := wrnBlocks(depth, width)
	if err != nil {
		return tally{}, err
	}
	var t tally
	h, w := t.conv(in.C, wrnStemWidth, 3, 1, 1, 1, in.H, in.W)
	for _, b := range blocks {
		oh, ow := t.conv(b.in, b.out, 3, b.stride, 1, 1, h, w)
		t.conv(b.out, b.out, 3, 1, 1, 1, oh, ow)
		if b.shortcut {
			t.conv(b.in, b.out, 1, b.stride, 0, 1, h, w)
		}
		h, w = oh, ow
	}
	t.linear(blocks[len(blocks)-1].out, classes)
	return t, nil
}

// resNetMACs counts NewResNet's layout (ResNetConfig.stem and blocks).
func resNetMACs(cfg ResNetConfig, in Input) tally {
	var t tally
	st := cfg.stem()
	h, w := t.conv(st.in, st.out, st.k, st.s, st.k/2, 1, in.H, in.W)
	pool := resNetPool
	h = (h+2*pool.p-pool.k)/pool.s + 1
	w = (w+2*pool.p-pool.k)/pool.s + 1
	last := st.out
	for _, b := range cfg.blocks() {
		bh, bw := h, w
		for _, c := range b.convs {
			bh, bw = t.conv(c.in, c.out, c.k, c.s, c.k/2, 1, bh, bw)
		}
		if d := b.down; d != nil {
			t.conv(d.in, d.out, 1, d.s, 0, 1, h, w)
		}
		h, w = bh, bw
		last = b.convs[len(b.convs)-1].out
	}
	t.linear(last, cfg.Classes)
	return t
}

// efficientNetMACs counts NewEfficientNet's layout (EfficientNetConfig's
// StemChannels, Blocks and HeadChannels). The squeeze-and-excitation 1×1
// convolutions run on a 1×1 map.
func efficientNetMACs(cfg EfficientNetConfig, in Input) tally {
	var t tally
	k, s := int64(efficientNetStemKernel), int64(efficientNetStemStride)
	h, w := t.conv(in.C, cfg.StemChannels(), k, s, (k-1)/2, 1, in.H, in.W)
	blocks := cfg.Blocks()
	for _, b := range blocks {
		if b.Expands() {
			t.conv(b.In, b.Expanded, 1, 1, 0, 1, h, w)
		}
		oh, ow := t.conv(b.Expanded, b.Expanded, b.Kernel, b.Stride, (b.Kernel-1)/2, b.Expanded, h, w)
		t.linear(b.Expanded, b.Squeeze) // the squeeze-and-excitation 1×1 convolutions
		t.linear(b.Squeeze, b.Expanded)
		t.outputs += b.Expanded * oh * ow // the excitation's scaled map
		t.conv(b.Expanded, b.Out, 1, 1, 0, 1, oh, ow)
		h, w = oh, ow
	}
	head := cfg.HeadChannels()
	t.conv(blocks[len(blocks)-1].Out, head, 1, 1, 0, 1, h, w)
	t.linear(head, cfg.Classes)
	return t
}

// TransformerXLMACsPerToken returns the multiply-accumulates of one forward
// pass per training token of the TransformerXL that c describes, in the
// steady state where every layer attends over K = tgt_len + mem_len keys
// (the first segment, without memory, costs less). Per layer and segment
// of one sequence it counts what TransformerXL.layer computes:
//
//   - the q/k/v projection over all K positions (memory included, as the
//     reference recomputes it): K·d_model·3·H·Dh;
//   - the relative-position projection r_net of the K sinusoids:
//     K·d_model·H·Dh (computed once per batch; counted per sequence, an
//     overestimate of K·d_model·H·Dh·(1 − 1/B)/tgt_len per token);
//   - the content and position scores AC and BD and the weighted sum of
//     the values, each tgt_len·K·H·Dh over the full (masked) score matrix;
//   - the output projection tgt_len·H·Dh·d_model;
//   - the feed-forward tgt_len·2·d_model·d_inner;
//
// plus the tied output projection tgt_len·d_model·n_token. The segment's
// total is divided by tgt_len (rounded). Layer norm, softmax, the
// embedding look-up and the additions are not counted. A training step
// costs about 3× this (forward + backward), which the caller applies.
func TransformerXLMACsPerToken(c TransformerXLConfig) int64 {
	if c.TgtLen < 1 {
		return 0
	}
	t, k, d := c.TgtLen, c.TgtLen+max(0, c.MemLen), c.DModel
	hd := c.NHead * c.DHead
	layer := k*d*3*hd + // q, k, v
		k*d*hd + // r
		3*t*k*hd + // AC, BD, prob·V
		t*hd*d + // o
		2*t*d*c.DInner // feed-forward
	total := c.NLayer*layer + t*d*c.NToken
	return (total + t/2) / t
}
