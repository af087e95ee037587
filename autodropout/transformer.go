package autodropout

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/autodropout/autodropout/internal/strictjson"
)

// Transformer patterns (DESIGN.md §4) act on sequence activations laid out
// batch first, B×T×D (batch, time, features); a 2-D input is read as T×D
// with B = 1.
//
// A TransformerPattern is the one-dimensional analogue of a ConvNet
// Pattern along time: Repeat tiles of Size consecutive tokens, with Stride
// unselected tokens between neighbouring tiles (tiles start every
// Size+Stride tokens, so they never overlap), beginning at a random offset
// drawn uniformly per sequence (and per feature when PerFeature).
// Positions wrap around the sequence (modulo T) and the tiled span is cut
// at T tokens, so every offset selects the same number of tokens,
// min(T, Repeat·Size) when the span (Repeat−1)·(Size+Stride)+Size fits in
// T, and every token is selected with the same probability. Two patterns
// that differ in any of size, stride or repeat select different token sets
// as long as their spans fit in T, except that stride does not matter for
// a single tile (Repeat 1).
//
// Noise "zero" drops the selected tokens and rescales the kept ones by
// T/kept per sequence (per sequence and feature when PerFeature), so each
// mask row averages exactly 1; a mask that would drop everything gives
// zeros, never NaN. Noise "gaussian" multiplies the selected tokens by
// 1+σ·ε, ε ~ N(0,1) (expectation 1, no rescale); unselected tokens pass.
// When PerFeature is false one decision covers a token's whole hidden
// vector. At evaluation the module is the identity.
type TransformerPattern struct {
	Size       int     `json:"size"`        // consecutive tokens per tile, ≥ 1
	Stride     int     `json:"stride"`      // unselected tokens between tiles, ≥ 0
	Repeat     int     `json:"repeat"`      // tiles, ≥ 1
	Noise      string  `json:"noise"`       // "zero" or "gaussian"
	Sigma      float64 `json:"sigma"`       // std of the Gaussian noise
	PerFeature bool    `json:"per_feature"` // independent offsets per feature
}

// Validate reports the first field outside its domain.
func (p TransformerPattern) Validate() error {
	bad := func(f string, v any, r string) error { return &FieldError{Field: f, Value: v, Reason: r} }
	switch {
	case p.Size < 1:
		return bad("size", p.Size, "want ≥ 1")
	case p.Stride < 0:
		return bad("stride", p.Stride, "want ≥ 0")
	case p.Repeat < 1:
		return bad("repeat", p.Repeat, "want ≥ 1")
	case p.Noise != "zero" && p.Noise != "gaussian":
		return bad("noise", p.Noise, `want "zero" or "gaussian"`)
	case p.Noise == "gaussian" && !(p.Sigma >= 0):
		return bad("sigma", p.Sigma, "want ≥ 0")
	}
	return nil
}

// Selected returns how many of T positions the pattern selects for one
// offset.
func (p TransformerPattern) Selected(T int) int {
	n := 0
	for r := 0; r < T; r++ {
		if p.selects(r) {
			n++
		}
	}
	return n
}

// SelectedShare is the share of a segment of T tokens the pattern
// selects (the same for every offset).
func (p TransformerPattern) SelectedShare(T int) float64 {
	return float64(p.Selected(T)) / float64(T)
}

// NoiseVariance is the variance of the multiplicative noise the pattern
// puts on a token of a segment of T tokens: q/(1−q) for "zero" noise,
// which drops a share q and rescales the rest (Dropout at rate q has the
// same), σ²·q for Gaussian noise; +Inf when it drops every token.
func (p TransformerPattern) NoiseVariance(T int) float64 {
	q := p.SelectedShare(T)
	switch {
	case p.Noise == "gaussian":
		return p.Sigma * p.Sigma * q
	case q >= 1:
		return math.Inf(1)
	}
	return q / (1 - q)
}

// selects says whether relative position r (0 ≤ r < T) is selected: r
// lies in one of the Repeat tiles, which start every Size+Stride tokens.
func (p TransformerPattern) selects(r int) bool {
	period := p.Size + p.Stride
	return r < p.Repeat*period && r%period < p.Size
}

func (p TransformerPattern) String() string {
	s := fmt.Sprintf("tpattern(size=%d stride=%d repeat=%d noise=%s", p.Size, p.Stride, p.Repeat, p.Noise)
	if p.Noise == "gaussian" {
		s += fmt.Sprintf(" sigma=%g", p.Sigma)
	}
	if p.PerFeature {
		s += " per_feature"
	}
	return s + ")"
}

// TransformerSpace is the editable vocabulary of Transformer patterns: one
// value list per decision, plus the candidate sublayers (site kinds).
type TransformerSpace struct {
	Size       []int     `json:"size"`
	Stride     []int     `json:"stride"`
	Repeat     []int     `json:"repeat"`
	Noise      []string  `json:"noise"`
	Sigma      []float64 `json:"sigma"`
	PerFeature []bool    `json:"per_feature"`
	Sites      []string  `json:"sites"`
}

// DefaultTransformerSpace returns the default vocabulary. Reasons:
// sizes 1–5 tokens span single-token dropout up to short phrases; strides
// 1–8 unselected tokens between tiles, from alternating tiles to sparse
// ones (stride 0 would merge the tiles into one span that a larger size
// already gives); repeats 1–16 cover from one span to most of a 70-token
// segment (the published tgt_len); the two noise
// types of the paper; σ ∈ {0.25, 0.5, 1}, the usual range of Gaussian
// dropout; both mask granularities; and the eight sublayers of the paper.
func DefaultTransformerSpace() TransformerSpace {
	return TransformerSpace{
		Size:       []int{1, 2, 3, 4, 5},
		Stride:     []int{1, 2, 4, 8},
		Repeat:     []int{1, 2, 4, 8, 16},
		Noise:      []string{"zero", "gaussian"},
		Sigma:      []float64{0.25, 0.5, 1},
		PerFeature: []bool{false, true},
		Sites:      []string{"emb", "q", "k", "v", "prob", "attn_out", "ff_hidden", "ff_out"},
	}
}

// Validate checks that every list is non-empty and every value legal.
func (s TransformerSpace) Validate() error {
	lists := map[string]int{"size": len(s.Size), "stride": len(s.Stride), "repeat": len(s.Repeat),
		"noise": len(s.Noise), "sigma": len(s.Sigma), "per_feature": len(s.PerFeature)}
	for f, n := range lists {
		if n == 0 {
			return &FieldError{Field: f, Value: "[]", Reason: "want at least one value"}
		}
	}
	// Each field is checked on its own: the fields of a pattern are
	// independent, and checking every combination took time in the product
	// of the list lengths (a 2 KB file held the process for hours).
	ok := TransformerPattern{Size: 1, Stride: 1, Repeat: 1, Noise: "zero"}
	gaussian := false
	var ps []TransformerPattern
	for _, v := range s.Size {
		p := ok
		p.Size = v
		ps = append(ps, p)
	}
	for _, v := range s.Stride {
		p := ok
		p.Stride = v
		ps = append(ps, p)
	}
	for _, v := range s.Repeat {
		p := ok
		p.Repeat = v
		ps = append(ps, p)
	}
	for _, v := range s.Noise {
		p := ok
		p.Noise = v
		ps = append(ps, p)
		gaussian = gaussian || v == "gaussian"
	}
	for _, v := range s.Sigma {
		if gaussian {
			p := ok
			p.Noise, p.Sigma = "gaussian", v
			ps = append(ps, p)
		}
	}
	for _, p := range ps {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Contains reports whether p uses only values of the space.
func (s TransformerSpace) Contains(p TransformerPattern) bool {
	in := func(v int, l []int) bool {
		for _, x := range l {
			if x == v {
				return true
			}
		}
		return false
	}
	okN, okS, okF := false, p.Noise != "gaussian", false
	for _, n := range s.Noise {
		okN = okN || n == p.Noise
	}
	for _, g := range s.Sigma {
		okS = okS || g == p.Sigma
	}
	for _, f := range s.PerFeature {
		okF = okF || f == p.PerFeature
	}
	return in(p.Size, s.Size) && in(p.Stride, s.Stride) && in(p.Repeat, s.Repeat) && okN && okS && okF
}

// Tokens lists a Transformer pattern's decisions in the order a
// controller makes them: size, stride, repeat, noise, sigma, per_feature.
// Sigma is chosen even for zero noise (where it is ignored), so every
// pattern has the same decisions.
func (s TransformerSpace) Tokens() []Token {
	return []Token{{"size", len(s.Size)}, {"stride", len(s.Stride)}, {"repeat", len(s.Repeat)},
		{"noise", len(s.Noise)}, {"sigma", len(s.Sigma)}, {"per_feature", len(s.PerFeature)}}
}

// Pattern builds the pattern a controller chose: choice[i] indexes the
// values of Tokens()[i]. Sigma is left 0 unless the noise is Gaussian.
func (s TransformerSpace) Pattern(choice []int) (TransformerPattern, error) {
	tokens := s.Tokens()
	if len(choice) != len(tokens) {
		return TransformerPattern{}, fmt.Errorf("transformer pattern from choices: got %d choices, want %d", len(choice), len(tokens))
	}
	for i, t := range tokens {
		if choice[i] < 0 || choice[i] >= t.Choices {
			return TransformerPattern{}, &FieldError{Field: t.Name, Value: choice[i], Reason: fmt.Sprintf("choice out of range [0, %d)", t.Choices)}
		}
	}
	p := TransformerPattern{Size: s.Size[choice[0]], Stride: s.Stride[choice[1]], Repeat: s.Repeat[choice[2]],
		Noise: s.Noise[choice[3]], PerFeature: s.PerFeature[choice[5]]}
	if p.Noise == "gaussian" {
		p.Sigma = s.Sigma[choice[4]]
	}
	return p, p.Validate()
}

// TransformerSitePattern assigns a Transformer pattern to every site whose
// name matches the regular expression Sites. A Transformer pattern file
// (train --task lm --pattern) is a JSON list of these:
//
//	[{"sites": "^emb$", "pattern": {"size": 2, "stride": 8, "repeat": 4, "noise": "zero"}}]
//
// Sites are matched by expression rather than listed one by one because a
// Transformer usually shares one pattern per sublayer kind across layers.
type TransformerSitePattern struct {
	Sites   string             `json:"sites"`
	Pattern TransformerPattern `json:"pattern"`
}

// ReadTransformerPatterns reads and validates a Transformer pattern file.
func ReadTransformerPatterns(path string) ([]TransformerSitePattern, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read transformer patterns: %w", err)
	}
	ps, err := ParseTransformerPatterns(b)
	if err != nil {
		return nil, fmt.Errorf("read transformer patterns %s: %w", path, err)
	}
	return ps, nil
}

// ParseTransformerPatterns decodes and validates the contents of a
// Transformer pattern file (see ReadTransformerPatterns).
func ParseTransformerPatterns(b []byte) ([]TransformerSitePattern, error) {
	var ps []TransformerSitePattern
	if err := strictjson.Decode(b, &ps); err != nil {
		return nil, err
	}
	for i, p := range ps {
		if _, err := regexp.Compile(p.Sites); err != nil || p.Sites == "" {
			return nil, fmt.Errorf("entry %d: sites %q: want a regular expression", i, p.Sites)
		}
		if err := p.Pattern.Validate(); err != nil {
			return nil, fmt.Errorf("entry %d (sites %q): %w", i, p.Sites, err)
		}
	}
	return ps, nil
}

// LoadTransformerSpace reads a space from a JSON file.
func LoadTransformerSpace(path string) (TransformerSpace, error) {
	var s TransformerSpace
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := strictjson.Decode(b, &s); err != nil {
		return s, fmt.Errorf("transformer space %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("transformer space %s: %w", path, err)
	}
	return s, nil
}

// TransformerDropout applies a TransformerPattern to B×T×D activations.
type TransformerDropout struct {
	P TransformerPattern
}

// NewTransformerDropout validates p and returns its module.
func NewTransformerDropout(p TransformerPattern) (*TransformerDropout, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &TransformerDropout{P: p}, nil
}

func (d *TransformerDropout) String() string { return d.P.String() }

// Selection returns the float32 {0,1} selection of the pattern for a
// b×t×d input: b×t×1, or b×t×d when PerFeature.
func (d *TransformerDropout) Selection(b, t, dim int64, dev gotch.Device) (*ts.Tensor, error) {
	return d.draw(b, t, dim, dev, false)
}

// Factor returns the multiplicative noise for a b×t×d input (already
// rescaled): it broadcasts to b×t×d.
func (d *TransformerDropout) Factor(b, t, dim int64, dev gotch.Device) (*ts.Tensor, error) {
	if d.P.Noise != "gaussian" {
		return d.draw(b, t, dim, dev, true)
	}
	sel, err := d.draw(b, t, dim, dev, false)
	if err != nil {
		return nil, err
	}
	var s scope
	s.tmp = append(s.tmp, sel)
	eps := s.do(func() (*ts.Tensor, error) { return ts.Randn(sel.MustSize(), gotch.Float, dev) })
	e := s.do(func() (*ts.Tensor, error) { return eps.Mul(sel, false) })
	e = s.do(func() (*ts.Tensor, error) { return e.MulScalar(ts.FloatScalar(d.P.Sigma), false) })
	out := s.do(func() (*ts.Tensor, error) { return e.AddScalar(ts.FloatScalar(1), false) })
	return s.result(out)
}

// draw draws one offset per sequence (and feature) and returns the
// selection, or with scaled the zero-noise factor (the kept tokens
// rescaled), as b×t×f. Both depend only on the offset, so they come from a
// table of every offset's row (see selectionTable) when it is small, and
// are computed otherwise; the two give the same numbers.
func (d *TransformerDropout) draw(b, t, dim int64, dev gotch.Device, scaled bool) (*ts.Tensor, error) {
	f := int64(1)
	if d.P.PerFeature {
		f = dim
	}
	var s scope
	off := s.do(func() (*ts.Tensor, error) { return ts.Randint(t, []int64{b, 1, f}, gotch.Float, dev) })
	tab, err := d.P.table(t, dev)
	if err != nil {
		s.release()
		return nil, err
	}
	if tab == nil {
		sel := d.P.selection(&s, off, t, dev)
		if scaled {
			sel = zeroFactor(&s, sel, t)
		}
		return s.result(sel)
	}
	rows := tab.sel
	if scaled {
		rows = tab.scaled
	}
	idx := s.do(func() (*ts.Tensor, error) { return off.Totype(gotch.Int64, false) })
	idx = s.do(func() (*ts.Tensor, error) { return idx.View([]int64{b * f}, false) })
	out := s.do(func() (*ts.Tensor, error) { return rows.IndexSelect(0, idx, false) }) // b·f × t
	if f == 1 {
		out = s.do(func() (*ts.Tensor, error) { return out.View([]int64{b, t, 1}, false) })
	} else {
		out = s.do(func() (*ts.Tensor, error) { return out.View([]int64{b, f, t}, false) })
		out = s.do(func() (*ts.Tensor, error) { return out.Transpose(1, 2, false) })
		out = s.do(func() (*ts.Tensor, error) { return out.Contiguous(false) })
	}
	return s.result(out)
}

// selection computes the {0,1} selection for float offsets off of shape
// b×1×f on t tokens: b×t×f.
func (p TransformerPattern) selection(s *scope, off *ts.Tensor, t int64, dev gotch.Device) *ts.Tensor {
	pos := s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(t), gotch.Float, dev) })
	pos = s.do(func() (*ts.Tensor, error) { return pos.View([]int64{1, t, 1}, false) })
	rel := s.do(func() (*ts.Tensor, error) { return pos.Sub(off, false) })
	rel = s.do(func() (*ts.Tensor, error) { return rel.Remainder(ts.FloatScalar(float64(t)), false) })
	period := float64(p.Size + p.Stride)
	in := s.do(func() (*ts.Tensor, error) { return rel.Lt(ts.FloatScalar(float64(p.Repeat)*period), false) })
	ph := s.do(func() (*ts.Tensor, error) { return rel.Remainder(ts.FloatScalar(period), false) })
	ph = s.do(func() (*ts.Tensor, error) { return ph.Lt(ts.FloatScalar(float64(p.Size)), false) })
	sel := s.do(func() (*ts.Tensor, error) { return in.LogicalAnd(ph, false) })
	return s.do(func() (*ts.Tensor, error) { return sel.Totype(gotch.Float, false) })
}

// zeroFactor turns a b×t×f selection into zero noise's factor: selected
// tokens 0, the others t/kept, so each row averages 1 (all zeros when
// nothing is kept).
func zeroFactor(s *scope, sel *ts.Tensor, t int64) *ts.Tensor {
	keep := s.do(func() (*ts.Tensor, error) { return sel.MulScalar(ts.FloatScalar(-1), false) })
	keep = s.do(func() (*ts.Tensor, error) { return keep.AddScalar(ts.FloatScalar(1), false) })
	kept := s.do(func() (*ts.Tensor, error) { return keep.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
	kept = s.do(func() (*ts.Tensor, error) { return kept.ClampMin(ts.FloatScalar(1), false) })
	inv := s.do(func() (*ts.Tensor, error) { return kept.Reciprocal(false) })
	inv = s.do(func() (*ts.Tensor, error) { return inv.MulScalar(ts.FloatScalar(float64(t)), false) })
	return s.do(func() (*ts.Tensor, error) { return keep.Mul(inv, false) })
}

// A selectionTable holds, for a pattern on t tokens, the selection and
// the zero-noise factor of every offset: row o is what a sequence with
// offset o gets. A draw is then one row lookup instead of about fifteen
// small ops; on a 32-token segment the op launches, not the arithmetic,
// were the cost.
type selectionTable struct {
	sel, scaled *ts.Tensor // t×t float32
}

type selectionKey struct {
	t                    int64
	size, stride, repeat int
	dev                  gotch.Device
}

// Tables are built up to maxSelectionCells cells each (a variable so that
// tests can compare both paths); the cache is emptied when it holds more
// than maxSelectionTables of them.
var maxSelectionCells int64 = 1 << 20

const maxSelectionTables = 64

var selectionTables = struct {
	sync.Mutex
	m map[selectionKey]*selectionTable
}{m: map[selectionKey]*selectionTable{}}

// table returns p's table on t tokens, building it on first use, or nil
// when it would be too large.
func (p TransformerPattern) table(t int64, dev gotch.Device) (*selectionTable, error) {
	if t*t > maxSelectionCells {
		return nil, nil
	}
	key := selectionKey{t, p.Size, p.Stride, p.Repeat, dev}
	selectionTables.Lock()
	defer selectionTables.Unlock()
	if tab, ok := selectionTables.m[key]; ok {
		return tab, nil
	}
	// Every offset once, as a batch of t sequences: the same float32 ops
	// as a computed draw, so the rows are bit for bit its masks.
	var s scope
	off := s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(t), gotch.Float, dev) })
	off = s.do(func() (*ts.Tensor, error) { return off.View([]int64{t, 1, 1}, false) })
	sel := p.selection(&s, off, t, dev)
	scaled := zeroFactor(&s, sel, t)
	tab := &selectionTable{}
	tab.sel = s.do(func() (*ts.Tensor, error) { return sel.View([]int64{t, t}, false) })
	tab.scaled = s.do(func() (*ts.Tensor, error) { return scaled.View([]int64{t, t}, false) })
	if s.err != nil {
		s.release()
		return nil, fmt.Errorf("transformer pattern table, %d tokens, %v: %w", t, p, s.err)
	}
	s.release(tab.sel, tab.scaled)
	if len(selectionTables.m) >= maxSelectionTables {
		selectionTables.m = map[selectionKey]*selectionTable{}
	}
	selectionTables.m[key] = tab
	return tab, nil
}

// ForwardT implements ts.ModuleT.
func (d *TransformerDropout) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train {
		return x.MustShallowClone()
	}
	b, t, dim := size3(d.String(), x)
	f, err := d.Factor(b, t, dim, x.MustDevice())
	return applyFactor(d.String(), x, f, err)
}

// VariationalDropout draws one Bernoulli(1-P) mask per sequence and
// feature and shares it along time (Gal & Ghahramani 2016), as AWD-LSTM's
// locked dropout; kept units are scaled by 1/(1-P). Input B×T×D.
type VariationalDropout struct {
	P float64 // in [0, 1)
}

// NewVariationalDropout returns variational dropout with drop probability p.
func NewVariationalDropout(p float64) (*VariationalDropout, error) {
	if err := checkRate(p, false); err != nil {
		return nil, err
	}
	return &VariationalDropout{P: p}, nil
}

func (d *VariationalDropout) String() string { return fmt.Sprintf("variational(p=%g)", d.P) }

// ForwardT implements ts.ModuleT.
func (d *VariationalDropout) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train || d.P == 0 {
		return x.MustShallowClone()
	}
	mustRate(d.String(), d.P)
	b, _, dim := size3(d.String(), x)
	mask, err := bernoulliKeep([]int64{b, 1, dim}, d.P, x.MustDevice())
	if len(x.MustSize()) == 2 && err == nil {
		mask = mask.MustView([]int64{1, dim}, true)
	}
	return applyFixed(d.String(), x, mask, err, 1/(1-d.P))
}

// size3 reads B×T×D (or T×D as B = 1).
func size3(name string, x *ts.Tensor) (b, t, d int64) {
	size := x.MustSize()
	switch len(size) {
	case 3:
		return size[0], size[1], size[2]
	case 2:
		return 1, size[0], size[1]
	}
	panic(fmt.Errorf("autodropout: %s: input of shape %v: want B×T×D", name, size))
}

// applyFactor returns x·f (f broadcast; reshaped for 2-D x), dropping f.
func applyFactor(name string, x, f *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", name, err))
	}
	var s scope
	s.tmp = append(s.tmp, f)
	if len(x.MustSize()) == 2 {
		sz := f.MustSize()
		f = s.do(func() (*ts.Tensor, error) { return f.View(sz[1:], false) })
	}
	y := multiply(&s, x, f)
	out, err := s.result(y)
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", name, err))
	}
	return out
}
