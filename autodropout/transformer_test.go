package autodropout

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func ones3(b, t, d int64) *ts.Tensor { return ts.MustOnes([]int64{b, t, d}, gotch.Float, gotch.CPU) }

// Selected counts the tokens of Repeat tiles of Size, Stride unselected
// tokens apart, cut at T.
func TestTransformerPatternSelected(t *testing.T) {
	for _, c := range []struct {
		p    TransformerPattern
		T, n int
	}{
		{TransformerPattern{Size: 2, Stride: 4, Repeat: 3}, 20, 6},  // 0-1, 6-7, 12-13
		{TransformerPattern{Size: 3, Stride: 2, Repeat: 3}, 20, 9},  // 0-2, 5-7, 10-12
		{TransformerPattern{Size: 5, Stride: 1, Repeat: 4}, 20, 17}, // 0-4, 6-10, 12-16, 18-19 (cut at 20)
		{TransformerPattern{Size: 1, Stride: 1, Repeat: 50}, 10, 5},
		{TransformerPattern{Size: 5, Stride: 8, Repeat: 1}, 10, 5},
		{TransformerPattern{Size: 4, Stride: 0, Repeat: 2}, 10, 8},
	} {
		if got := c.p.Selected(c.T); got != c.n {
			t.Errorf("%v.Selected(%d) = %d, want %d", c.p, c.T, got, c.n)
		}
	}
}

// NoiseVariance is the variance of the factor the module draws: checked
// on 4,000 segments of each pattern (a zero pattern's values are the same
// in every segment; a Gaussian one's sample variance has a standard error
// under 1% of it here), and SelectedShare against Selected.
func TestTransformerNoiseVariance(t *testing.T) {
	seed(t, 7)
	const T = 64
	for _, c := range []struct {
		p     TransformerPattern
		share float64
	}{
		{TransformerPattern{Size: 4, Stride: 8, Repeat: 4, Noise: "zero"}, 16.0 / 64},
		{TransformerPattern{Size: 5, Stride: 2, Repeat: 16, Noise: "zero"}, 46.0 / 64},
		{TransformerPattern{Size: 2, Stride: 1, Repeat: 8, Noise: "gaussian", Sigma: 0.5, PerFeature: true}, 16.0 / 64},
		{TransformerPattern{Size: 1, Stride: 1, Repeat: 32, Noise: "gaussian", Sigma: 1}, 32.0 / 64},
	} {
		if got := c.p.SelectedShare(T); math.Abs(got-c.share) > 1e-12 {
			t.Errorf("%v: SelectedShare %v, want %v", c.p, got, c.share)
		}
		f, err := (&TransformerDropout{P: c.p}).Factor(4000, T, 2, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		mean := f.MustMean(gotch.Double, false).Float64Values()[0]
		v := f.MustVar(true, false).Float64Values()[0]
		f.MustDrop()
		want := c.p.NoiseVariance(T)
		if math.Abs(mean-1) > 0.02 || math.Abs(v-want) > 0.05*want {
			t.Errorf("%v: factor mean %.4f variance %.4f, want 1 and %.4f", c.p, mean, v, want)
		}
	}
	if v := (TransformerPattern{Size: 8, Stride: 0, Repeat: 8, Noise: "zero"}).NoiseVariance(T); !math.IsInf(v, 1) {
		t.Errorf("a pattern that drops every token: variance %v, want +Inf", v)
	}
}

// Every size and stride value of the default space matters: at a given
// repeat ≥ 2 whose span fits in the segment, no two (size, stride) pairs
// select the same tokens, and the sizes differ at repeat 1.
func TestTransformerPatternsDistinct(t *testing.T) {
	const T = 70
	sp := DefaultTransformerSpace()
	sel := func(p TransformerPattern) string {
		b := make([]byte, T)
		for r := range b {
			b[r] = '.'
			if p.selects(r) {
				b[r] = 'x'
			}
		}
		return string(b)
	}
	for _, r := range sp.Repeat {
		seen := map[string]TransformerPattern{}
		for _, size := range sp.Size {
			for _, stride := range sp.Stride {
				p := TransformerPattern{Size: size, Stride: stride, Repeat: r}
				if (r-1)*(size+stride)+size > T {
					continue // cut at T: collapses are expected
				}
				if r == 1 {
					p.Stride = 0 // irrelevant for one tile
				}
				k := sel(p)
				if q, dup := seen[k]; dup && q != p {
					t.Errorf("%v and %v select the same tokens", p, q)
				}
				seen[k] = p
			}
		}
	}
}

func TestTransformerDropoutMask(t *testing.T) {
	seed(t, 1)
	for _, pf := range []bool{false, true} {
		p := TransformerPattern{Size: 2, Stride: 5, Repeat: 3, Noise: "zero", PerFeature: pf}
		d, err := NewTransformerDropout(p)
		if err != nil {
			t.Fatal(err)
		}
		const B, T, D = 4, 20, 6
		size, v := read(t, d.ForwardT(ones3(B, T, D), true))
		if size[0] != B || size[1] != T || size[2] != D {
			t.Fatalf("shape %v", size)
		}
		want := p.Selected(T)
		scale := float64(T) / float64(T-want)
		for b := 0; b < B; b++ {
			for f := 0; f < D; f++ {
				zeros := 0
				for tt := 0; tt < T; tt++ {
					x := v[(b*T+tt)*D+f]
					switch {
					case x == 0:
						zeros++
					case math.Abs(x-scale) > 1e-5:
						t.Fatalf("kept value %v, want %v", x, scale)
					}
				}
				if zeros != want {
					t.Fatalf("per_feature=%v: seq %d feature %d drops %d tokens, want %d", pf, b, f, zeros, want)
				}
			}
			if !pf { // whole vectors: a token is dropped in every feature or none
				for tt := 0; tt < T; tt++ {
					for f := 1; f < D; f++ {
						if v[(b*T+tt)*D+f] != v[(b*T+tt)*D] {
							t.Fatal("whole-vector mask differs across features")
						}
					}
				}
			}
		}
		_, e := read(t, d.ForwardT(ones3(B, T, D), false))
		for _, x := range e {
			if x != 1 {
				t.Fatal("not the identity at evaluation")
			}
		}
	}
}

func TestTransformerDropoutGaussian(t *testing.T) {
	seed(t, 2)
	d, err := NewTransformerDropout(TransformerPattern{Size: 1, Stride: 1, Repeat: 1000, Noise: "gaussian", Sigma: 0.5, PerFeature: true})
	if err != nil {
		t.Fatal(err)
	}
	_, v := read(t, d.ForwardT(ones3(8, 100, 50), true))
	if m := mean(v); math.Abs(m-1) > 0.02 {
		t.Errorf("mean %v, want ≈ 1", m)
	}
	ones := 0
	for _, x := range v {
		if x == 1 {
			ones++
		}
	}
	if ones != len(v)/2 {
		t.Errorf("%d untouched values, want %d", ones, len(v)/2)
	}
}

func TestTransformerPatternValidate(t *testing.T) {
	for _, p := range []TransformerPattern{{Size: 0, Stride: 1, Repeat: 1, Noise: "zero"}, {Size: 1, Stride: 1, Repeat: 1, Noise: "x"}, {Size: 1, Stride: -1, Repeat: 1, Noise: "zero"}} {
		if p.Validate() == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if err := DefaultTransformerSpace().Validate(); err != nil {
		t.Error(err)
	}
	if !DefaultTransformerSpace().Contains(TransformerPattern{Size: 2, Stride: 4, Repeat: 8, Noise: "zero"}) {
		t.Error("default space misses a legal pattern")
	}
}

func TestVariationalDropoutConstantAlongTime(t *testing.T) {
	seed(t, 3)
	d, err := NewVariationalDropout(0.5)
	if err != nil {
		t.Fatal(err)
	}
	const B, T, D = 3, 10, 40
	size, v := read(t, d.ForwardT(ones3(B, T, D), true))
	if size[1] != T {
		t.Fatalf("shape %v", size)
	}
	zeros := 0
	for b := 0; b < B; b++ {
		for f := 0; f < D; f++ {
			first := v[b*T*D+f]
			if first != 0 && first != 2 {
				t.Fatalf("value %v, want 0 or 2", first)
			}
			for tt := 1; tt < T; tt++ {
				if v[(b*T+tt)*D+f] != first {
					t.Fatal("mask changes along time")
				}
			}
			if first == 0 {
				zeros++
			}
		}
	}
	if frac := float64(zeros) / (B * D); frac < 0.3 || frac > 0.7 {
		t.Errorf("dropped fraction %v, want ≈ 0.5", frac)
	}
	_, e := read(t, d.ForwardT(ones3(B, T, D), false))
	if mean(e) != 1 {
		t.Error("not the identity at evaluation")
	}
}

func TestTransformerSpaceTokens(t *testing.T) {
	s := DefaultTransformerSpace()
	toks := s.Tokens()
	if len(toks) != 6 || toks[3].Name != "noise" || toks[3].Choices != 2 {
		t.Fatalf("tokens %v", toks)
	}
	for _, tc := range []struct {
		choice []int
		want   TransformerPattern
		err    string
	}{
		{[]int{0, 1, 2, 0, 2, 1}, TransformerPattern{Size: 1, Stride: 2, Repeat: 4, Noise: "zero", PerFeature: true}, ""},
		{[]int{4, 3, 4, 1, 2, 0}, TransformerPattern{Size: 5, Stride: 8, Repeat: 16, Noise: "gaussian", Sigma: 1}, ""},
		{[]int{0, 0, 0, 0, 0}, TransformerPattern{}, "got 5 choices"},
		{[]int{5, 0, 0, 0, 0, 0}, TransformerPattern{}, "size"},
	} {
		got, err := s.Pattern(tc.choice)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.choice, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || !s.Contains(got) {
			t.Errorf("%v: %+v, %v; want %+v", tc.choice, got, err, tc.want)
		}
	}
}

func TestReadTransformerPatterns(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ json, err string }{
		{`[{"sites": "^emb$", "pattern": {"size": 2, "stride": 8, "repeat": 4, "noise": "zero"}}]`, ""},
		{`[{"sites": "(", "pattern": {"size": 2, "stride": 8, "repeat": 4, "noise": "zero"}}]`, "regular expression"},
		{`[{"sites": "", "pattern": {"size": 2, "stride": 8, "repeat": 4, "noise": "zero"}}]`, "regular expression"},
		{`[{"sites": "emb", "pattern": {"size": 2, "stride": 8, "repeat": 4, "noise": "salt"}}]`, "entry 0"},
		{`[{"sites": "emb", "patern": {}}]`, "unknown field"},
		{`{"patterns": []}`, "want a list"},
	} {
		p := filepath.Join(dir, "p.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		ps, err := ReadTransformerPatterns(p)
		if tc.err == "" {
			if err != nil || len(ps) != 1 || ps[0].Pattern.Repeat != 4 {
				t.Errorf("%s: %+v, %v", tc.json, ps, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want one naming %s and %q", tc.json, err, p, tc.err)
		}
	}
}
