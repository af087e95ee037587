package autodropout

import (
	"fmt"
	"math"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Mask draws a keep-mask for an n×c×h×w activation: a float32 tensor of 0s
// (dropped) and 1s (kept) on dev, of shape n×c×h×w, or n×1×h×w when
// ShareC is set (it broadcasts over the channels).
//
// Every mask is a cyclic shift of one base mask, the pattern's picture
// centred on the map (see the package documentation): the shift is drawn
// uniformly per plane from libtorch's generator, rows then columns, so
// libtorch.ManualSeed makes masks reproducible, every cell is dropped with
// the same probability, and every mask keeps the same number of cells. A
// pattern that would drop every cell is kept whole instead, and so is an
// Off pattern's (without drawing).
func (p Pattern) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	if p.Off {
		if err := checkMap(p, h, w); err != nil {
			return nil, err
		}
		if n < 1 || c < 1 {
			return nil, fmt.Errorf("pattern mask: shape %d×%d×%d×%d: every dimension must be positive", n, c, h, w)
		}
		if p.ShareC {
			c = 1
		}
		return ts.Ones([]int64{n, c, h, w}, gotch.Float, dev)
	}
	d, err := p.drawShifts(n, c, h, w, dev)
	if err != nil {
		return nil, err
	}
	var s scope
	keep := d.masks(&s, false)
	if keep, err = s.result(keep); err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	return keep, nil
}

// KeptFraction returns the fraction of an h×w map's cells that every mask
// of the pattern keeps (1 when the pattern would drop the whole map), so
// that each cell is kept with this probability. The division by it in
// PatternDropout's rescaling makes every unit's expectation unchanged.
func (p Pattern) KeptFraction(h, w int64) (float64, error) {
	if err := checkMap(p, h, w); err != nil {
		return 0, err
	}
	if p.Off {
		return 1, nil
	}
	b, err := inspectBase(p, h, w)
	if err != nil {
		return 0, fmt.Errorf("pattern mask: %w", err)
	}
	return float64(b.kept) / float64(h*w), nil
}

// BaseMask returns the pattern's base mask on an h×w map (h·w float32
// values of 0 or 1, row-major): the mask of the zero shift, of which every
// drawn mask is a cyclic shift.
func (p Pattern) BaseMask(h, w int64) ([]float32, error) {
	if err := checkMap(p, h, w); err != nil {
		return nil, err
	}
	out := make([]float32, h*w)
	if p.Off {
		for i := range out {
			out[i] = 1
		}
		return out, nil
	}
	b, err := inspectBase(p, h, w)
	if err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	b.keep.MustCopyData(out, uint(h*w))
	return out, nil
}

// inspectBase returns the cached base of p on the CPU, or computes one
// without tables and without caching it, so that surveys of many patterns
// (SearchSpace.Survey) cost no table memory.
func inspectBase(p Pattern, h, w int64) (*base, error) {
	g, err := geometryFor(h, w, p.Rotate, p.ShearX, p.ShearY, gotch.CPU)
	if err != nil {
		return nil, err
	}
	th, tw := p.TileSize()
	bases.Lock()
	b, ok := bases.m[baseKey{g.key, th, tw, p.Stride, p.Repeat}]
	bases.Unlock()
	if ok {
		return b, nil
	}
	return newBase(p, g, h, w, gotch.CPU, false)
}

func checkMap(p Pattern, h, w int64) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("pattern mask: %w", err)
	}
	if h < 1 || w < 1 {
		return fmt.Errorf("pattern mask: map %d×%d: both sides must be positive", h, w)
	}
	if h >= maxCells || w >= maxCells {
		return fmt.Errorf("pattern mask: map %d×%d is too large", h, w)
	}
	return nil
}

// shifts is one draw of cyclic shifts, one per plane: either the row of
// each plane in the base's table of every shift (idx, n·planes int64) or,
// without a table, the shifts themselves (dy, dx, n·planes int64).
type shifts struct {
	b               *base
	n, planes, h, w int64
	idx             *ts.Tensor
	dy, dx          *ts.Tensor
}

func (p Pattern) drawShifts(n, c, h, w int64, dev gotch.Device) (*shifts, error) {
	if err := checkMap(p, h, w); err != nil {
		return nil, err
	}
	if n < 1 || c < 1 {
		return nil, fmt.Errorf("pattern mask: shape %d×%d×%d×%d: every dimension must be positive", n, c, h, w)
	}
	b, err := baseFor(p, h, w, dev)
	if err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	d := &shifts{b: b, n: n, planes: c, h: h, w: w}
	if p.ShareC {
		d.planes = 1
	}
	var s scope
	shape := []int64{n * d.planes}
	dy := s.do(func() (*ts.Tensor, error) { return ts.Randint(h, shape, gotch.Int64, dev) })
	dx := s.do(func() (*ts.Tensor, error) { return ts.Randint(w, shape, gotch.Int64, dev) })
	if b.keepTable != nil {
		i := s.do(func() (*ts.Tensor, error) { return dy.MulScalar(ts.IntScalar(w), false) })
		d.idx = s.do(func() (*ts.Tensor, error) { return i.Add(dx, false) })
		if s.err == nil {
			s.release(d.idx)
			return d, nil
		}
	} else {
		d.dy, d.dx = dy, dx
		if s.err == nil {
			s.release(d.dy, d.dx)
			return d, nil
		}
	}
	s.release()
	return nil, fmt.Errorf("pattern mask: %w", s.err)
}

// masks returns the drawn planes' masks, n×planes×h×w: with scaled the
// rescaled ones (0 where dropped, h·w/kept where kept), otherwise the {0,1}
// keep-masks. It hands the draw's tensors to s.
func (d *shifts) masks(s *scope, scaled bool) *ts.Tensor {
	shape := []int64{d.n, d.planes, d.h, d.w}
	table, base := d.b.keepTable, d.b.keep
	if scaled {
		table, base = d.b.scaledTable, d.b.scaled
	}
	if d.idx != nil {
		s.tmp = append(s.tmp, d.idx)
		return s.do(func() (*ts.Tensor, error) { return lookup(table, d.idx, shape) })
	}
	s.tmp = append(s.tmp, d.dy, d.dx)
	// Two gathers with indices broadcast over the other axis (gather is
	// several times faster than index_select along the last axis on CPU,
	// and nothing of the output's size is built but the first gather's
	// result): the columns (x+dx) mod w of the base for every plane, then
	// the rows (y+dy) mod h of that.
	h, w, np := d.h, d.w, d.n*d.planes
	dev := d.dy.MustDevice()
	shift := func(size int64, by *ts.Tensor, shape, view []int64) *ts.Tensor {
		i := s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(size), gotch.Int64, dev) })
		i = s.do(func() (*ts.Tensor, error) { return i.View(shape, false) })
		o := s.do(func() (*ts.Tensor, error) { return by.View(view, false) })
		i = s.do(func() (*ts.Tensor, error) { return i.Add(o, false) })
		i = s.do(func() (*ts.Tensor, error) { return i.Remainder(ts.IntScalar(size), false) })
		return s.do(func() (*ts.Tensor, error) { return i.Expand([]int64{np, h, w}, true, false) })
	}
	src := s.do(func() (*ts.Tensor, error) { return base.View([]int64{1, h, w}, false) })
	src = s.do(func() (*ts.Tensor, error) { return src.Expand([]int64{np, h, w}, true, false) })
	cols := shift(w, d.dx, []int64{1, 1, w}, []int64{np, 1, 1})
	out := s.do(func() (*ts.Tensor, error) { return src.Gather(2, cols, false, false) })
	rows := shift(h, d.dy, []int64{1, h, 1}, []int64{np, 1, 1})
	out = s.do(func() (*ts.Tensor, error) { return out.Gather(1, rows, false, false) })
	return s.do(func() (*ts.Tensor, error) { return out.View(shape, false) })
}

// lookup returns the rows idx of table, viewed as shape (one row per
// plane): an embedding lookup, a parallel row copy.
func lookup(table, idx *ts.Tensor, shape []int64) (*ts.Tensor, error) {
	rows, err := ts.Embedding(table, idx, -1, false, false)
	if err != nil {
		return nil, err
	}
	out, err := rows.View(shape, false)
	rows.MustDrop()
	return out, err
}

// A base is a pattern's mask on one map before placement, as a {0,1}
// keep-mask and rescaled (0 where dropped, h·w/kept where kept). The mask
// of shift (dy, dx) reads base cell ((y+dy) mod h, (x+dx) mod w) at
// (y, x). Small maps also get tables of every shift's mask (the windows of
// the base tiled twice along each axis), so that a draw is one row copy
// per plane; larger ones gather each plane's shift per draw.
type base struct {
	keep, scaled           *ts.Tensor // h×w float32
	kept                   int64      // kept cells, in every shift
	keepTable, scaledTable *ts.Tensor // h·w × h·w, row dy·w+dx the mask of shift (dy, dx); nil when too large
}

type baseKey struct {
	geometryKey
	th, tw, stride, repeat int
}

// Tables are built when they have at most maxTableCells cells (a variable
// so that tests can compare both paths: 32×32 maps have 2²⁰), and the
// cache holds at most maxBaseBytes; when full it is emptied, and evicted
// tensors are freed by gotch's finalizers once no draw still holds them.
var maxTableCells int64 = 1 << 22

const maxBaseBytes = 256 << 20

var bases = struct {
	sync.Mutex
	m     map[baseKey]*base
	bytes int64
}{m: map[baseKey]*base{}}

// baseFor returns the base of p on an h×w map, building it on first use.
func baseFor(p Pattern, h, w int64, dev gotch.Device) (*base, error) {
	g, err := geometryFor(h, w, p.Rotate, p.ShearX, p.ShearY, dev)
	if err != nil {
		return nil, err
	}
	th, tw := p.TileSize()
	key := baseKey{g.key, th, tw, p.Stride, p.Repeat}
	bases.Lock()
	b, ok := bases.m[key]
	bases.Unlock()
	if ok {
		return b, nil
	}
	b, err = newBase(p, g, h, w, dev, h*w*h*w <= maxTableCells)
	if err != nil {
		return nil, err
	}
	size := 4 * 2 * h * w
	if b.keepTable != nil {
		size += 4 * 2 * h * w * h * w
	}
	bases.Lock()
	defer bases.Unlock()
	if old, ok := bases.m[key]; ok { // another goroutine built it meanwhile
		return old, nil
	}
	if bases.bytes+size > maxBaseBytes {
		bases.m = map[baseKey]*base{}
		bases.bytes = 0
	}
	bases.m[key] = b
	bases.bytes += size
	return b, nil
}

// planeMasks returns the keep-masks (n×planes×h×w) and kept counts
// (n×planes×1×1) of the planes whose pictures have their origins at rows
// oy and columns ox (n×planes×1 int64). The kept counts come without a
// pass over the mask: a plane drops cell (y, x) when its source row sy and
// source column sx are both in tiles, so it drops Σ dropY[sy]·dropX[sx]
// cells, the bilinear form dropY·C·dropXᵀ with C[sy][sx] the number of
// cells reading (sy, sx). A plane drops everything exactly when that count
// is h·w, and is then kept whole.
func planeMasks(s *scope, p Pattern, g *geometry, oy, ox *ts.Tensor, n, planes, h, w int64) (keep, kept *ts.Tensor) {
	th, tw := p.TileSize()
	dropY := axisDrop(s, g.vy, oy, int64(th), int64(p.Stride), int64(p.Repeat))
	dropX := axisDrop(s, g.vx, ox, int64(tw), int64(p.Stride), int64(p.Repeat))
	var drop, dropped *ts.Tensor // n×planes×h×w, n×planes
	last := []int64{-1}
	if g.identity {
		// Separable: drop[y,x] = dropY[y]·dropX[x].
		a := s.do(func() (*ts.Tensor, error) { return dropY.Unsqueeze(-1, false) })
		b := s.do(func() (*ts.Tensor, error) { return dropX.Unsqueeze(-2, false) })
		drop = s.do(func() (*ts.Tensor, error) { return a.Mul(b, false) })
		ry := s.do(func() (*ts.Tensor, error) { return dropY.SumDimIntlist(last, false, gotch.Float, false) })
		rx := s.do(func() (*ts.Tensor, error) { return dropX.SumDimIntlist(last, false, gotch.Float, false) })
		dropped = s.do(func() (*ts.Tensor, error) { return ry.Mul(rx, false) })
	} else {
		// drop[y,x] = dropY[sy(y,x)]·dropX[sx(y,x)], gathered along the
		// last axis with the cached flat source indices, broadcast over
		// the planes without a copy (gather is several times faster than
		// index_select along the last axis on CPU).
		ex := []int64{n, planes, h * w}
		iy := s.do(func() (*ts.Tensor, error) { return g.iy.Expand(ex, true, false) })
		ix := s.do(func() (*ts.Tensor, error) { return g.ix.Expand(ex, true, false) })
		a := s.do(func() (*ts.Tensor, error) { return dropY.Gather(2, iy, false, false) })
		b := s.do(func() (*ts.Tensor, error) { return dropX.Gather(2, ix, false, false) })
		ab := s.do(func() (*ts.Tensor, error) { return a.Mul(b, false) })
		drop = s.do(func() (*ts.Tensor, error) { return ab.View([]int64{n, planes, h, w}, false) })
		m := s.do(func() (*ts.Tensor, error) { return dropY.Matmul(g.count, false) })
		mx := s.do(func() (*ts.Tensor, error) { return m.Mul(dropX, false) })
		dropped = s.do(func() (*ts.Tensor, error) { return mx.SumDimIntlist(last, false, gotch.Float, false) })
	}
	// Counts are small integers, exact in float32.
	cells := float64(h * w)
	empty := s.do(func() (*ts.Tensor, error) { return dropped.Eq(ts.FloatScalar(cells), false) })
	emptyF := s.do(func() (*ts.Tensor, error) { return empty.Totype(gotch.Float, false) })
	emptyF = s.do(func() (*ts.Tensor, error) { return emptyF.View([]int64{n, planes, 1, 1}, false) })
	// keep = 1 + empty − drop: 1−drop where the plane keeps something, and
	// 2−1 = 1 everywhere on a plane that would drop everything.
	base := s.do(func() (*ts.Tensor, error) { return emptyF.AddScalar(ts.FloatScalar(1), false) })
	keep = s.do(func() (*ts.Tensor, error) { return base.Sub(drop, false) })
	// kept = cells − dropped·(1−empty): a restored plane keeps every cell.
	notEmpty := s.do(func() (*ts.Tensor, error) { return emptyF.RsubScalar(ts.FloatScalar(1), false) })
	d4 := s.do(func() (*ts.Tensor, error) { return dropped.View([]int64{n, planes, 1, 1}, false) })
	dk := s.do(func() (*ts.Tensor, error) { return d4.Mul(notEmpty, false) })
	kept = s.do(func() (*ts.Tensor, error) { return dk.RsubScalar(ts.FloatScalar(cells), false) })
	return keep, kept
}

// axisDrop returns, for one axis, an n×planes×L float tensor that is 1
// where coordinate v[l] falls in a tile of the picture whose origin is o
// (n×planes×1) and 0 elsewhere. v holds the L source coordinates the map
// needs along this axis: d = v-o is in a tile when 0 ≤ d < extent and
// d mod (tile+stride) < tile.
func axisDrop(s *scope, v, o *ts.Tensor, tile, stride, repeat int64) *ts.Tensor {
	period := tile + stride
	extent := (repeat-1)*period + tile
	d := s.do(func() (*ts.Tensor, error) { return v.Sub(o, false) }) // n×planes×L
	ge := s.do(func() (*ts.Tensor, error) { return d.Ge(ts.IntScalar(0), false) })
	lt := s.do(func() (*ts.Tensor, error) { return d.Lt(ts.IntScalar(extent), false) })
	in := s.do(func() (*ts.Tensor, error) { return ge.LogicalAnd(lt, false) })
	if stride > 0 {
		r := s.do(func() (*ts.Tensor, error) { return d.Remainder(ts.IntScalar(period), false) })
		rin := s.do(func() (*ts.Tensor, error) { return r.Lt(ts.IntScalar(tile), false) })
		in = s.do(func() (*ts.Tensor, error) { return in.LogicalAnd(rin, false) })
	}
	return s.do(func() (*ts.Tensor, error) { return in.Totype(gotch.Float, false) })
}

// geometry holds, for one map size and one rotation and shear, the source
// coordinates that the output cells read after the inverse transform.
type geometry struct {
	key      geometryKey
	identity bool
	// vy, vx: every integer from the smallest to the largest source row
	// (column) that an output cell reads (int64, ascending).
	vy, vx *ts.Tensor
	// iy, ix: for each output cell in row-major order, the position of its
	// source row (column) in vy (vx), shaped 1×1×(h·w). Unused when
	// identity.
	iy, ix *ts.Tensor
	// count[i][j]: how many output cells read source (vy[i], vx[j]), as
	// float32. Unused when identity.
	count *ts.Tensor
}

type geometryKey struct {
	h, w          int64
	rot, shx, shy float64
	dev           gotch.Device
}

// The cache is small and bounded: a search meets a few map sizes and a few
// dozen angles. When it is full it is emptied; evicted tensors are freed by
// gotch's finalizers once no mask computation still holds them.
const maxGeometries = 256

var geometries = struct {
	sync.Mutex
	m map[geometryKey]*geometry
}{m: map[geometryKey]*geometry{}}

func geometryFor(h, w int64, rot, shx, shy float64, dev gotch.Device) (*geometry, error) {
	rot = math.Mod(rot, 360)
	if rot < 0 {
		rot += 360
	}
	key := geometryKey{h, w, rot, shx, shy, dev}
	geometries.Lock()
	g, ok := geometries.m[key]
	geometries.Unlock()
	if ok {
		return g, nil
	}
	g, err := newGeometry(h, w, rot, shx, shy, dev)
	if err != nil {
		return nil, err
	}
	g.key = key
	geometries.Lock()
	if len(geometries.m) >= maxGeometries {
		geometries.m = map[geometryKey]*geometry{}
	}
	geometries.m[key] = g
	geometries.Unlock()
	return g, nil
}

// snap rounds values within 1e-12 of an integer to it, so that multiples
// of 90° rotate exactly.
func snap(v float64) float64 {
	if r := math.Round(v); math.Abs(v-r) < 1e-12 {
		return r
	}
	return v
}

func newGeometry(h, w int64, rot, shx, shy float64, dev gotch.Device) (*geometry, error) {
	rad := rot * math.Pi / 180
	cos, sin := snap(math.Cos(rad)), snap(math.Sin(rad))
	var s scope
	g := &geometry{identity: cos == 1 && sin == 0 && shx == 0 && shy == 0}
	if g.identity {
		g.vy = s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(h), gotch.Int64, dev) })
		g.vx = s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(w), gotch.Int64, dev) })
		if s.err != nil {
			s.release()
			return nil, s.err
		}
		s.release(g.vy, g.vx)
		return g, nil
	}
	// Output cell (y, x), relative to the centre ((h-1)/2, (w-1)/2), reads
	// the picture at R(-θ), then Sy⁻¹, then Sx⁻¹ of it (the forward map is
	// shear x, shear y, rotate). Coordinates are float64 until rounding to
	// the nearest cell (ties towards +∞).
	cy, cx := float64(h-1)/2, float64(w-1)/2
	ar := func(n int64, c float64, shape []int64) *ts.Tensor {
		a := s.do(func() (*ts.Tensor, error) { return ts.Arange(ts.IntScalar(n), gotch.Double, dev) })
		a = s.do(func() (*ts.Tensor, error) { return a.SubScalar(ts.FloatScalar(c), false) })
		return s.do(func() (*ts.Tensor, error) { return a.View(shape, false) })
	}
	yy := ar(h, cy, []int64{h, 1})
	xx := ar(w, cx, []int64{1, w})
	lin := func(t1 *ts.Tensor, k1 float64, t2 *ts.Tensor, k2 float64) *ts.Tensor { // k1·t1 + k2·t2
		a := s.do(func() (*ts.Tensor, error) { return t1.MulScalar(ts.FloatScalar(k1), false) })
		b := s.do(func() (*ts.Tensor, error) { return t2.MulScalar(ts.FloatScalar(k2), false) })
		return s.do(func() (*ts.Tensor, error) { return a.Add(b, false) })
	}
	// Inverse rotation: a = x·cos − y·sin, b = x·sin + y·cos (y points down,
	// so this undoes a counter-clockwise turn on screen).
	a := lin(xx, cos, yy, -sin)
	b := lin(xx, sin, yy, cos)
	b = lin(b, 1, a, -shy) // undo y' = y + shy·x
	a = lin(a, 1, b, -shx) // undo x' = x + shx·y
	round := func(t *ts.Tensor, c float64) *ts.Tensor {
		u := s.do(func() (*ts.Tensor, error) { return t.AddScalar(ts.FloatScalar(c+0.5), false) })
		u = s.do(func() (*ts.Tensor, error) { return u.Floor(false) })
		return s.do(func() (*ts.Tensor, error) { return u.Totype(gotch.Int64, false) })
	}
	sy := round(b, cy)
	sx := round(a, cx)
	index := func(src *ts.Tensor) (v, idx *ts.Tensor) {
		if s.err != nil {
			return nil, nil
		}
		lo, hi, err := minMax(src)
		if err != nil {
			s.fail(err)
			return nil, nil
		}
		v = s.do(func() (*ts.Tensor, error) {
			return ts.ArangeStart(ts.IntScalar(lo), ts.IntScalar(hi+1), gotch.Int64, dev)
		})
		d := s.do(func() (*ts.Tensor, error) { return src.SubScalar(ts.IntScalar(lo), false) })
		idx = s.do(func() (*ts.Tensor, error) { return d.Reshape([]int64{1, 1, h * w}, false) })
		return v, idx
	}
	g.vy, g.iy = index(sy)
	g.vx, g.ix = index(sx)
	if s.err == nil {
		ly, lx := int64(g.vy.Numel()), int64(g.vx.Numel())
		flat := s.do(func() (*ts.Tensor, error) { return g.iy.MulScalar(ts.IntScalar(lx), false) })
		flat = s.do(func() (*ts.Tensor, error) { return flat.Add(g.ix, false) })
		flat = s.do(func() (*ts.Tensor, error) { return flat.Reshape([]int64{h * w}, false) })
		none := ts.NewTensor() // no weights
		s.tmp = append(s.tmp, none)
		bins := s.do(func() (*ts.Tensor, error) { return flat.Bincount(none, ly*lx, false) })
		binsF := s.do(func() (*ts.Tensor, error) { return bins.Totype(gotch.Float, false) })
		g.count = s.do(func() (*ts.Tensor, error) { return binsF.View([]int64{ly, lx}, false) })
	}
	if s.err != nil {
		s.release()
		return nil, fmt.Errorf("mask geometry %d×%d rotate %g shear %g,%g: %w", h, w, rot, shx, shy, s.err)
	}
	s.release(g.vy, g.iy, g.vx, g.ix, g.count)
	return g, nil
}

func minMax(t *ts.Tensor) (lo, hi int64, err error) {
	mn, err := t.Min(false)
	if err != nil {
		return 0, 0, err
	}
	defer mn.MustDrop()
	mx, err := t.Max(false)
	if err != nil {
		return 0, 0, err
	}
	defer mx.MustDrop()
	a, err := mn.Float64Value([]int64{})
	if err != nil {
		return 0, 0, err
	}
	b, err := mx.Float64Value([]int64{})
	if err != nil {
		return 0, 0, err
	}
	return int64(a), int64(b), nil
}

// newBase computes the base of p on an h×w map with geometry g, with the
// tables of every shift when tables is set.
func newBase(p Pattern, g *geometry, h, w int64, dev gotch.Device, tables bool) (*base, error) {
	// The picture centred on the map: its top-left corner at
	// ⌊(h−Eh)/2⌋, ⌊(w−Ew)/2⌋ (negative when it is larger than the map).
	eh, ew := p.Extent()
	oy0 := int64(math.Floor(float64(h-int64(eh)) / 2))
	ox0 := int64(math.Floor(float64(w-int64(ew)) / 2))
	var s scope
	origin := func(o int64) *ts.Tensor {
		t := s.do(func() (*ts.Tensor, error) { return ts.Full([]int64{1, 1, 1}, ts.IntScalar(o), gotch.Int64, dev) })
		return t
	}
	oy, ox := origin(oy0), origin(ox0)
	if s.err != nil {
		s.release()
		return nil, s.err
	}
	keep, kept := planeMasks(&s, p, g, oy, ox, 1, 1, h, w)
	b := &base{}
	b.keep = s.do(func() (*ts.Tensor, error) { return keep.View([]int64{h, w}, false) })
	// kept·(h·w/kept) in float32, the factor every kept cell gets.
	inv := s.do(func() (*ts.Tensor, error) { return kept.Reciprocal(false) })
	scale := s.do(func() (*ts.Tensor, error) { return inv.MulScalar(ts.FloatScalar(float64(h*w)), false) })
	scale = s.do(func() (*ts.Tensor, error) { return scale.View([]int64{1, 1}, false) })
	b.scaled = s.do(func() (*ts.Tensor, error) { return b.keep.Mul(scale, false) })
	if tables {
		table := func(m *ts.Tensor) *ts.Tensor {
			tiled := s.do(func() (*ts.Tensor, error) { return m.Repeat([]int64{2, 2}, false) })
			win := s.do(func() (*ts.Tensor, error) {
				return tiled.AsStrided([]int64{h, w, h, w}, []int64{2 * w, 1, 2 * w, 1}, []int64{0}, false)
			})
			return s.do(func() (*ts.Tensor, error) { return win.Reshape([]int64{h * w, h * w}, false) })
		}
		b.keepTable, b.scaledTable = table(b.keep), table(b.scaled)
	}
	if s.err == nil {
		var k float64
		if k, s.err = kept.Float64Value([]int64{0, 0, 0, 0}); s.err == nil {
			b.kept = int64(k)
		}
	}
	if s.err != nil {
		s.release()
		return nil, fmt.Errorf("mask base %d×%d %v: %w", h, w, p, s.err)
	}
	s.release(b.keep, b.scaled, b.keepTable, b.scaledTable)
	return b, nil
}
