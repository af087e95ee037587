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
// ShareC is set (it broadcasts over the channels). Offsets come from
// libtorch's generator, so libtorch.ManualSeed makes masks reproducible.
// A mask plane that would drop every cell is kept whole instead (see the
// package documentation).
//
// The work is a handful of batched tensor ops on dev; the geometry (the
// source coordinate of every output cell after the inverse rotation and
// shear) depends only on the map size and the pattern, and is cached.
func (p Pattern) Mask(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error) {
	keep, kept, err := p.draw(n, c, h, w, dev)
	if err != nil {
		return nil, err
	}
	kept.MustDrop()
	return keep, nil
}

// draw returns the keep-mask of Mask and the number of kept cells of each
// of its planes (n×planes×1×1, float32). The offsets are drawn first, rows
// then columns (the order is part of the reproducibility contract); the
// masks for them are looked up in a cached table of every offset pair's
// mask when the table is small (see maskTable), and computed otherwise
// (see planeMasks). Both give the same masks for the same offsets.
func (p Pattern) draw(n, c, h, w int64, dev gotch.Device) (keep, kept *ts.Tensor, err error) {
	d, err := p.drawIndex(n, c, h, w, dev)
	if err != nil {
		return nil, nil, err
	}
	var s scope
	keep, kept = d.masks(&s)
	if s.err != nil {
		s.release()
		return nil, nil, fmt.Errorf("pattern mask: %w", s.err)
	}
	s.release(keep, kept)
	return keep, kept, nil
}

// drawn is one draw of offsets: either the row of each plane in a table
// (idx, n·planes int64) or, without a table, the offsets themselves.
type drawn struct {
	p               Pattern
	g               *geometry
	n, planes, h, w int64
	tab             *maskTable
	idx             *ts.Tensor // with tab: n·planes rows of the table
	oy, ox          *ts.Tensor // without: n×planes×1 origins
}

func (p Pattern) drawIndex(n, c, h, w int64, dev gotch.Device) (*drawn, error) {
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	if n < 1 || c < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("pattern mask: shape %d×%d×%d×%d: every dimension must be positive", n, c, h, w)
	}
	if h >= maxCells || w >= maxCells {
		return nil, fmt.Errorf("pattern mask: map %d×%d is too large", h, w)
	}
	g, err := geometryFor(h, w, p.Rotate, p.ShearX, p.ShearY, dev)
	if err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	d := &drawn{p: p, g: g, n: n, planes: c, h: h, w: w}
	if p.ShareC {
		d.planes = 1
	}
	loY, countY := p.offsets(h, true)
	loX, countX := p.offsets(w, false)
	tab, err := tableFor(p, g, h, w, dev)
	if err != nil {
		return nil, fmt.Errorf("pattern mask: %w", err)
	}
	var s scope
	shape := []int64{n, d.planes, 1}
	ry := s.do(func() (*ts.Tensor, error) { return ts.Randint(countY, shape, gotch.Int64, dev) })
	rx := s.do(func() (*ts.Tensor, error) { return ts.Randint(countX, shape, gotch.Int64, dev) })
	if tab != nil {
		d.tab = tab
		i := s.do(func() (*ts.Tensor, error) { return ry.MulScalar(ts.IntScalar(countX), false) })
		i = s.do(func() (*ts.Tensor, error) { return i.Add(rx, false) })
		d.idx = s.do(func() (*ts.Tensor, error) { return i.View([]int64{n * d.planes}, false) })
		if s.err == nil {
			s.release(d.idx)
			return d, nil
		}
	} else {
		d.oy, d.ox = ry, rx
		if loY != 0 {
			d.oy = s.do(func() (*ts.Tensor, error) { return ry.AddScalar(ts.IntScalar(loY), false) })
		}
		if loX != 0 {
			d.ox = s.do(func() (*ts.Tensor, error) { return rx.AddScalar(ts.IntScalar(loX), false) })
		}
		if s.err == nil {
			s.release(d.oy, d.ox)
			return d, nil
		}
	}
	s.release()
	return nil, fmt.Errorf("pattern mask: %w", s.err)
}

// offsets returns the smallest origin of the tiled picture along one axis
// and the number of origins: the integers between 0 and size-extent
// (inclusive), so that the smaller of the picture and the map lies inside
// the larger.
func (p Pattern) offsets(size int64, rows bool) (lo, count int64) {
	eh, ew := p.Extent()
	extent := int64(ew)
	if rows {
		extent = int64(eh)
	}
	lo, hi := min(0, size-extent), max(0, size-extent)
	return lo, hi - lo + 1
}

// masks returns the drawn planes' keep-masks (n×planes×h×w) and kept
// counts (n×planes×1×1), looked up or computed. It hands the draw's
// tensors to s.
func (d *drawn) masks(s *scope) (keep, kept *ts.Tensor) {
	if d.tab != nil {
		s.tmp = append(s.tmp, d.idx)
		keep = s.do(func() (*ts.Tensor, error) { return lookup(d.tab.keep, d.idx, []int64{d.n, d.planes, d.h, d.w}) })
		kept = s.do(func() (*ts.Tensor, error) { return lookup(d.tab.kept, d.idx, []int64{d.n, d.planes, 1, 1}) })
		return keep, kept
	}
	s.tmp = append(s.tmp, d.oy, d.ox)
	return planeMasks(s, d.p, d.g, d.oy, d.ox, d.n, d.planes, d.h, d.w)
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

// A maskTable holds the mask of every origin of a pattern's picture on one
// map: the row r·countX+c is the plane whose picture starts at the r-th row
// origin and the c-th column origin (Pattern.offsets). Training then draws
// a mask with one row copy per plane instead of a dozen passes over the
// activation, and PerMask rescaling comes precomputed. The table has
// countY·countX·h·w cells: small for the maps of small-image networks
// (WRN-28 on 32×32: a few hundred thousand), too large for a small tile
// on a large map, which computes its masks instead.
type maskTable struct {
	keep   *ts.Tensor // rows × h·w, float32 {0,1}
	kept   *ts.Tensor // rows × 1, float32 kept cells
	scaled *ts.Tensor // rows × h·w: keep·(h·w/kept), PerMask's factor
}

type tableKey struct {
	geometryKey
	th, tw, stride, repeat int
}

// Tables are built when they have at most maxTableCells cells (a
// variable so that tests can compare both paths), and the cache holds at
// most maxTableBytes (two float32 tensors per table); when full it is
// emptied, and evicted tables are freed by gotch's finalizers once no mask
// computation still holds them.
var maxTableCells int64 = 1 << 22

const maxTableBytes = 256 << 20

var tables = struct {
	sync.Mutex
	m     map[tableKey]*maskTable
	bytes int64
}{m: map[tableKey]*maskTable{}}

// tableFor returns the table of p on an h×w map, building it on first use,
// or nil when it would be too large.
func tableFor(p Pattern, g *geometry, h, w int64, dev gotch.Device) (*maskTable, error) {
	loY, countY := p.offsets(h, true)
	loX, countX := p.offsets(w, false)
	rows := countY * countX
	if rows*h*w > maxTableCells {
		return nil, nil
	}
	th, tw := p.TileSize()
	key := tableKey{g.key, th, tw, p.Stride, p.Repeat}
	tables.Lock()
	t, ok := tables.m[key]
	tables.Unlock()
	if ok {
		return t, nil
	}
	// Every origin pair once: rows vary along the first axis, columns
	// along the second, as the index r·countX+c reads them.
	var s scope
	oy := s.do(func() (*ts.Tensor, error) {
		return ts.ArangeStart(ts.IntScalar(loY), ts.IntScalar(loY+countY), gotch.Int64, dev)
	})
	oy = s.do(func() (*ts.Tensor, error) { return oy.View([]int64{countY, 1, 1}, false) })
	oy = s.do(func() (*ts.Tensor, error) { return oy.Expand([]int64{countY, countX, 1}, true, false) })
	ox := s.do(func() (*ts.Tensor, error) {
		return ts.ArangeStart(ts.IntScalar(loX), ts.IntScalar(loX+countX), gotch.Int64, dev)
	})
	ox = s.do(func() (*ts.Tensor, error) { return ox.View([]int64{1, countX, 1}, false) })
	ox = s.do(func() (*ts.Tensor, error) { return ox.Expand([]int64{countY, countX, 1}, true, false) })
	if s.err != nil {
		s.release()
		return nil, s.err
	}
	keep, kept := planeMasks(&s, p, g, oy, ox, countY, countX, h, w)
	t = &maskTable{}
	t.keep = s.do(func() (*ts.Tensor, error) { return keep.Reshape([]int64{rows, h * w}, false) })
	t.kept = s.do(func() (*ts.Tensor, error) { return kept.Reshape([]int64{rows, 1}, false) })
	// The same float32 operations as PatternDropout's rescaling, so that
	// the factors are bit for bit those of computed masks.
	inv := s.do(func() (*ts.Tensor, error) { return t.kept.Reciprocal(false) })
	scale := s.do(func() (*ts.Tensor, error) { return inv.MulScalar(ts.FloatScalar(float64(h*w)), false) })
	t.scaled = s.do(func() (*ts.Tensor, error) { return t.keep.Mul(scale, false) })
	if s.err != nil {
		s.release()
		return nil, fmt.Errorf("mask table %d×%d %v: %w", h, w, p, s.err)
	}
	s.release(t.keep, t.kept, t.scaled)
	tables.Lock()
	defer tables.Unlock()
	if old, ok := tables.m[key]; ok { // another goroutine built it meanwhile
		return old, nil
	}
	size := 4 * (2*rows*h*w + rows)
	if tables.bytes+size > maxTableBytes {
		tables.m = map[tableKey]*maskTable{}
		tables.bytes = 0
	}
	tables.m[key] = t
	tables.bytes += size
	return t, nil
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
