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

// The fraction of dropped cells follows from the pattern. Where the map's
// sides are multiples of the period, every plane of an unbounded tiling
// drops exactly (h/(h+s))·(w/(w+s)), whatever its offset.
func TestMaskDropFraction(t *testing.T) {
	seed(t, 2)
	tests := []struct {
		name  string
		p     Pattern
		h, w  int64
		want  float64
		tol   float64 // 0: every plane exactly
		exact bool
	}{
		{"size 2 stride 2 tiled", Pattern{Size: 2, Stride: 2, Repeat: 64}, 32, 32, 0.25, 0, true},
		{"size 1 stride 1 tiled", Pattern{Size: 1, Stride: 1, Repeat: 64}, 16, 16, 0.25, 0, true},
		{"size 3 stride 1 tiled", Pattern{Size: 3, Stride: 1, Repeat: 64}, 32, 32, 9.0 / 16, 0, true},
		{"H≠W tiled", Pattern{Size: 2, Stride: 2, Repeat: 64}, 12, 20, 0.25, 0, true},
		{"rectangle tiled", Pattern{Height: 1, Width: 3, Stride: 1, Repeat: 64}, 16, 24, 0.5 * 0.75, 0, true},
		{"one tile", Pattern{Size: 4, Stride: 0, Repeat: 1}, 16, 16, 16.0 / 256, 0, true},
		{"one even rectangle, H≠W", Pattern{Height: 2, Width: 4, Stride: 5, Repeat: 1}, 12, 20, 8.0 / 240, 0, true},
		{"2×2 tiles inside", Pattern{Size: 3, Stride: 2, Repeat: 2}, 16, 16, 36.0 / 256, 0, true},
		{"tiled, sides not multiples of the period", Pattern{Size: 2, Stride: 2, Repeat: 64}, 30, 30, 0.25, 0.01, false},
		{"tiled, rotated 30°", Pattern{Size: 2, Stride: 2, Repeat: 64, Rotate: 30}, 32, 32, 0.25, 0.02, false},
		{"tiled, sheared", Pattern{Size: 2, Stride: 2, Repeat: 64, ShearX: 0.5, ShearY: 0.3}, 32, 32, 0.25, 0.02, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, v := mask(t, tt.p, 8, 8, tt.h, tt.w)
			if tt.exact {
				for i, pl := range planes(v, tt.h*tt.w) {
					if got := 1 - mean(pl); math.Abs(got-tt.want) > 1e-9 {
						t.Fatalf("plane %d drops %.4f, want exactly %.4f", i, got, tt.want)
					}
				}
				return
			}
			if got := 1 - mean(v); math.Abs(got-tt.want) > tt.tol {
				t.Errorf("drops %.4f on average, want %.4f ± %.3f", got, tt.want, tt.tol)
			}
		})
	}
}

// A single tile lands anywhere in the map: its offset is uniform, so over
// many planes every cell is dropped about equally often.
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
	// Cell (y, x) is covered by the tile for min(y+1, 2, h-y)·min(x+1, 2, w-x)
	// of the 5·6 equally likely offsets.
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cover := float64(min(y+1, 2, h-y) * min(x+1, 2, w-x))
			want := 2000 * cover / 30
			if got := counts[y*w+x]; math.Abs(got-want) > 5*math.Sqrt(want) {
				t.Errorf("cell (%d,%d) dropped %v times in 2000 planes, want about %.0f", y, x, got, want)
			}
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
// square map, so with the same offsets the mask is the unrotated one
// rotated: an h×w tile becomes w×h.
func TestMaskRotate90(t *testing.T) {
	const n, s = 6, 16
	p := Pattern{Height: 2, Width: 5, Stride: 1, Repeat: 1}
	seed(t, 9)
	_, orig := mask(t, p, n, 1, s, s)
	for _, angle := range []float64{90, 450, -270} {
		p.Rotate = angle
		seed(t, 9)
		_, rot := mask(t, p, n, 1, s, s)
		for k := 0; k < n; k++ {
			o, r := orig[k*s*s:(k+1)*s*s], rot[k*s*s:(k+1)*s*s]
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					if r[y*s+x] != o[x*s+s-1-y] {
						t.Fatalf("rotate %v, sample %d: cell (%d,%d) = %v, want source (%d,%d) = %v", angle, k, y, x, r[y*s+x], x, s-1-y, o[x*s+s-1-y])
					}
				}
			}
			if bh, bw, cells := droppedBox(r, s, s); bh != 5 || bw != 2 || cells != 10 {
				t.Fatalf("rotate %v, sample %d: dropped box %d×%d with %d cells, want 5×2 with 10", angle, k, bh, bw, cells)
			}
		}
	}
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

// Only the planes that drop everything are restored. A 3×5 tile repeated
// twice with stride 1 on a 3×5 map: the row offset is one of 5, and 2 of
// them cover all rows; the column offset is one of 7, and 2 of them cover
// all columns. So 4/35 of the planes would drop everything and are kept
// whole; the others drop 2 or 3 rows times 4 or 5 columns.
func TestMaskFallbackIsPerPlane(t *testing.T) {
	seed(t, 11)
	const planesN = 20 * 40
	_, v := mask(t, Pattern{Height: 3, Width: 5, Stride: 1, Repeat: 2}, 20, 40, 3, 5)
	restored := 0
	for i, pl := range planes(v, 15) {
		dropped := int(math.Round(15 * (1 - mean(pl))))
		switch dropped {
		case 0:
			restored++
		case 8, 10, 12:
		default:
			t.Fatalf("plane %d drops %d cells, want 0 (restored), 8, 10 or 12", i, dropped)
		}
	}
	want := planesN * 4.0 / 35
	if math.Abs(float64(restored)-want) > 5*math.Sqrt(want) {
		t.Errorf("%d of %d planes restored, want about %.0f", restored, planesN, want)
	}
}

// The kept counts that come with a mask (from the bilinear form over the
// row and column tables) equal the mask's own sums, restored planes
// included.
func TestMaskKeptCounts(t *testing.T) {
	seed(t, 12)
	for _, p := range []Pattern{
		{Size: 3, Stride: 2, Repeat: 3},
		{Size: 2, Stride: 1, Repeat: 64, Rotate: 30, ShearX: 0.7},
		{Height: 3, Width: 5, Stride: 1, Repeat: 2, ShearY: 0.2},
		{Height: 3, Width: 5, Stride: 1, Repeat: 2, ShareC: true},
		{Size: 9, Stride: 1, Repeat: 1, Rotate: 10},
	} {
		const n, c, h, w = 5, 6, 7, 5
		keep, kept, err := p.draw(n, c, h, w, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		_, kv := read(t, kept)
		_, mv := read(t, keep)
		pl := planes(mv, h*w)
		if len(kv) != len(pl) {
			t.Fatalf("%v: %d counts for %d planes", p, len(kv), len(pl))
		}
		for i := range pl {
			if got, want := kv[i], mean(pl[i])*h*w; math.Abs(got-want) > 1e-6 {
				t.Fatalf("%v: plane %d: count %v, mask keeps %v", p, i, got, want)
			}
		}
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
