package autodropout

import (
	"fmt"
	"math"
	"testing"
)

// Pattern dropout is an unbiased dropout: over many draws every cell of the
// map is kept with the same probability, the pattern's kept fraction q, no
// cell is dropped in every draw (unless the pattern would drop the whole
// map, which is then kept whole), and after rescaling every unit's
// expected activation is 1. The table covers the cases that a placement
// kept inside the map got wrong (always-dropped cores, inflated borders),
// H ≠ W, rectangles, turned and sheared pictures and share_c, on maps from
// 8×8 to 32×32.
//
// Each cell's keep count over N independent planes is Binomial(N, q); the
// test allows 5 standard deviations per cell, so a correct implementation
// fails with probability below 10⁻³ over all cells of all cases.
func TestMaskIsUnbiased(t *testing.T) {
	const draws = 4096 // planes per case
	tests := []struct {
		p    Pattern
		h, w int64
	}{
		{Pattern{Size: 7, Stride: 1, Repeat: 1}, 8, 8},
		{Pattern{Size: 3, Stride: 1, Repeat: 2}, 8, 8},
		{Pattern{Size: 5, Stride: 1, Repeat: 3, ShearX: 0.5}, 32, 32},
		{Pattern{Size: 2, Stride: 2, Repeat: 4}, 16, 16},
		{Pattern{Size: 3, Stride: 2, Repeat: 3}, 12, 20},
		{Pattern{Height: 2, Width: 5, Stride: 1, Repeat: 2, Rotate: 30}, 16, 24},
		{Pattern{Size: 2, Stride: 2, Repeat: 16, Rotate: 45, ShearY: 0.3}, 32, 32},
		{Pattern{Size: 4, Stride: 3, Repeat: 2, Rotate: 75, ShareC: true}, 8, 8},
		{Pattern{Size: 1, Stride: 1, Repeat: 64, Rotate: 15, ShearX: 1, ShearY: 0.2}, 9, 13},
	}
	seed(t, 31)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v on %d×%d", tt.p, tt.h, tt.w), func(t *testing.T) {
			q, err := tt.p.KeptFraction(tt.h, tt.w)
			if err != nil {
				t.Fatal(err)
			}
			if q <= 0 || q >= 1 {
				t.Fatalf("kept fraction %v: the case should drop some cells and keep some", q)
			}
			n, c := int64(64), int64(draws/64)
			if tt.p.ShareC {
				n, c = draws, 2
			}
			cells := tt.h * tt.w
			d, err := NewPatternDropout(tt.p, ScopeDefault)
			if err != nil {
				t.Fatal(err)
			}
			x := ones(t, n, c, tt.h, tt.w)
			_, y := read(t, d.ForwardT(x, true))
			x.MustDrop()
			pl := planes(y, cells)
			if tt.p.ShareC { // one mask per sample: take channel 0
				var first [][]float64
				for i := 0; i < len(pl); i += int(c) {
					first = append(first, pl[i])
				}
				pl = first
			}
			if len(pl) != draws {
				t.Fatalf("%d planes, want %d", len(pl), draws)
			}
			scale := 1 / q
			kept := make([]float64, cells)
			sum := make([]float64, cells)
			for i, p := range pl {
				if m := mean(p); math.Abs(m-1) > 1e-5 {
					t.Fatalf("plane %d averages %v, want exactly 1", i, m)
				}
				for j, v := range p {
					sum[j] += v
					switch {
					case v == 0:
					case math.Abs(v-scale) <= 1e-5*scale:
						kept[j]++
					default:
						t.Fatalf("plane %d cell %d is %v, want 0 or 1/q = %v", i, j, v, scale)
					}
				}
			}
			sdKeep := math.Sqrt(q * (1 - q) / draws)
			sdMean := math.Sqrt((1 - q) / q / draws)
			lo, hi := 1.0, 0.0
			for j := range kept {
				f := kept[j] / draws
				lo, hi = min(lo, f), max(hi, f)
				if kept[j] == 0 {
					t.Errorf("cell (%d,%d) dropped in all %d draws", j/int(tt.w), j%int(tt.w), draws)
				}
				if math.Abs(f-q) > 5*sdKeep {
					t.Errorf("cell (%d,%d) kept in %.4f of draws, want q = %.4f ± %.4f", j/int(tt.w), j%int(tt.w), f, q, 5*sdKeep)
				}
				if e := sum[j] / draws; math.Abs(e-1) > 5*sdMean {
					t.Errorf("cell (%d,%d): mean activation after rescaling %.4f, want 1 ± %.4f", j/int(tt.w), j%int(tt.w), e, 5*sdMean)
				}
			}
			t.Logf("q = %.4f; per-cell keep frequency %.4f to %.4f", q, lo, hi)
			// Each plane is the base mask shifted cyclically.
			base := baseMask(t, tt.p, tt.h, tt.w)
			for i := 0; i < 32; i++ {
				if !isShift(pl[i], base, int(tt.h), int(tt.w)) {
					t.Fatalf("plane %d is not a cyclic shift of the base mask", i)
				}
			}
		})
	}
}

// isShift reports whether plane (nonzero = kept) is base (1 = kept)
// shifted cyclically.
func isShift(plane, base []float64, h, w int) bool {
	for dy := 0; dy < h; dy++ {
	next:
		for dx := 0; dx < w; dx++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if (plane[y*w+x] != 0) != (base[((y+dy)%h)*w+(x+dx)%w] != 0) {
						continue next
					}
				}
			}
			return true
		}
	}
	return false
}

// A pattern that drops the whole map is kept whole, so its expectation is
// trivially 1 and its kept fraction is 1.
func TestKeptFractionOfACoveringPattern(t *testing.T) {
	for _, p := range []Pattern{{Size: 9, Stride: 1, Repeat: 1}, {Size: 2, Stride: 0, Repeat: 8, Rotate: 30}} {
		if q, err := p.KeptFraction(8, 8); err != nil || q != 1 {
			t.Errorf("%v: KeptFraction = %v, %v; want 1", p, q, err)
		}
	}
	if _, err := (Pattern{Size: 1, Stride: 1, Repeat: 1}).KeptFraction(0, 8); err == nil {
		t.Error("KeptFraction on a 0×8 map: no error")
	}
}

// Survey's statistics follow from the base masks: a space of one pattern
// gives that pattern's dropped fraction in every statistic and one
// distinct mask; a space whose only tile covers the map is all "whole".
func TestSurvey(t *testing.T) {
	one := &SearchSpace{Size: []int{2}, Stride: []int{2}, Repeat: []int{64}, Rotate: []float64{0},
		ShearX: []float64{0}, ShearY: []float64{0}, ShareC: []bool{false, true}, Residual: []bool{false}}
	s, err := one.Survey(16, 16, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mean != 0.25 && math.Abs(s.Mean-0.25) > 1e-12 || s.Median != 0.25 || s.Q10 != 0.25 || s.Q90 != 0.25 || s.Distinct != 1 || s.OverHalf != 0 || s.Whole != 0 {
		t.Errorf("one-pattern space: %+v", s)
	}
	cover := *one
	cover.Size, cover.Stride, cover.Repeat = []int{20}, []int{1}, []int{1}
	if s, err := cover.Survey(8, 8, 10, 1); err != nil || math.Abs(s.Whole-1) > 1e-12 || s.Mean != 0 {
		t.Errorf("covering space: %+v, %v", s, err)
	}
	// The default space on a WRN's 8×8 maps: every statistic in [0, 1] and
	// ordered; many distinct masks.
	s, err = DefaultSearchSpace().Survey(8, 8, 300, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !(0 <= s.Q10 && s.Q10 <= s.Q25 && s.Q25 <= s.Median && s.Median <= s.Q75 && s.Q75 <= s.Q90 && s.Q90 <= 1) || s.Distinct < 50 {
		t.Errorf("default space on 8×8: %+v", s)
	}
}
