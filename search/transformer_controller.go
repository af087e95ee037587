package search

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// A TransformerController is a small causal Transformer (decoder only,
// pre-layer-norm, as in GPT-2) over the decision sequence: for every site
// in order, the tokens of a pattern in Space.Tokens() order, as the LSTM
// makes them. The input at position 0 is a learned start vector, at
// position i > 0 the embedding of decision i-1's value (one table per
// token type), plus a learned positional embedding of i. Each of the
// cfg.Layers blocks is x += Attn(LN(x)); x += MLP(LN(x)) with causal
// multi-head self-attention (cfg.Heads heads of width cfg.Width/Heads) and
// an MLP of hidden width 4·Width with GELU; a final layer norm feeds the
// softmax head of position i's token type. Heads, temperature, tanh
// squashing, sampling, REINFORCE and the checkpoint are the LSTM's
// (Controller).
//
// Sampling runs the network over the prefix decided so far once per
// decision; scoring (Update) runs it once over the whole sequence, the
// causal mask giving every position the same view it had when sampled.
// Layer norm, softmax and attention are built from small operations, not
// libtorch's fused kernels, so that, as with the LSTM, proposals and
// updates do not depend on libtorch's thread count.
type TransformerController struct {
	core
	// indexes into params
	start, pos, lnfG, lnfB int
	blocks                 []tblock
	emb, headW, headB      []int // per token type
}

// tblock is one block's parameter indexes.
type tblock struct {
	ln1G, ln1B, wqkv, bqkv, wo, bo, ln2G, ln2B, w1, b1, w2, b2 int
}

// NewTransformerController returns a Transformer controller for the given
// sites of space, with weights and sampling seeded from seed. cfg.Kind is
// taken to be "transformer"; zero fields take their defaults.
func NewTransformerController(space Space, sites []string, cfg ControllerConfig, seed int64) (*TransformerController, error) {
	cfg.Kind = KindTransformer
	cr, err := newCore(space, sites, cfg, seed)
	if err != nil {
		return nil, err
	}
	c := &TransformerController{core: cr}
	c.layout()
	c.initParams()
	return c, nil
}

// layout: start [1,W]; pos [T,W] (T = sites × tokens); per block ln1
// gain and bias [W], attention in-projection [W,3W] + [3W] (queries, keys,
// values), out-projection [W,W] + [W], ln2 [W] ×2, MLP [W,4W] + [4W],
// [4W,W] + [W]; final norm [W] ×2; per token type: emb [n,W], head [W,n]
// + [n]. Matrices and embeddings start uniform in ±init_range, biases at
// 0, layer-norm gains at 1.
func (c *TransformerController) layout() {
	W := int64(c.cfg.Width)
	T := int64(len(c.sites) * len(c.tokens))
	c.start = c.add("start", initUniform, 1, W)
	c.pos = c.add("pos", initUniform, T, W)
	for l := 0; l < c.cfg.Layers; l++ {
		n := fmt.Sprintf("block%d.", l)
		c.blocks = append(c.blocks, tblock{
			ln1G: c.add(n+"ln1.g", initOnes, W), ln1B: c.add(n+"ln1.b", initZeros, W),
			wqkv: c.add(n+"attn.wqkv", initUniform, W, 3*W), bqkv: c.add(n+"attn.bqkv", initZeros, 3*W),
			wo: c.add(n+"attn.wo", initUniform, W, W), bo: c.add(n+"attn.bo", initZeros, W),
			ln2G: c.add(n+"ln2.g", initOnes, W), ln2B: c.add(n+"ln2.b", initZeros, W),
			w1: c.add(n+"mlp.w1", initUniform, W, 4*W), b1: c.add(n+"mlp.b1", initZeros, 4*W),
			w2: c.add(n+"mlp.w2", initUniform, 4*W, W), b2: c.add(n+"mlp.b2", initZeros, W),
		})
	}
	c.lnfG, c.lnfB = c.add("lnf.g", initOnes, W), c.add("lnf.b", initZeros, W)
	for _, t := range c.tokens {
		n := int64(t.Choices)
		c.emb = append(c.emb, c.add("emb."+t.Name, initUniform, n, W))
		c.headW = append(c.headW, c.add("head."+t.Name+".w", initUniform, W, n))
		c.headB = append(c.headB, c.add("head."+t.Name+".b", initZeros, n))
	}
}

// Sample draws one proposal. The uniforms come from a Go generator seeded
// by the controller's seed, so proposals do not depend on libtorch's
// threads or generator.
func (c *TransformerController) Sample() (Proposal, error) { return c.sample(c.forward) }

// Update does one REINFORCE step over a batch, as Controller.Update does.
// Call it from one goroutine; it pins that goroutine's thread for grad.
func (c *TransformerController) Update(batch []Scored) (UpdateStats, error) {
	return c.update(batch, c.forward)
}

// Save writes the whole controller state (kind, shape, weights, Adam
// moments, baseline, step, generator seed and draw count) to path
// atomically, as Controller.Save does.
func (c *TransformerController) Save(path string) error { return c.save(path) }

// Steps is the number of updates done.
func (c *TransformerController) Steps() int { return c.Step }

// Kind is KindTransformer.
func (c *TransformerController) Kind() string { return KindTransformer }

// forward runs the Transformer over all decisions (see forwardFunc).
func (c *TransformerController) forward(given [][]int, grad bool) (choices [][]int, logp, ent *ts.Tensor, leaves []*ts.Tensor, err error) {
	p, err := c.begin(given, grad)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// One table of inputs: the start vector, then every token type's
	// embeddings; in[i] is the row that is position i's input.
	tables := []*ts.Tensor{p.leaves[c.start]}
	first := make([]int64, len(c.tokens)) // row of token type ti's value 0
	row := int64(1)
	for ti, t := range c.tokens {
		tables = append(tables, p.leaves[c.emb[ti]])
		first[ti] = row
		row += int64(t.Choices)
	}
	table := p.keep(ts.MustCat(tables, 0))
	K := len(c.tokens)
	T := len(c.sites) * K
	in := make([]int64, 1, T)
	if given != nil {
		for i := 0; i < T-1; i++ {
			in = append(in, first[i%K]+int64(given[i/K][i%K]))
		}
	}
	var h *ts.Tensor
	for i := 0; i < T; i++ {
		if given == nil || i == 0 {
			h = c.hidden(p, table, in)
		}
		s, ti := i/K, i%K
		choice := p.decide(s, ti, p.keep(h.MustNarrow(0, int64(i), 1, false)), p.leaves[c.headW[ti]], p.leaves[c.headB[ti]])
		if given == nil && i+1 < T {
			in = append(in, first[ti]+int64(choice))
		}
	}
	return p.end()
}

// hidden runs the blocks over the inputs table[in[0]], …, table[in[L-1]]
// and returns the final layer norm's output [L,W].
func (c *TransformerController) hidden(p *pass, table *ts.Tensor, in []int64) *ts.Tensor {
	k, lv := p.keep, p.leaves
	L, W := int64(len(in)), int64(c.cfg.Width)
	nh := int64(c.cfg.Heads)
	d := W / nh
	idx := k(ts.MustOfSlice(in))
	x := k(k(table.MustIndexSelect(0, idx, false)).MustAdd(k(lv[c.pos].MustNarrow(0, 0, L, false)), false))
	maskv := make([]float64, L*L) // -inf above the diagonal: position i sees 0..i
	for i := range L {
		for j := i + 1; j < L; j++ {
			maskv[i*L+j] = math.Inf(-1)
		}
	}
	mask := k(k(ts.MustOfSlice(maskv)).MustView([]int64{L, L}, false))
	// Layer norm written out: libtorch's fused layer norm sums its gain
	// and bias gradients per thread, so updates would depend on the
	// thread count; these element-wise ops and small reductions do not.
	norm := func(x *ts.Tensor, g, b int) *ts.Tensor {
		xc := k(x.MustSub(k(x.MustMeanDim([]int64{-1}, true, gotch.Double, false)), false))
		v := k(k(xc.MustMul(xc, false)).MustMeanDim([]int64{-1}, true, gotch.Double, false))
		r := k(k(v.MustAddScalar(ts.FloatScalar(1e-5), false)).MustRsqrt(false))
		return k(k(k(xc.MustMul(r, false)).MustMul(lv[g], false)).MustAdd(lv[b], false))
	}
	linear := func(x *ts.Tensor, w, b int) *ts.Tensor {
		return k(k(x.MustMm(lv[w], false)).MustAdd(lv[b], false))
	}
	// Softmax and attention written out too, one head at a time with mm:
	// libtorch's fused softmax and its bmm for small matrices run rows or
	// heads on OpenMP threads, and waking them costs milliseconds when
	// trials keep every core busy; these small ops run on the calling
	// thread.
	softmax := func(x *ts.Tensor) *ts.Tensor {
		m := k(k(x.MustAmax([]int64{-1}, true, false)).MustDetach(false))
		e := k(k(x.MustSub(m, false)).MustExp(false))
		return k(e.MustDiv(k(e.MustSumDimIntlist([]int64{-1}, true, gotch.Double, false)), false))
	}
	scale := ts.FloatScalar(1 / math.Sqrt(float64(d)))
	for _, b := range c.blocks {
		qkv := linear(norm(x, b.ln1G, b.ln1B), b.wqkv, b.bqkv) // [L,3W]: queries, keys, values
		ys := make([]*ts.Tensor, nh)
		for h := range nh {
			q := k(qkv.MustNarrow(1, h*d, d, false))
			kt := k(k(qkv.MustNarrow(1, W+h*d, d, false)).MustTranspose(0, 1, false))
			v := k(qkv.MustNarrow(1, 2*W+h*d, d, false))
			att := softmax(k(k(k(q.MustMm(kt, false)).MustMulScalar(scale, false)).MustAdd(mask, false))) // [L,L]
			ys[h] = k(att.MustMm(v, false))
		}
		y := ys[0]
		if nh > 1 {
			y = k(ts.MustCat(ys, 1))
		}
		x = k(x.MustAdd(linear(y, b.wo, b.bo), false))
		m := linear(k(linear(norm(x, b.ln2G, b.ln2B), b.w1, b.b1).MustGelu("none", false)), b.w2, b.b2)
		x = k(x.MustAdd(m, false))
	}
	return norm(x, c.lnfG, c.lnfB)
}
