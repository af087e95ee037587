package autodropout

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Regularizer is a dropout-like module for a dropout site: a gotch
// ts.ModuleT that masks its input in training and is the identity at
// evaluation. ForwardT always returns a new tensor handle (at evaluation it
// shares x's storage), so the caller may drop x afterwards.
//
// ForwardT has no error result: it panics (with an error value) on an
// input of the wrong rank or an invalid configuration, which the
// constructors rule out. Mask returns errors instead.
type Regularizer interface {
	ts.ModuleT
	// Mask draws the {0,1} keep-mask the module would apply, before
	// rescaling, to an n×c×h×w input: a float32 tensor on dev that
	// broadcasts to n×c×h×w (n×1×h×w or n×c×1×1 where the module shares
	// it).
	Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error)
	// String names the module and its settings, e.g. "dropblock(p=0.1 block_size=7 scope=batch)".
	String() string
}

// Scope says over what the kept units are counted when a mask is
// rescaled so that the expected activation is unchanged.
type Scope int

const (
	// ScopeDefault is the module's own default (see each module).
	ScopeDefault Scope = iota
	// PerMask multiplies each mask plane (one sample's channel, or one
	// sample when the mask is shared across channels) by cells/kept of
	// that plane: every rescaled plane averages exactly 1.
	PerMask
	// PerBatch multiplies by cells/kept over the whole batch's mask, as
	// torchvision's drop_block2d and the DropBlock paper do.
	PerBatch
)

var scopeNames = map[Scope]string{ScopeDefault: "", PerMask: "mask", PerBatch: "batch"}

func (s Scope) String() string {
	if n, ok := scopeNames[s]; ok {
		if n == "" {
			return "default"
		}
		return n
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// MarshalText writes "mask", "batch" or "" (the default).
func (s Scope) MarshalText() ([]byte, error) {
	n, ok := scopeNames[s]
	if !ok {
		return nil, fmt.Errorf("unknown rescale scope %d", int(s))
	}
	return []byte(n), nil
}

// UnmarshalText reads "mask", "batch", "" or "default".
func (s *Scope) UnmarshalText(b []byte) error {
	switch string(b) {
	case "", "default":
		*s = ScopeDefault
	case "mask":
		*s = PerMask
	case "batch":
		*s = PerBatch
	default:
		return fmt.Errorf("rescale scope %q: want \"mask\" or \"batch\"", b)
	}
	return nil
}

func (s Scope) or(def Scope) Scope {
	if s == ScopeDefault {
		return def
	}
	return s
}

// Options configure New. Fields a regularizer does not use are ignored.
type Options struct {
	Rate      float64 `json:"rate,omitempty"`       // drop probability: dropout, spatial, dropblock
	BlockSize int     `json:"block_size,omitempty"` // dropblock
	Pattern   Pattern `json:"pattern"`              // pattern
	Scope     Scope   `json:"scope,omitempty"`      // dropblock, pattern
}

var constructors = map[string]func(Options) (Regularizer, error){
	"none":      func(Options) (Regularizer, error) { return Identity{}, nil },
	"dropout":   func(o Options) (Regularizer, error) { return NewDropout(o.Rate) },
	"spatial":   func(o Options) (Regularizer, error) { return NewSpatialDropout(o.Rate) },
	"dropblock": func(o Options) (Regularizer, error) { return NewDropBlock(o.Rate, o.BlockSize, o.Scope) },
	"pattern":   func(o Options) (Regularizer, error) { return NewPatternDropout(o.Pattern, o.Scope) },
}

// Names lists the names New accepts, sorted.
func Names() []string {
	var out []string
	for n := range constructors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds a regularizer by name: "none" (Identity), "dropout",
// "spatial" (SpatialDropout), "dropblock" or "pattern" (PatternDropout).
func New(name string, o Options) (Regularizer, error) {
	f, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("regularizer %q: unknown (want one of %s)", name, strings.Join(Names(), ", "))
	}
	r, err := f(o)
	if err != nil {
		return nil, fmt.Errorf("regularizer %q: %w", name, err)
	}
	return r, nil
}

func checkRate(p float64, allowOne bool) error {
	if math.IsNaN(p) || p < 0 || p > 1 || (p == 1 && !allowOne) {
		want := "[0, 1)"
		if allowOne {
			want = "[0, 1]"
		}
		return &FieldError{Field: "rate", Value: p, Reason: "want a drop probability in " + want}
	}
	return nil
}

// Identity is the "none" regularizer.
type Identity struct{}

// ForwardT returns a new handle on x.
func (Identity) ForwardT(x *ts.Tensor, train bool) *ts.Tensor { return x.MustShallowClone() }

// Mask returns ones of shape n×1×h×w.
func (Identity) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	return ts.Ones([]int64{n, 1, h, w}, gotch.Float, dev)
}

func (Identity) String() string { return "none" }

// Dropout is standard elementwise dropout (Srivastava et al., 2014): each
// unit is dropped independently with probability P and the kept ones are
// multiplied by 1/(1-P), as PyTorch's nn.Dropout. It accepts inputs of any
// rank.
type Dropout struct {
	P float64 // in [0, 1)
}

// NewDropout returns elementwise dropout with drop probability p in [0, 1).
func NewDropout(p float64) (*Dropout, error) {
	if err := checkRate(p, false); err != nil {
		return nil, err
	}
	return &Dropout{P: p}, nil
}

func (d *Dropout) String() string { return fmt.Sprintf("dropout(p=%g)", d.P) }

// Mask draws an n×c×h×w Bernoulli(1-P) keep-mask.
func (d *Dropout) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	return bernoulliKeep([]int64{n, c, h, w}, d.P, dev)
}

// ForwardT implements ts.ModuleT.
func (d *Dropout) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train || d.P == 0 {
		return x.MustShallowClone()
	}
	mustRate(d.String(), d.P)
	mask, err := bernoulliKeep(x.MustSize(), d.P, x.MustDevice())
	return applyFixed(d.String(), x, mask, err, 1/(1-d.P))
}

// SpatialDropout drops whole channels (Tompson et al., 2015; PyTorch's
// Dropout2d): each channel of each sample is dropped with probability P
// and the kept ones are multiplied by 1/(1-P). It accepts inputs of rank
// ≥ 2 (N, C, spatial dimensions...).
type SpatialDropout struct {
	P float64 // in [0, 1)
}

// NewSpatialDropout returns channel dropout with drop probability p in [0, 1).
func NewSpatialDropout(p float64) (*SpatialDropout, error) {
	if err := checkRate(p, false); err != nil {
		return nil, err
	}
	return &SpatialDropout{P: p}, nil
}

func (d *SpatialDropout) String() string { return fmt.Sprintf("spatial(p=%g)", d.P) }

// Mask draws an n×c×1×1 Bernoulli(1-P) keep-mask.
func (d *SpatialDropout) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	return bernoulliKeep([]int64{n, c, 1, 1}, d.P, dev)
}

// ForwardT implements ts.ModuleT.
func (d *SpatialDropout) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train || d.P == 0 {
		return x.MustShallowClone()
	}
	mustRate(d.String(), d.P)
	size := x.MustSize()
	if len(size) < 2 {
		panic(fmt.Errorf("autodropout: %s: input of shape %v: want N×C×…", d, size))
	}
	shape := append([]int64{size[0], size[1]}, make([]int64, len(size)-2)...)
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	mask, err := bernoulliKeep(shape, d.P, x.MustDevice())
	return applyFixed(d.String(), x, mask, err, 1/(1-d.P))
}

func mustRate(name string, p float64) {
	if err := checkRate(p, false); err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", name, err))
	}
}

// bernoulliKeep draws a float32 mask that is 1 with probability 1-p.
func bernoulliKeep(shape []int64, p float64, dev gotch.Device) (*ts.Tensor, error) {
	var s scope
	u := s.do(func() (*ts.Tensor, error) { return ts.Rand(shape, gotch.Float, dev) })
	k := s.do(func() (*ts.Tensor, error) { return u.Ge(ts.FloatScalar(p), false) })
	out := s.do(func() (*ts.Tensor, error) { return k.Totype(gotch.Float, false) })
	return s.result(out)
}

// applyFixed returns x·mask·scale, dropping mask.
func applyFixed(name string, x, mask *ts.Tensor, err error, scale float64) *ts.Tensor {
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", name, err))
	}
	var s scope
	s.tmp = append(s.tmp, mask)
	f := s.do(func() (*ts.Tensor, error) { return mask.MulScalar(ts.FloatScalar(scale), false) })
	y := multiply(&s, x, f)
	out, err := s.result(y)
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", name, err))
	}
	return out
}

// multiply returns x·f with f converted to x's dtype.
func multiply(s *scope, x, f *ts.Tensor) *ts.Tensor {
	if s.err == nil && f.DType() != x.DType() {
		f = s.do(func() (*ts.Tensor, error) { return f.Totype(x.DType(), false) })
	}
	return s.do(func() (*ts.Tensor, error) { return x.Mul(f, false) })
}

func size4(name string, x *ts.Tensor) (n, c, h, w int64) {
	size := x.MustSize()
	if len(size) != 4 {
		panic(fmt.Errorf("autodropout: %s: input of shape %v: want N×C×H×W", name, size))
	}
	return size[0], size[1], size[2], size[3]
}

// DropBlock drops contiguous square blocks of each channel (Ghiasi, Lin &
// Le, 2018). Block seeds are drawn with probability
//
//	γ = P·H·W / (bh·bw·(H−bh+1)·(W−bw+1)),  bh = min(BlockSize, H), bw = min(BlockSize, W),
//
// only where a whole block fits (the (H−bh+1)×(W−bw+1) valid region), as
// the paper and torchvision's drop_block2d do; each seed at (i, j) drops
// rows i..i+bh−1 and columns j..j+bw−1. γ is capped at 1. For odd block
// sizes this is exactly torchvision's mask; even sizes (for which
// torchvision's padding returns a mask of the wrong shape) anchor the
// block at its seed the same way. H ≠ W is handled per axis, and a block
// at least as large as the map (bh = H, bw = W) leaves one seed position,
// γ = P, and DropBlock drops whole channels with probability P, like
// SpatialDropout.
//
// The seeds are drawn sparsely (a Poisson number of uniform positions;
// see seeds): the same distribution as torchvision's uniform draw per
// position, at a cost that grows with the number of seeds instead of the
// number of cells, but other masks for the same libtorch seed.
//
// Because blocks overlap, the dropped fraction is a little below P
// (about 1−(1−γ)^(bh·bw) inside the map). Kept units are rescaled per
// Scope, PerBatch by default as in torchvision; if a batch keeps nothing
// the output is zero (torchvision's eps gives the same).
type DropBlock struct {
	P         float64 // drop probability, in [0, 1]
	BlockSize int     // ≥ 1
	Scope     Scope
}

// NewDropBlock returns DropBlock with drop probability p in [0, 1] and
// block size ≥ 1; scope ScopeDefault means PerBatch.
func NewDropBlock(p float64, blockSize int, sc Scope) (*DropBlock, error) {
	if err := checkRate(p, true); err != nil {
		return nil, err
	}
	if blockSize < 1 || blockSize >= maxCells {
		return nil, &FieldError{Field: "block_size", Value: blockSize, Reason: "want ≥ 1"}
	}
	if _, ok := scopeNames[sc]; !ok {
		return nil, &FieldError{Field: "scope", Value: int(sc), Reason: "unknown scope"}
	}
	return &DropBlock{P: p, BlockSize: blockSize, Scope: sc}, nil
}

func (d *DropBlock) String() string {
	return fmt.Sprintf("dropblock(p=%g block_size=%d scope=%v)", d.P, d.BlockSize, d.Scope.or(PerBatch))
}

// Gamma returns the seed probability γ for an h×w map (see DropBlock).
func (d *DropBlock) Gamma(h, w int64) float64 {
	bh, bw := min(int64(d.BlockSize), h), min(int64(d.BlockSize), w)
	g := d.P * float64(h*w) / float64(bh*bw*(h-bh+1)*(w-bw+1))
	return min(g, 1)
}

// Mask draws an n×c×h×w block keep-mask.
func (d *DropBlock) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	if err := d.check(n, c, h, w); err != nil {
		return nil, err
	}
	var s scope
	return s.result(d.keep(&s, n, c, h, w, gotch.Float, dev))
}

func (d *DropBlock) check(n, c, h, w int64) error {
	if err := checkRate(d.P, true); err != nil {
		return fmt.Errorf("dropblock mask: %w", err)
	}
	if d.BlockSize < 1 {
		return fmt.Errorf("dropblock mask: %w", &FieldError{Field: "block_size", Value: d.BlockSize, Reason: "want ≥ 1"})
	}
	if n < 1 || c < 1 || h < 1 || w < 1 {
		return fmt.Errorf("dropblock mask: shape %d×%d×%d×%d: every dimension must be positive", n, c, h, w)
	}
	return nil
}

// seeds draws the block seeds of an n×c×h×w map as flat indices of their
// top-left cells, repeats possible: a Poisson number K of seed positions,
// mean λ = n·c·(h−bh+1)·(w−bw+1)·γ′ with γ′ = −ln(1−γ), each uniform over
// the valid region. The number of draws landing on one position is then
// Poisson(γ′), independently across positions, so each position holds a
// seed with probability 1−e^(−γ′) = γ, independently: exactly the
// Bernoulli(γ) seeds of the paper and of torchvision's drop_block2d. It
// draws about γ·(cells) numbers instead of a uniform per cell, which under
// bf16 made DropBlock's mask cost a WRN-16-2 step 1.30× (see
// docs/performance.md). K comes from libtorch's CPU generator and the
// positions from dev's, so a seed fixes the masks. γ < 1.
func (d *DropBlock) seeds(s *scope, n, c, h, w int64, dev gotch.Device) *ts.Tensor {
	bh, bw := min(int64(d.BlockSize), h), min(int64(d.BlockSize), w)
	sh, sw := h-bh+1, w-bw+1
	lambda := float64(n*c*sh*sw) * -math.Log1p(-d.Gamma(h, w))
	rate := s.do(func() (*ts.Tensor, error) { return ts.OfSlice([]float64{lambda}) })
	draw := s.do(func() (*ts.Tensor, error) { return rate.Poisson(false) })
	if s.err != nil {
		return nil
	}
	kf, err := draw.Float64Value([]int64{0})
	if err != nil {
		s.fail(err)
		return nil
	}
	k := []int64{int64(kf)}
	plane := s.do(func() (*ts.Tensor, error) { return ts.Randint(n*c, k, gotch.Int64, dev) })
	row := s.do(func() (*ts.Tensor, error) { return ts.Randint(sh, k, gotch.Int64, dev) })
	col := s.do(func() (*ts.Tensor, error) { return ts.Randint(sw, k, gotch.Int64, dev) })
	at := s.do(func() (*ts.Tensor, error) { return plane.MulScalar(ts.IntScalar(h*w), false) })
	rowAt := s.do(func() (*ts.Tensor, error) { return row.MulScalar(ts.IntScalar(w), false) })
	at = s.do(func() (*ts.Tensor, error) { return at.Add(rowAt, false) })
	return s.do(func() (*ts.Tensor, error) { return at.Add(col, false) })
}

// keep returns the n×c×h×w keep-mask in dtype: ones, with the bh×bw block
// below and to the right of every seed set to zero (one index_fill_ of
// K·bh·bw cells), or all zeros when γ = 1.
func (d *DropBlock) keep(s *scope, n, c, h, w int64, dtype gotch.DType, dev gotch.Device) *ts.Tensor {
	shape := []int64{n, c, h, w}
	if d.Gamma(h, w) >= 1 {
		return s.do(func() (*ts.Tensor, error) { return ts.Zeros(shape, dtype, dev) })
	}
	bh, bw := min(int64(d.BlockSize), h), min(int64(d.BlockSize), w)
	offsets := make([]int64, 0, bh*bw)
	for dy := int64(0); dy < bh; dy++ {
		for dx := int64(0); dx < bw; dx++ {
			offsets = append(offsets, dy*w+dx)
		}
	}
	at := d.seeds(s, n, c, h, w, dev)
	offs := s.do(func() (*ts.Tensor, error) { return ts.OfSlice(offsets) })
	if dev != gotch.CPU {
		offs = s.do(func() (*ts.Tensor, error) { return offs.To(dev, false) })
	}
	offs = s.do(func() (*ts.Tensor, error) { return offs.Unsqueeze(0, false) })
	at = s.do(func() (*ts.Tensor, error) { return at.Unsqueeze(1, false) })
	cells := s.do(func() (*ts.Tensor, error) { return at.Add(offs, false) })
	cells = s.do(func() (*ts.Tensor, error) { return cells.View([]int64{-1}, false) })
	flat := s.do(func() (*ts.Tensor, error) { return ts.Ones([]int64{n * c * h * w}, dtype, dev) })
	if s.err == nil {
		zero := lib.AtsInt(0)
		inPlace(s, flat, func(out *lib.Ctensor, self lib.Ctensor) {
			lib.AtgIndexFill_(out, self, 0, lib.Ctensor(cells.Ctensor()), zero)
		})
		lib.AtsFree(zero)
		runtime.KeepAlive(cells)
	}
	return s.do(func() (*ts.Tensor, error) { return flat.View(shape, false) })
}

// ForwardT implements ts.ModuleT for N×C×H×W inputs. The mask is drawn in
// x's dtype and rescaled in place, so that one multiply applies it.
func (d *DropBlock) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train || d.P == 0 {
		return x.MustShallowClone()
	}
	n, c, h, w := size4(d.String(), x)
	if err := d.check(n, c, h, w); err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", d, err))
	}
	var s scope
	f := d.keep(&s, n, c, h, w, x.DType(), x.MustDevice())
	rescaleInPlace(&s, f, d.Scope.or(PerBatch))
	y := s.do(func() (*ts.Tensor, error) { return x.Mul(f, false) })
	out, err := s.result(y)
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", d, err))
	}
	return out
}

// rescaleInPlace multiplies the {0,1} mask by cells/kept, kept counted
// per sc (per mask plane or over the batch) in float32, with the factor
// rounded to the mask's dtype. A count of zero is taken as one, so an
// all-zero mask stays zero, never NaN.
func rescaleInPlace(s *scope, mask *ts.Tensor, sc Scope) {
	if s.err != nil {
		return
	}
	size, err := mask.Size()
	if err != nil {
		s.fail(err)
		return
	}
	var kept *ts.Tensor
	var cells float64
	switch sc {
	case PerMask:
		cells = float64(size[2] * size[3])
		kept = s.do(func() (*ts.Tensor, error) { return mask.SumDimIntlist([]int64{2, 3}, true, gotch.Float, false) })
	case PerBatch:
		cells = float64(mask.Numel())
		kept = s.do(func() (*ts.Tensor, error) { return mask.Sum(gotch.Float, false) })
	default:
		s.fail(fmt.Errorf("rescale scope %v", sc))
		return
	}
	kept = s.do(func() (*ts.Tensor, error) { return kept.ClampMin(ts.FloatScalar(1), false) })
	inv := s.do(func() (*ts.Tensor, error) { return kept.Reciprocal(false) })
	scale := s.do(func() (*ts.Tensor, error) { return inv.MulScalar(ts.FloatScalar(cells), false) })
	scale = s.do(func() (*ts.Tensor, error) { return scale.Totype(mask.DType(), false) })
	if s.err == nil {
		inPlace(s, mask, func(out *lib.Ctensor, self lib.Ctensor) { lib.AtgMul_(out, self, lib.Ctensor(scale.Ctensor())) })
		runtime.KeepAlive(scale)
	}
}

// PatternDropout applies a learned Pattern (see Pattern.Mask) to N×C×H×W
// inputs. Kept units are rescaled per Scope, PerMask by default: each
// mask plane (a sample's channel, or a sample when ShareC) is multiplied
// by H·W/kept, so every rescaled plane averages exactly 1 and the expected
// activation is unchanged whatever the pattern's drop fraction. Masks never drop a whole
// plane (see Pattern.Mask), so the scale is always finite.
type PatternDropout struct {
	Pattern Pattern
	Scope   Scope
}

// NewPatternDropout checks p and returns its module; scope ScopeDefault
// means PerMask.
func NewPatternDropout(p Pattern, sc Scope) (*PatternDropout, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if _, ok := scopeNames[sc]; !ok {
		return nil, &FieldError{Field: "scope", Value: int(sc), Reason: "unknown scope"}
	}
	return &PatternDropout{Pattern: p, Scope: sc}, nil
}

func (d *PatternDropout) String() string {
	return fmt.Sprintf("pattern(%v scope=%v)", d.Pattern, d.Scope.or(PerMask))
}

// Mask returns d.Pattern.Mask(n, c, h, w, dev).
func (d *PatternDropout) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	return d.Pattern.Mask(n, c, h, w, dev)
}

// ForwardT implements ts.ModuleT.
func (d *PatternDropout) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if !train {
		return x.MustShallowClone()
	}
	n, c, h, w := size4(d.String(), x)
	if _, ok := scopeNames[d.Scope]; !ok {
		panic(fmt.Errorf("autodropout: %s: rescale scope %d", d, int(d.Scope)))
	}
	if d.Pattern.Off {
		return x.MustShallowClone()
	}
	dr, err := d.Pattern.drawShifts(n, c, h, w, x.MustDevice())
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", d, err))
	}
	// Every placement keeps the same number of cells, so the per-mask and
	// per-batch factors are the same h·w/kept, and the masks come rescaled.
	var s scope
	f := dr.masks(&s, true)
	y := multiply(&s, x, f)
	out, err := s.result(y)
	if err != nil {
		panic(fmt.Errorf("autodropout: %s: %w", d, err))
	}
	return out
}
