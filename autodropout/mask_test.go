package autodropout

import (
	"math"
	"reflect"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestMaskShapeAndValues(t *testing.T) {
	seed(t, 1)
	tests := []struct {
		name       string
		p          Pattern
		n, c, h, w int64
		want       []int64
	}{
		{"square", Pattern{Size: 3, Stride: 1, Repeat: 2}, 2, 3, 8, 8, []int64{2, 3, 8, 8}},
		{"share_c", Pattern{Size: 3, Stride: 1, Repeat: 2, ShareC: true}, 2, 3, 8, 8, []int64{2, 1, 8, 8}},
		{"H≠W", Pattern{Size: 2, Stride: 3, Repeat: 4}, 3, 2, 5, 11, []int64{3, 2, 5, 11}},
		{"rectangle", Pattern{Height: 1, Width: 4, Stride: 2, Repeat: 3}, 1, 4, 9, 6, []int64{1, 4, 9, 6}},
		{"rotated and sheared", Pattern{Size: 2, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.4, ShearY: 1}, 2, 2, 6, 9, []int64{2, 2, 6, 9}},
		{"negative angle", Pattern{Size: 2, Stride: 2, Repeat: 8, Rotate: -75}, 2, 2, 7, 7, []int64{2, 2, 7, 7}},
		{"tile larger than the map", Pattern{Size: 12, Stride: 1, Repeat: 1}, 2, 2, 4, 4, []int64{2, 2, 4, 4}},
		{"1×1 map", Pattern{Size: 1, Stride: 1, Repeat: 1}, 2, 2, 1, 1, []int64{2, 2, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shape, v := mask(t, tt.p, tt.n, tt.c, tt.h, tt.w)
			if !sameShape(shape, tt.want) {
				t.Fatalf("shape %v, want %v", shape, tt.want)
			}
			for i, x := range v {
				if x != 0 && x != 1 {
					t.Fatalf("value %d is %v, want 0 or 1", i, x)
				}
			}
		})
	}
}

func TestMaskErrors(t *testing.T) {
	tests := []struct {
		name       string
		p          Pattern
		n, c, h, w int64
	}{
		{"zero size", Pattern{Size: 0, Stride: 1, Repeat: 1}, 1, 1, 4, 4},
		{"zero repeat", Pattern{Size: 1, Stride: 1, Repeat: 0}, 1, 1, 4, 4},
		{"NaN angle", Pattern{Size: 1, Stride: 1, Repeat: 1, Rotate: math.NaN()}, 1, 1, 4, 4},
		{"empty batch", Pattern{Size: 1, Stride: 1, Repeat: 1}, 0, 1, 4, 4},
		{"empty map", Pattern{Size: 1, Stride: 1, Repeat: 1}, 1, 1, 0, 4},
	}
	for _, tt := range tests {
		if m, err := tt.p.Mask(tt.n, tt.c, tt.h, tt.w, gotch.CPU); err == nil {
			m.MustDrop()
			t.Errorf("%s: Mask succeeded, want an error", tt.name)
		}
	}
}

// The fraction of dropped cells follows from the pattern, and every plane
// drops exactly the same number of cells (each mask is a cyclic shift of
// the pattern's base mask). Where the map's sides are multiples of the
// period, an unbounded tiling drops (h/(h+s))·(w/(w+s)).
func TestMaskDropFraction(t *testing.T) {
	seed(t, 2)
	tests := []struct {
		name string
		p    Pattern
		h, w int64
		want float64
		tol  float64 // 0: exactly
	}{
		{"size 2 stride 2 tiled", Pattern{Size: 2, Stride: 2, Repeat: 64}, 32, 32, 0.25, 0},
		{"size 1 stride 1 tiled", Pattern{Size: 1, Stride: 1, Repeat: 64}, 16, 16, 0.25, 0},
		{"size 3 stride 1 tiled", Pattern{Size: 3, Stride: 1, Repeat: 64}, 32, 32, 9.0 / 16, 0},
		{"H≠W tiled", Pattern{Size: 2, Stride: 2, Repeat: 64}, 12, 20, 0.25, 0},
		{"rectangle tiled", Pattern{Height: 1, Width: 3, Stride: 1, Repeat: 64}, 16, 24, 0.5 * 0.75, 0},
		{"one tile", Pattern{Size: 4, Stride: 0, Repeat: 1}, 16, 16, 16.0 / 256, 0},
		{"one even rectangle, H≠W", Pattern{Height: 2, Width: 4, Stride: 5, Repeat: 1}, 12, 20, 8.0 / 240, 0},
		{"2×2 tiles inside", Pattern{Size: 3, Stride: 2, Repeat: 2}, 16, 16, 36.0 / 256, 0},
		// The centred window of a 254-cell tiling starts on a tile row:
		// 16 of 30 rows and columns are tile rows and columns.
		{"tiled, sides not multiples of the period", Pattern{Size: 2, Stride: 2, Repeat: 64}, 30, 30, 16.0 / 30 * 16 / 30, 0},
		{"tiled, rotated 30°", Pattern{Size: 2, Stride: 2, Repeat: 64, Rotate: 30}, 32, 32, 0.25, 0.02},
		{"tiled, sheared", Pattern{Size: 2, Stride: 2, Repeat: 64, ShearX: 0.5, ShearY: 0.3}, 32, 32, 0.25, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, v := mask(t, tt.p, 8, 8, tt.h, tt.w)
			pl := planes(v, tt.h*tt.w)
			first := 1 - mean(pl[0])
			if math.Abs(first-tt.want) > tt.tol+1e-9 {
				t.Fatalf("drops %.4f, want %.4f ± %.3f", first, tt.want, tt.tol)
			}
			for i := range pl {
				if got := 1 - mean(pl[i]); got != first {
					t.Fatalf("plane %d drops %.4f, plane 0 %.4f: want every plane the same", i, got, first)
				}
			}
		})
	}
}

// A single tile lands anywhere in the map, wrapping around its edges: its
// shift is uniform, so over many planes every cell is dropped equally
// often, 4 times in 42.
func TestMaskOffsetsCoverTheMap(t *testing.T) {
	seed(t, 3)
	const h, w = 6, 7
	_, v := mask(t, Pattern{Size: 2, Stride: 1, Repeat: 1}, 50, 40, h, w)
	counts := make([]float64, h*w)
	for _, pl := range planes(v, h*w) {
		for i, x := range pl {
			counts[i] += 1 - x
		}
	}
	want := 2000 * 4.0 / 42
	for i, got := range counts {
		if math.Abs(got-want) > 5*math.Sqrt(want) {
			t.Errorf("cell (%d,%d) dropped %v times in 2000 planes, want about %.0f", i/w, i%w, got, want)
		}
	}
}

func TestMaskShareC(t *testing.T) {
	seed(t, 4)
	const n, c, h, w = 3, 5, 16, 16
	p := Pattern{Size: 2, Stride: 2, Repeat: 64}
	for _, share := range []bool{true, false} {
		p.ShareC = share
		d, err := NewPatternDropout(p, ScopeDefault)
		if err != nil {
			t.Fatal(err)
		}
		x := ones(t, n, c, h, w)
		_, v := read(t, d.ForwardT(x, true))
		x.MustDrop()
		pl := planes(v, h*w)
		differ := false
		for s := 0; s < n; s++ {
			for ch := 1; ch < c; ch++ {
				if !reflect.DeepEqual(pl[s*c], pl[s*c+ch]) {
					differ = true
				}
			}
		}
		if share && differ {
			t.Error("share_c: channels of a sample differ")
		}
		if !share && !differ {
			t.Error("without share_c every channel got the same mask")
		}
	}
}

func TestMaskSeeds(t *testing.T) {
	p := Pattern{Size: 3, Stride: 5, Repeat: 2, Rotate: 15}
	draw := func(s int64) []float64 {
		seed(t, s)
		_, v := mask(t, p, 4, 8, 32, 32)
		return v
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different masks")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 gave the same mask")
	}
}

// Turning by 90° maps output cell (y, x) to source cell (x, W-1-y) on a
// square map, so the base mask is the unrotated one rotated: an h×w tile
// becomes w×h.
func TestMaskRotate90(t *testing.T) {
	const s = 16
	p := Pattern{Height: 2, Width: 5, Stride: 1, Repeat: 1}
	orig := baseMask(t, p, s, s)
	for _, angle := range []float64{90, 450, -270} {
		p.Rotate = angle
		rot := baseMask(t, p, s, s)
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				if rot[y*s+x] != orig[x*s+s-1-y] {
					t.Fatalf("rotate %v: cell (%d,%d) = %v, want source (%d,%d) = %v", angle, y, x, rot[y*s+x], x, s-1-y, orig[x*s+s-1-y])
				}
			}
		}
		if bh, bw, cells := droppedBox(rot, s, s); bh != 5 || bw != 2 || cells != 10 {
			t.Fatalf("rotate %v: dropped box %d×%d with %d cells, want 5×2 with 10", angle, bh, bw, cells)
		}
	}
}

func baseMask(t testing.TB, p Pattern, h, w int64) []float64 {
	t.Helper()
	b, err := p.BaseMask(h, w)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b))
	for i, x := range b {
		v[i] = float64(x)
	}
	return v
}

// droppedBox returns the bounding box of the dropped cells of one plane.
func droppedBox(v []float64, h, w int) (bh, bw, cells int) {
	y0, y1, x0, x1 := h, -1, w, -1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if v[y*w+x] == 0 {
				cells++
				y0, y1, x0, x1 = min(y0, y), max(y1, y), min(x0, x), max(x1, x)
			}
		}
	}
	if cells == 0 {
		return 0, 0, 0
	}
	return y1 - y0 + 1, x1 - x0 + 1, cells
}

// A pattern that covers the whole map would drop every cell; the plane is
// kept whole instead, and the module's rescaling stays finite.
func TestMaskAllDroppedFallback(t *testing.T) {
	tests := []struct {
		name string
		p    Pattern
		h, w int64
	}{
		{"tile larger than the map", Pattern{Size: 40, Stride: 1, Repeat: 1}, 32, 32},
		{"abutting tiles", Pattern{Size: 4, Stride: 0, Repeat: 8}, 8, 8},
		{"tile exactly the map, H≠W", Pattern{Height: 5, Width: 9, Stride: 3, Repeat: 1}, 5, 9},
		{"shared", Pattern{Size: 9, Stride: 1, Repeat: 1, ShareC: true}, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed(t, 10)
			_, v := mask(t, tt.p, 2, 3, tt.h, tt.w)
			for i, x := range v {
				if x != 1 {
					t.Fatalf("cell %d = %v, want the whole plane kept", i, x)
				}
			}
			for _, sc := range []Scope{PerMask, PerBatch} {
				d, err := NewPatternDropout(tt.p, sc)
				if err != nil {
					t.Fatal(err)
				}
				x := randn(t, 2, 3, tt.h, tt.w)
				_, xv := read(t, x.MustShallowClone())
				_, yv := read(t, d.ForwardT(x, true))
				x.MustDrop()
				if !allFinite(yv) {
					t.Fatalf("scope %v: output has NaN or Inf", sc)
				}
				if !reflect.DeepEqual(xv, yv) {
					t.Fatalf("scope %v: output differs from the input", sc)
				}
			}
		})
	}
}

// Whether a pattern drops everything depends on the pattern and the map
// only, never on the draw: a 3×5 tile repeated twice with stride 1 on a
// 3×5 map, centred, covers rows 0 and 2 and four columns, so every plane
// drops those 8 cells (shifted), and none is restored.
func TestMaskFallbackIsPerPattern(t *testing.T) {
	seed(t, 11)
	p := Pattern{Height: 3, Width: 5, Stride: 1, Repeat: 2}
	_, v := mask(t, p, 20, 40, 3, 5)
	for i, pl := range planes(v, 15) {
		if dropped := int(math.Round(15 * (1 - mean(pl)))); dropped != 8 {
			t.Fatalf("plane %d drops %d cells, want 8", i, dropped)
		}
	}
	if f, err := p.KeptFraction(3, 5); err != nil || f != 7.0/15 {
		t.Errorf("KeptFraction = %v, %v; want 7/15", f, err)
	}
}

func BenchmarkPatternMask(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Pattern
	}{
		{"plain", Pattern{Size: 3, Stride: 2, Repeat: 8}},
		{"rotated", Pattern{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.2}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				m, err := bc.p.Mask(32, 64, 32, 32, gotch.CPU)
				if err != nil {
					b.Fatal(err)
				}
				m.MustDrop()
			}
		})
	}
}

// Masks may be drawn from several goroutines at once (the geometry cache
// is shared).
func TestMaskConcurrent(t *testing.T) {
	p := Pattern{Size: 2, Stride: 2, Repeat: 16, Rotate: 60, ShearY: 0.1}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				var m *ts.Tensor
				q := p
				q.Rotate += float64(15 * (i % 3)) // some shared, some new geometries
				if m, err = q.Mask(2, 3, 12, 10, gotch.CPU); err == nil {
					m.MustDrop()
				}
			}
			errs <- err
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
