package nn

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// TransformerXLConfig sizes a Transformer-XL language model (Dai et al.,
// 2019). JSON names follow the reference implementation's flags.
type TransformerXLConfig struct {
	NToken int64 `json:"n_token"` // vocabulary size (set from the data)
	NLayer int64 `json:"n_layer"`
	DModel int64 `json:"d_model"`
	NHead  int64 `json:"n_head"`
	DHead  int64 `json:"d_head"`
	DInner int64 `json:"d_inner"`
	TgtLen int64 `json:"tgt_len"` // segment length
	MemLen int64 `json:"mem_len"` // hidden states kept per layer
	// Dropout and DropAtt are the reference's rates; the model itself
	// applies no dropout: callers assign regularizers to its Sites (the
	// training command maps these rates onto them).
	Dropout float64 `json:"dropout"`
	DropAtt float64 `json:"dropatt"`
}

// Validate checks the sizes.
func (c TransformerXLConfig) Validate() error {
	for _, f := range []struct {
		n string
		v int64
	}{{"n_token", c.NToken}, {"n_layer", c.NLayer}, {"d_model", c.DModel}, {"n_head", c.NHead}, {"d_head", c.DHead}, {"d_inner", c.DInner}, {"tgt_len", c.TgtLen}} {
		if f.v < 1 {
			return fmt.Errorf("transformer-xl config: %s = %d: want ≥ 1", f.n, f.v)
		}
	}
	if c.MemLen < 0 {
		return fmt.Errorf("transformer-xl config: mem_len = %d: want ≥ 0", c.MemLen)
	}
	return nil
}

// TransformerXL is a Transformer-XL language model with relative
// positional attention (the r_w_bias / r_r_bias form with the rel-shift
// trick), segment-level recurrence, post-layer-norm blocks as in the
// reference's default, and an output layer tied to the input embedding
// (plus an output bias). Simplifications, documented: no adaptive softmax
// (a full softmax over the vocabulary, fine for PTB/WikiText-2/fortunes
// sizes), r_w_bias and r_r_bias per layer (the reference shares them
// unless --untie_r).
//
// Activations are batch first, B×T×D. Dropout sites, in forward order:
// "emb" (the scaled word embeddings), "pos_emb" (the relative position
// embedding, (M+T)×D, shared by every layer as in the reference), then per
// layer i "layers.i.attn.q", ".k", ".v", ".prob", ".attn_out",
// "layers.i.ff.hidden", ".ff.out", and finally "out" (the last layer's
// output, before the softmax). Sites see B×T×F tensors (q: B×T×H·Dh; k,
// v: B×(M+T)×H·Dh); the attention probabilities are shown as
// (B·H)×T×(M+T): tokens are query positions, features are keys.
// TransformerXLSiteKinds maps the sublayer kinds of a Transformer search
// space (autodropout.TransformerSpace.Sites) to regular expressions over a
// TransformerXL's site names: a kind names one sublayer in every layer.
// "pos_emb" and "out", where the reference drops too, are not in the
// default space (autodropout.DefaultTransformerSpace) but may be named.
var TransformerXLSiteKinds = map[string]string{
	"emb":       `^emb$`,
	"pos_emb":   `^pos_emb$`,
	"out":       `^out$`,
	"q":         `\.attn\.q$`,
	"k":         `\.attn\.k$`,
	"v":         `\.attn\.v$`,
	"prob":      `\.attn\.prob$`,
	"attn_out":  `\.attn\.attn_out$`,
	"ff_hidden": `\.ff\.hidden$`,
	"ff_out":    `\.ff\.out$`,
}

type TransformerXL struct {
	Cfg    TransformerXLConfig
	emb    *ts.Tensor // n_token × d_model
	outB   *ts.Tensor
	layers []*xlLayer
	sites  Sites
}

type xlLayer struct {
	qkv, r, o      *ts.Tensor // weights (out×in), no bias
	rwBias, rrBias *ts.Tensor // H×Dh
	ln1W, ln1B     *ts.Tensor
	ff1, ff2       *linear
	ln2W, ln2B     *ts.Tensor
	site           [7]string
}

// NewTransformerXL builds the model under p. Initialization follows the
// reference: embeddings and attention biases N(0, 0.02²), linear layers
// PyTorch's default, layer norms 1 and 0.
func NewTransformerXL(p *gnn.Path, c TransformerXLConfig) (*TransformerXL, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &TransformerXL{Cfg: c}
	hd := c.NHead * c.DHead
	var err error
	newVar := func(path *gnn.Path, name string, dims []int64, ini gnn.Init) *ts.Tensor {
		if err != nil {
			return nil
		}
		var t *ts.Tensor
		t, err = path.NewVar(name, dims, ini)
		return t
	}
	m.emb = newVar(p.Sub("word_emb"), "weight", []int64{c.NToken, c.DModel}, gnn.NewRandnInit(0, 0.02))
	m.outB = newVar(p.Sub("crit"), "bias", []int64{c.NToken}, gnn.NewConstInit(0))
	m.sites.Declare("emb")
	m.sites.Declare("pos_emb")
	for i := int64(0); i < c.NLayer; i++ {
		l := &xlLayer{}
		name := fmt.Sprintf("layers.%d", i)
		bound := func(in int64) gnn.Init { b := fanInBound(in); return gnn.NewUniformInit(-b, b) }
		l.qkv = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn").Sub("qkv_net"), "weight", []int64{3 * hd, c.DModel}, bound(c.DModel))
		l.r = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn").Sub("r_net"), "weight", []int64{hd, c.DModel}, bound(c.DModel))
		l.o = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn").Sub("o_net"), "weight", []int64{c.DModel, hd}, bound(hd))
		l.rwBias = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn"), "r_w_bias", []int64{c.NHead, c.DHead}, gnn.NewRandnInit(0, 0.02))
		l.rrBias = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn"), "r_r_bias", []int64{c.NHead, c.DHead}, gnn.NewRandnInit(0, 0.02))
		l.ln1W = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn").Sub("layer_norm"), "weight", []int64{c.DModel}, gnn.NewConstInit(1))
		l.ln1B = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("dec_attn").Sub("layer_norm"), "bias", []int64{c.DModel}, gnn.NewConstInit(0))
		if err != nil {
			return nil, fmt.Errorf("transformer-xl layer %d: %w", i, err)
		}
		l.ff1 = newLinear(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("pos_ff").Sub("CoreNet").Sub("0"), c.DModel, c.DInner, LinearConfig(c.DModel))
		l.ff2 = newLinear(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("pos_ff").Sub("CoreNet").Sub("3"), c.DInner, c.DModel, LinearConfig(c.DInner))
		l.ln2W = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("pos_ff").Sub("layer_norm"), "weight", []int64{c.DModel}, gnn.NewConstInit(1))
		l.ln2B = newVar(p.Sub("layers").Sub(fmt.Sprint(i)).Sub("pos_ff").Sub("layer_norm"), "bias", []int64{c.DModel}, gnn.NewConstInit(0))
		if err != nil {
			return nil, fmt.Errorf("transformer-xl layer %d: %w", i, err)
		}
		for j, s := range []string{"attn.q", "attn.k", "attn.v", "attn.prob", "attn.attn_out", "ff.hidden", "ff.out"} {
			l.site[j] = m.sites.Declare(name + "." + s)
		}
		m.layers = append(m.layers, l)
	}
	if err != nil {
		return nil, err
	}
	m.sites.Declare("out")
	return m, nil
}

// Sites implements SiteModel.
func (m *TransformerXL) Sites() *Sites { return &m.sites }

// ForwardT implements ts.ModuleT without memory: x is B×T int64 token ids;
// the result is B×T×n_token logits.
func (m *TransformerXL) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	logits, mems := m.ForwardMem(x, nil, train)
	for _, t := range mems {
		t.MustDrop()
	}
	return logits
}

// ForwardMem runs one segment. mems holds one B×M×D tensor per layer (the
// layer inputs of earlier segments; nil or empty: no memory). It returns
// the logits and the new memories: the last mem_len layer inputs, detached
// so that no gradient flows into them. The caller owns (and drops) both.
func (m *TransformerXL) ForwardMem(x *ts.Tensor, mems []*ts.Tensor, train bool) (*ts.Tensor, []*ts.Tensor) {
	c := m.Cfg
	h := ts.MustEmbedding(m.emb, x, -1, false, false)
	h = h.MustMulScalar(ts.FloatScalar(math.Sqrt(float64(c.DModel))), true)
	h = m.sites.apply("emb", h, train)
	// One relative position embedding for every layer, regularized once
	// as the reference's pos_emb dropout is.
	klen := h.MustSize()[1]
	if len(mems) > 0 && mems[0] != nil {
		klen += mems[0].MustSize()[1]
	}
	pe := sinusoid(klen, c.DModel, h.MustDevice())
	pe = m.sites.apply("pos_emb", pe, train)
	defer pe.MustDrop()
	var newMems []*ts.Tensor
	for i, l := range m.layers {
		var mem *ts.Tensor
		if i < len(mems) {
			mem = mems[i]
		}
		if c.MemLen > 0 {
			newMems = append(newMems, updateMem(mem, h, c.MemLen))
		}
		nh := m.layer(l, h, mem, pe, train)
		h.MustDrop()
		h = nh
	}
	h = m.sites.apply("out", h, train)
	logits := ts.MustLinear(h, m.emb, m.outB)
	h.MustDrop()
	return logits, newMems
}

// noBias is the undefined tensor that linear layers without a bias pass:
// one for the package rather than a ts.NewTensor() per call, each a C
// allocation left to a finalizer. A temporary there is safe with the gotch
// copy that make setup builds, which keeps an op's arguments alive during
// its C call (internal/gotchbuild); with plain gotch, one freed while
// libtorch read it crashed Transformer-XL after about an hour of steps
// (docs/performance.md).
var noBias = ts.NewTensor()

// withMemory returns [mem; h] along time, a new tensor the caller drops
// (h itself when there is no memory, as a new handle).
func withMemory(mem, h *ts.Tensor) *ts.Tensor {
	if mem != nil && mem.MustSize()[1] > 0 {
		return ts.MustCat([]*ts.Tensor{mem, h}, 1)
	}
	return h.MustShallowClone()
}

// updateMem returns the last memLen steps of [mem; h], detached.
func updateMem(mem, h *ts.Tensor, memLen int64) *ts.Tensor {
	cat := withMemory(mem, h)
	k := cat.MustSize()[1]
	start := max(0, k-memLen)
	out := cat.MustNarrow(1, start, k-start, true).MustDetach(true)
	return out
}

// sinusoid returns the K×D relative position embedding for distances
// K-1, K-2, …, 0 (the reference's pos_seq with inv_freq 1/10000^(2i/D)).
func sinusoid(k, d int64, dev gotch.Device) *ts.Tensor {
	pos := make([]float32, k)
	for i := range pos {
		pos[i] = float32(k - 1 - int64(i))
	}
	data := make([]float32, k*d)
	half := d / 2
	for i := int64(0); i < k; i++ {
		for j := int64(0); j < half; j++ {
			f := float64(pos[i]) / math.Pow(10000, float64(2*j)/float64(d))
			data[i*d+j] = float32(math.Sin(f))
			data[i*d+half+j] = float32(math.Cos(f))
		}
	}
	t := ts.MustOfSlice(data).MustView([]int64{k, d}, true)
	if dev != gotch.CPU {
		t = t.MustTo(dev, true)
	}
	return t
}

// RelShift is the Transformer-XL rel-shift on B×H×T×K scores whose last
// axis indexes the relative distances K-1…0: entry (i, j) of the result
// takes the column for distance (M+i)-j, M = K-T. Entries with j > M+i hold
// garbage that the causal mask removes.
func RelShift(x *ts.Tensor) *ts.Tensor {
	s := x.MustSize()
	b, hh, t, k := s[0], s[1], s[2], s[3]
	p := x.MustConstantPadNd([]int64{1, 0}, false) // B×H×T×(K+1)
	p = p.MustView([]int64{b, hh, k + 1, t}, true)
	p = p.MustNarrow(2, 1, k, true)
	return p.MustContiguous(true).MustView([]int64{b, hh, t, k}, true)
}

func layerNorm(x, w, b *ts.Tensor) *ts.Tensor {
	return ts.MustLayerNorm(x, []int64{w.MustSize()[0]}, w, b, 1e-5, false)
}

// layer runs one decoder layer on h (B×T×D) with memory mem (B×M×D or nil)
// and the relative position embedding pe (K×D).
func (m *TransformerXL) layer(l *xlLayer, h, mem, pe *ts.Tensor, train bool) *ts.Tensor {
	c := m.Cfg
	s := h.MustSize()
	b, t := s[0], s[1]
	hd := c.NHead * c.DHead
	cat := withMemory(mem, h)
	k := cat.MustSize()[1]
	mlen := k - t
	heads := ts.MustLinear(cat, l.qkv, noBias) // B×K×3HDh
	cat.MustDrop()
	q := heads.MustNarrow(2, 0, hd, false).MustNarrow(1, mlen, t, true).MustContiguous(true)
	kk := heads.MustNarrow(2, hd, hd, false).MustContiguous(true)
	v := heads.MustNarrow(2, 2*hd, hd, false).MustContiguous(true)
	heads.MustDrop()
	q = m.sites.apply(l.site[0], q, train)
	kk = m.sites.apply(l.site[1], kk, train)
	v = m.sites.apply(l.site[2], v, train)
	scores, prob := m.attnScores(l, q, kk, pe, b, t, k, mlen, h.MustDevice())
	q.MustDrop()
	kk.MustDrop()
	scores.MustDrop()
	prob = prob.MustView([]int64{b * c.NHead, t, k}, true)
	prob = m.sites.apply(l.site[3], prob, train)
	prob = prob.MustView([]int64{b, c.NHead, t, k}, true)
	vh := v.MustView([]int64{b, k, c.NHead, c.DHead}, true).MustPermute([]int64{0, 2, 1, 3}, true) // B×H×K×Dh
	av := prob.MustMatmul(vh, true)                                                                // B×H×T×Dh
	vh.MustDrop()
	av = av.MustPermute([]int64{0, 2, 1, 3}, true).MustContiguous(true).MustView([]int64{b, t, hd}, true)
	o := ts.MustLinear(av, l.o, noBias)
	av.MustDrop()
	o = m.sites.apply(l.site[4], o, train)
	r1 := h.MustAdd(o, false)
	o.MustDrop()
	out1 := layerNorm(r1, l.ln1W, l.ln1B)
	r1.MustDrop()
	f := l.ff1.Forward(out1).MustRelu(true)
	f = m.sites.apply(l.site[5], f, train)
	f2 := l.ff2.Forward(f)
	f.MustDrop()
	f2 = m.sites.apply(l.site[6], f2, train)
	r2 := out1.MustAdd(f2, true)
	f2.MustDrop()
	out := layerNorm(r2, l.ln2W, l.ln2B)
	r2.MustDrop()
	return out
}

// attnScores returns the masked, scaled scores and their softmax, both
// B×H×T×K: AC + BD with AC = (q+r_w_bias)·k and BD = rel-shifted
// (q+r_r_bias)·R, R = r_net(sinusoid) for distances K-1…0.
func (m *TransformerXL) attnScores(l *xlLayer, q, kk, pe *ts.Tensor, b, t, k, mlen int64, dev gotch.Device) (*ts.Tensor, *ts.Tensor) {
	c := m.Cfg
	qh := q.MustView([]int64{b, t, c.NHead, c.DHead}, false)
	qw := qh.MustAdd(l.rwBias, false).MustPermute([]int64{0, 2, 1, 3}, true) // B×H×T×Dh
	qr := qh.MustAdd(l.rrBias, false).MustPermute([]int64{0, 2, 1, 3}, true)
	qh.MustDrop()
	kh := kk.MustView([]int64{b, k, c.NHead, c.DHead}, false).MustPermute([]int64{0, 2, 3, 1}, true) // B×H×Dh×K
	ac := qw.MustMatmul(kh, true)
	kh.MustDrop()
	r := ts.MustLinear(pe, l.r, noBias)                                                      // K×HDh
	rh := r.MustView([]int64{k, c.NHead, c.DHead}, true).MustPermute([]int64{1, 2, 0}, true) // H×Dh×K
	bd := qr.MustMatmul(rh, true)
	rh.MustDrop()
	bds := RelShift(bd)
	bd.MustDrop()
	sc := ac.MustAdd(bds, true)
	bds.MustDrop()
	sc = sc.MustMulScalar(ts.FloatScalar(1/math.Sqrt(float64(c.DHead))), true)
	mask := causalMask(t, k, mlen, dev)
	sc = sc.MustMaskedFill(mask, ts.FloatScalar(-1e30), true)
	mask.MustDrop()
	prob := sc.MustSoftmax(-1, gotch.Float, false)
	return sc, prob
}

// causalMask is T×K bool, true where key j is after query i (j > M+i).
func causalMask(t, k, mlen int64, dev gotch.Device) *ts.Tensor {
	ones := ts.MustOnes([]int64{t, k}, gotch.Float, dev)
	tri := ones.MustTriu(1+mlen, true)
	return tri.MustTotype(gotch.Bool, true)
}
