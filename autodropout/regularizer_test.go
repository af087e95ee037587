package autodropout

import (
	"errors"
	"github.com/autodropout/autodropout/libtorch"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func mustNew(t testing.TB, name string, o Options) Regularizer {
	t.Helper()
	r, err := New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func allRegularizers(t testing.TB) []Regularizer {
	return []Regularizer{
		mustNew(t, "none", Options{}),
		mustNew(t, "dropout", Options{Rate: 0.3}),
		mustNew(t, "spatial", Options{Rate: 0.3}),
		mustNew(t, "dropblock", Options{Rate: 0.2, BlockSize: 3}),
		mustNew(t, "dropblock", Options{Rate: 0.2, BlockSize: 4, Scope: PerMask}),
		mustNew(t, "pattern", Options{Pattern: Pattern{Size: 2, Stride: 1, Repeat: 4, Rotate: 30}}),
		mustNew(t, "pattern", Options{Pattern: Pattern{Size: 3, Stride: 2, Repeat: 8, ShareC: true}, Scope: PerBatch}),
	}
}

func TestNew(t *testing.T) {
	if got, want := Names(), []string{"dropblock", "dropout", "none", "pattern", "spatial"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	tests := []struct {
		name  string
		o     Options
		field string // in the error; "" means success
	}{
		{"none", Options{}, ""},
		{"dropout", Options{Rate: 0.5}, ""},
		{"dropout", Options{Rate: 1}, "rate"},
		{"dropout", Options{Rate: -0.1}, "rate"},
		{"spatial", Options{Rate: math.NaN()}, "rate"},
		{"dropblock", Options{Rate: 1, BlockSize: 7}, ""},
		{"dropblock", Options{Rate: 0.1}, "block_size"},
		{"dropblock", Options{Rate: 1.5, BlockSize: 3}, "rate"},
		{"pattern", Options{Pattern: Pattern{Size: 1, Stride: 1, Repeat: 1}}, ""},
		{"pattern", Options{Pattern: Pattern{Size: 1, Stride: -1, Repeat: 1}}, "stride"},
		{"pattern", Options{Pattern: Pattern{Size: 1, Stride: 1, Repeat: 1}, Scope: Scope(9)}, "scope"},
		{"cutout", Options{}, "dropblock, dropout, none, pattern, spatial"},
	}
	for _, tt := range tests {
		r, err := New(tt.name, tt.o)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("New(%q, %+v): %v", tt.name, tt.o, err)
		case tt.field == "" && !strings.HasPrefix(r.String(), tt.name):
			t.Errorf("New(%q).String() = %q", tt.name, r)
		case tt.field != "" && (err == nil || !strings.Contains(err.Error(), tt.field)):
			t.Errorf("New(%q, %+v) error = %v, want one naming %q", tt.name, tt.o, err, tt.field)
		}
	}
}

func TestIdentityAtEvaluation(t *testing.T) {
	x := randn(t, 2, 3, 8, 8)
	defer x.MustDrop()
	_, want := read(t, x.MustShallowClone())
	for _, r := range allRegularizers(t) {
		_, got := read(t, r.ForwardT(x, false))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: ForwardT(x, false) differs from x", r)
		}
	}
	// The input must survive dropping the output.
	if _, v := read(t, x.MustShallowClone()); !reflect.DeepEqual(v, want) {
		t.Error("x changed")
	}
}

// Rescaling keeps the expected activation: on an input of ones, the mean
// output is 1 over each mask plane (PerMask), over the batch (PerBatch),
// or in expectation (dropout's 1/(1-p)).
func TestRescaleKeepsMean(t *testing.T) {
	seed(t, 20)
	const n, c, h, w = 8, 16, 16, 16
	tests := []struct {
		r        Regularizer
		perPlane bool
		tol      float64
	}{
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 3, Stride: 2, Repeat: 3}}), true, 1e-5},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 2, Stride: 1, Repeat: 64, Rotate: 45, ShearX: 0.3}}), true, 1e-5},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 3, Stride: 2, Repeat: 3, ShareC: true}}), true, 1e-5},
		{mustNew(t, "pattern", Options{Pattern: Pattern{Size: 5, Stride: 3, Repeat: 2}, Scope: PerBatch}), false, 1e-5},
		{mustNew(t, "dropblock", Options{Rate: 0.2, BlockSize: 3}), false, 1e-5},
		{mustNew(t, "dropblock", Options{Rate: 0.2, BlockSize: 4, Scope: PerMask}), true, 1e-5},
		{mustNew(t, "dropout", Options{Rate: 0.3}), false, 0.01},
		{mustNew(t, "spatial", Options{Rate: 0.3}), false, 0.1},
	}
	for _, tt := range tests {
		x := ones(t, n, c, h, w)
		_, v := read(t, tt.r.ForwardT(x, true))
		x.MustDrop()
		if m := mean(v); math.Abs(m-1) > tt.tol {
			t.Errorf("%v: mean output %.5f, want 1 ± %g", tt.r, m, tt.tol)
		}
		if 1-fractionNonZero(v) < 0.05 {
			t.Errorf("%v: dropped almost nothing", tt.r)
		}
		if tt.perPlane {
			for i, pl := range planes(v, h*w) {
				if m := mean(pl); math.Abs(m-1) > tt.tol {
					t.Fatalf("%v: plane %d has mean %.5f, want 1", tt.r, i, m)
				}
			}
		}
	}
}

func fractionNonZero(v []float64) float64 {
	k := 0
	for _, x := range v {
		if x != 0 {
			k++
		}
	}
	return float64(k) / float64(len(v))
}

func TestDropoutRates(t *testing.T) {
	seed(t, 21)
	d := mustNew(t, "dropout", Options{Rate: 0.3})
	x := ones(t, 4, 8, 32, 32)
	_, v := read(t, d.ForwardT(x, true))
	x.MustDrop()
	if got := 1 - fractionNonZero(v); math.Abs(got-0.3) > 0.01 {
		t.Errorf("dropout drops %.4f, want 0.3", got)
	}
	for _, y := range v {
		if y != 0 && math.Abs(y-1/0.7) > 1e-6 {
			t.Fatalf("kept value %v, want 1/0.7", y)
		}
	}
	// Dropout takes any rank.
	x2 := ones(t, 7, 5)
	if shape, _ := read(t, d.ForwardT(x2, true)); !sameShape(shape, []int64{7, 5}) {
		t.Errorf("dropout on 7×5: shape %v", shape)
	}
	x2.MustDrop()

	s := mustNew(t, "spatial", Options{Rate: 0.25})
	x = ones(t, 40, 50, 3, 3)
	_, v = read(t, s.ForwardT(x, true))
	x.MustDrop()
	droppedPlanes := 0
	for i, pl := range planes(v, 9) {
		nz := fractionNonZero(pl)
		if nz != 0 && nz != 1 {
			t.Fatalf("spatial dropout: plane %d partly dropped", i)
		}
		if nz == 0 {
			droppedPlanes++
		}
	}
	if got := float64(droppedPlanes) / 2000; math.Abs(got-0.25) > 0.04 {
		t.Errorf("spatial dropout drops %.3f of the channels, want 0.25", got)
	}
}

// dropBlockExpected is the exact expected dropped fraction of a DropBlock
// mask: cell (y, x) is covered by ky·kx seed positions, each a seed with
// probability γ.
func dropBlockExpected(d *DropBlock, h, w int) float64 {
	bh, bw := min(d.BlockSize, h), min(d.BlockSize, w)
	g := d.Gamma(int64(h), int64(w))
	cover := func(i, size, b int) int { return min(i+1, b, size-i, size-b+1) }
	s := 0.0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s += 1 - math.Pow(1-g, float64(cover(y, h, bh)*cover(x, w, bw)))
		}
	}
	return s / float64(h*w)
}

func TestDropBlockRate(t *testing.T) {
	seed(t, 22)
	tests := []struct {
		p    float64
		bs   int
		h, w int
		near bool // a large map and a small rate: the rate is near p
	}{
		{0.1, 5, 64, 64, true},
		{0.1, 4, 48, 80, true},  // even block, H≠W
		{0.1, 1, 32, 32, true},  // block 1 is dropout
		{0.3, 7, 40, 40, false}, // big overlapping blocks: about 0.25
	}
	for _, tt := range tests {
		d := &DropBlock{P: tt.p, BlockSize: tt.bs}
		m, err := d.Mask(8, 16, int64(tt.h), int64(tt.w), gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		_, v := read(t, m)
		got := 1 - mean(v)
		if want := dropBlockExpected(d, tt.h, tt.w); math.Abs(got-want) > 0.01 {
			t.Errorf("%v on %d×%d: drops %.4f, want %.4f (exact expectation)", d, tt.h, tt.w, got, want)
		}
		// On large maps the paper's γ makes the rate close to the target
		// (a little below: blocks overlap).
		if tt.near && math.Abs(got-tt.p) > 0.1*tt.p {
			t.Errorf("%v on %d×%d: drops %.4f, want near %g", d, tt.h, tt.w, got, tt.p)
		}
	}
}

// Every dropped cell lies in a whole dropped block inside the map, for odd
// and even block sizes and H ≠ W; the mask matches a direct computation
// from the same seeds (torchvision's drop_block2d for odd sizes), and
// every seed lies in the valid region.
func TestDropBlockStructure(t *testing.T) {
	tests := []struct {
		bs   int
		h, w int
	}{{3, 12, 12}, {4, 10, 14}, {2, 9, 5}, {5, 5, 9}}
	for _, tt := range tests {
		d := &DropBlock{P: 0.3, BlockSize: tt.bs}
		const n, c = 2, 3
		seed(t, 23)
		m, err := d.Mask(n, c, int64(tt.h), int64(tt.w), gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		_, got := read(t, m)
		// The same seeds, then the blocks by hand.
		seed(t, 23)
		at := drawSeeds(t, d, n, c, tt.h, tt.w)
		bh, bw := min(tt.bs, tt.h), min(tt.bs, tt.w)
		want := make([]float64, n*c*tt.h*tt.w)
		for i := range want {
			want[i] = 1
		}
		for _, a := range at {
			k, i, j := a/(tt.h*tt.w), a%(tt.h*tt.w)/tt.w, a%tt.w
			if k >= n*c || i > tt.h-bh || j > tt.w-bw {
				t.Fatalf("block %d on %d×%d: seed at plane %d row %d column %d, outside the valid region", tt.bs, tt.h, tt.w, k, i, j)
			}
			for y := i; y < i+bh; y++ {
				for x := j; x < j+bw; x++ {
					want[(k*tt.h+y)*tt.w+x] = 0
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("block %d on %d×%d: mask differs from the blocks drawn by hand", tt.bs, tt.h, tt.w)
		}
		if 1-mean(got) == 0 {
			t.Errorf("block %d on %d×%d: nothing dropped; the test checks nothing", tt.bs, tt.h, tt.w)
		}
	}
}

// drawSeeds returns the flat seed indices DropBlock draws for an
// n×c×h×w map.
func drawSeeds(t testing.TB, d *DropBlock, n, c, h, w int) []int {
	t.Helper()
	var s scope
	at, err := s.result(d.seeds(&s, int64(n), int64(c), int64(h), int64(w), gotch.CPU))
	if err != nil {
		t.Fatal(err)
	}
	_, v := read(t, at)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// DropBlock's seeds are independent Bernoulli(γ) draws at the valid
// positions: the fraction of positions holding a seed is γ, the number of
// seeds per plane has the binomial variance, and the draws that land on
// a position already drawn are as many as Poissonization predicts.
func TestDropBlockSeedsAreBernoulli(t *testing.T) {
	seed(t, 25)
	for _, tc := range []struct {
		p        float64
		bs, n, c int
		h, w     int
	}{{0.5, 3, 16, 32, 20, 20}, {0.2, 5, 8, 64, 17, 23}, {0.9, 2, 8, 64, 9, 9}} {
		d := &DropBlock{P: tc.p, BlockSize: tc.bs}
		g := d.Gamma(int64(tc.h), int64(tc.w))
		sh, sw := tc.h-min(tc.bs, tc.h)+1, tc.w-min(tc.bs, tc.w)+1
		positions := tc.n * tc.c * sh * sw
		at := drawSeeds(t, d, tc.n, tc.c, tc.h, tc.w)
		perPlane := make([]float64, tc.n*tc.c)
		distinct := map[int]bool{}
		for _, a := range at {
			if !distinct[a] {
				perPlane[a/(tc.h*tc.w)]++
			}
			distinct[a] = true
		}
		frac := float64(len(distinct)) / float64(positions)
		if sd := math.Sqrt(g * (1 - g) / float64(positions)); math.Abs(frac-g) > 4*sd {
			t.Errorf("%v on %d×%d: %.5f of the positions seeded, want γ = %.5f (±%.5f)", d, tc.h, tc.w, frac, g, 4*sd)
		}
		// Per-plane counts: the binomial(sh·sw, γ) mean within 4 standard
		// errors and its variance within 25% (about 4 standard errors of a
		// variance over 512 planes).
		mu, vr := meanVar(perPlane)
		want := float64(sh*sw) * g * (1 - g)
		if math.Abs(vr-want) > 0.25*want || math.Abs(mu-float64(sh*sw)*g) > 4*math.Sqrt(want/float64(len(perPlane))) {
			t.Errorf("%v: seeds per plane mean %.2f variance %.2f, want %.2f and %.2f", d, mu, vr, float64(sh*sw)*g, want)
		}
		gp := -math.Log1p(-g)
		repeats := float64(len(at) - len(distinct))
		if want := float64(positions) * (gp - g); math.Abs(repeats-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("%v: %v repeated draws, want about %.1f", d, repeats, want)
		}
	}
}

func meanVar(v []float64) (mu, vr float64) {
	for _, x := range v {
		mu += x
	}
	mu /= float64(len(v))
	for _, x := range v {
		vr += (x - mu) * (x - mu)
	}
	return mu, vr / float64(len(v)-1)
}

// A block as large as the map (or larger) drops whole channels with
// probability p.
func TestDropBlockAsLargeAsTheMap(t *testing.T) {
	seed(t, 24)
	d := &DropBlock{P: 0.5, BlockSize: 9}
	if g := d.Gamma(5, 7); g != 0.5 {
		t.Errorf("γ = %v, want p = 0.5", g)
	}
	m, err := d.Mask(16, 32, 5, 7, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	_, v := read(t, m)
	dropped := 0
	for i, pl := range planes(v, 35) {
		switch mean(pl) {
		case 0:
			dropped++
		case 1:
		default:
			t.Fatalf("plane %d partly dropped", i)
		}
	}
	if got := float64(dropped) / 512; math.Abs(got-0.5) > 0.1 {
		t.Errorf("%.3f of the channels dropped, want 0.5", got)
	}
}

// p = 1 drops everything: the output is zero, not NaN.
func TestDropBlockAllDropped(t *testing.T) {
	for _, sc := range []Scope{PerBatch, PerMask} {
		d := &DropBlock{P: 1, BlockSize: 8, Scope: sc}
		x := randn(t, 2, 3, 6, 6)
		_, v := read(t, d.ForwardT(x, true))
		x.MustDrop()
		for _, y := range v {
			if y != 0 {
				t.Fatalf("scope %v: output %v, want 0", sc, y)
			}
		}
	}
}

func TestForwardKeepsDTypeAndGrad(t *testing.T) {
	release, err := libtorch.TrainThread() // backward below needs grad mode on this thread
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	x := randn(t, 2, 3, 8, 8)
	xd := x.MustTotype(gotch.Double, true)
	defer xd.MustDrop()
	for _, r := range allRegularizers(t) {
		y := r.ForwardT(xd, true)
		if y.DType() != gotch.Double {
			t.Errorf("%v: output dtype %v, want Double", r, y.DType())
		}
		y.MustDrop()
	}
	w := randn(t, 2, 3, 8, 8)
	defer w.MustDrop()
	w.MustRequiresGrad_(true)
	d := mustNew(t, "pattern", Options{Pattern: Pattern{Size: 2, Stride: 2, Repeat: 8}})
	y := d.ForwardT(w, true)
	s := y.MustSum(gotch.Float, true)
	s.MustBackward()
	s.MustDrop()
	g := w.MustGrad(false)
	_, gv := read(t, g)
	if m := mean(gv); math.Abs(m-1) > 1e-5 {
		t.Errorf("mean gradient %v, want 1 (the rescaled mask)", m)
	}
}

func TestForwardPanicsOnWrongRank(t *testing.T) {
	for _, r := range []Regularizer{mustNew(t, "dropblock", Options{Rate: 0.1, BlockSize: 3}), mustNew(t, "pattern", Options{Pattern: Pattern{Size: 1, Stride: 1, Repeat: 1}})} {
		func() {
			defer func() {
				v := recover()
				err, ok := v.(error)
				if !ok || !strings.Contains(err.Error(), "N×C×H×W") {
					t.Errorf("%v on a 2-D input: panic %v, want an error asking for N×C×H×W", r, v)
				}
			}()
			x := ones(t, 4, 5)
			defer x.MustDrop()
			r.ForwardT(x, true).MustDrop()
		}()
	}
}

// ForwardT drops its intermediates: many calls leave no tensor behind.
func TestForwardLeavesNoTensors(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no finalizer frees behind our back
	x := randn(t, 2, 4, 12, 12)
	defer x.MustDrop()
	regs := allRegularizers(t)
	for _, r := range regs { // warm the geometry cache
		r.ForwardT(x, true).MustDrop()
	}
	before := liveTensors()
	if before < 0 {
		t.Skip("gotch's tensor registry is not readable")
	}
	for i := 0; i < 10; i++ {
		for _, r := range regs {
			r.ForwardT(x, true).MustDrop()
			r.ForwardT(x, false).MustDrop()
		}
	}
	if after := liveTensors(); after != before {
		t.Errorf("%d live tensors after 140 forward calls, %d before", after, before)
	}
}

func TestScopeJSON(t *testing.T) {
	for _, s := range []Scope{ScopeDefault, PerMask, PerBatch} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Scope
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	var s Scope
	if err := s.UnmarshalText([]byte("sample")); err == nil {
		t.Error(`"sample" accepted as a scope`)
	}
	var fe *FieldError
	if _, err := NewDropBlock(0.1, 0, ScopeDefault); !errors.As(err, &fe) || fe.Field != "block_size" {
		t.Errorf("block size 0: error %v, want a FieldError on block_size", err)
	}
}

func BenchmarkForward(b *testing.B) {
	x := randn(b, 32, 32, 32, 32)
	defer x.MustDrop()
	for _, r := range allRegularizers(b) {
		b.Run(r.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r.ForwardT(x, true).MustDrop()
			}
		})
	}
}

// A PatternDropout built without its constructor is checked on first use:
// it panics with an error naming the bad field instead of running.
func TestZeroPatternDropoutPanics(t *testing.T) {
	for _, d := range []*PatternDropout{{}, {Pattern: Pattern{Size: 1, Stride: -1, Repeat: 1}}, {Pattern: Pattern{Size: 1, Repeat: 1}, Scope: Scope(9)}} {
		func() {
			defer func() {
				r := recover()
				err, ok := r.(error)
				if !ok || !strings.Contains(err.Error(), "field") && !strings.Contains(err.Error(), "scope") {
					t.Errorf("%+v: panic %v, want an error naming the field", d, r)
				}
			}()
			x := ones(t, 1, 1, 4, 4)
			defer x.MustDrop()
			d.ForwardT(x, true)
		}()
	}
}

// DropBlock's mask equals the max-pooled seeds it is defined by (Ghiasi et
// al.; torchvision's drop_block2d): the same seeds, as a {0,1} map of the
// valid region, padded by block−1 and max-pooled with the block as kernel.
func TestDropBlockMatchesMaxPool(t *testing.T) {
	for _, tc := range []struct {
		n, c, h, w int
		block      int
	}{{2, 3, 8, 8, 3}, {2, 2, 9, 7, 5}, {1, 4, 6, 6, 1}, {3, 2, 5, 5, 7}, {2, 2, 12, 10, 4}} {
		d, err := NewDropBlock(0.3, tc.block, ScopeDefault)
		if err != nil {
			t.Fatal(err)
		}
		libtorch.ManualSeed(5)
		got, err := d.Mask(int64(tc.n), int64(tc.c), int64(tc.h), int64(tc.w), gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		libtorch.ManualSeed(5)
		at := drawSeeds(t, d, tc.n, tc.c, tc.h, tc.w)
		bh, bw := min(tc.block, tc.h), min(tc.block, tc.w)
		sh, sw := tc.h-bh+1, tc.w-bw+1
		seeds := make([]float32, tc.n*tc.c*sh*sw)
		for _, a := range at {
			k, i, j := a/(tc.h*tc.w), a%(tc.h*tc.w)/tc.w, a%tc.w
			seeds[(k*sh+i)*sw+j] = 1
		}
		seed := ts.MustOfSlice(seeds).MustView([]int64{int64(tc.n), int64(tc.c), int64(sh), int64(sw)}, true)
		padded := seed.MustConstantPadNd([]int64{int64(bw - 1), int64(bw - 1), int64(bh - 1), int64(bh - 1)}, true)
		want := padded.MustMaxPool2d([]int64{int64(bh), int64(bw)}, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, false, true).MustRsubScalar(ts.FloatScalar(1), true)
		if !got.MustEqual(want, false) {
			t.Errorf("%d×%d×%d×%d block %d: mask differs from the max-pooled seeds", tc.n, tc.c, tc.h, tc.w, tc.block)
		}
		got.MustDrop()
		want.MustDrop()
	}
}
