package data

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures under testdata/randaugment are torchvision 0.14's outputs,
// written by scripts/randaugment_fixtures.py (see its doc for the inputs).
type raFixtures struct {
	Images []struct {
		Name    string
		C, H, W int
		Offset  int
	}
	Cases []struct {
		Image     string
		Op        string
		Bin       int
		Negate    bool
		Fill      []uint8
		Magnitude float64
		Offset    int
	}
	pixels []byte
}

type raTable struct {
	Bins      int
	Ops       map[string][]float64
	Translate []struct {
		H, W int
		X, Y []float64
	}
}

func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

func loadRAFixtures(t *testing.T) *raFixtures {
	t.Helper()
	dir := filepath.Join("testdata", "randaugment")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx raFixtures
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	fx.pixels = readGzip(t, filepath.Join(dir, "pixels.bin.gz"))
	return &fx
}

func (fx *raFixtures) image(t *testing.T, name string) Image8 {
	t.Helper()
	for _, im := range fx.Images {
		if im.Name == name {
			n := im.C * im.H * im.W
			return Image8{C: im.C, H: im.H, W: im.W, Pix: fx.pixels[im.Offset : im.Offset+n]}
		}
	}
	t.Fatalf("fixture image %q missing", name)
	return Image8{}
}

func raOpByName(t *testing.T, name string) RandAugmentOp {
	t.Helper()
	for _, op := range RandAugmentOps() {
		if op.String() == name {
			return op
		}
	}
	t.Fatalf("unknown op %q", name)
	return 0
}

// TestRandAugmentOpsMatchTorchvision applies each op at the fixtures'
// magnitude bins (9, 20 and 30 of 31, both signs where signed; 0 for
// Posterize and Solarize; fills for three geometric cases) to two
// Fashion-MNIST images and a colour photo and compares every pixel with
// torchvision's output.
func TestRandAugmentOpsMatchTorchvision(t *testing.T) {
	fx := loadRAFixtures(t)
	seen := map[RandAugmentOp]bool{}
	for _, tc := range fx.Cases {
		img := fx.image(t, tc.Image)
		op := raOpByName(t, tc.Op)
		seen[op] = true
		m := float64(raMagnitude(op, 31, tc.Bin, img.H, img.W))
		if tc.Negate {
			m = -m
		}
		name := fmt.Sprintf("%s/%s/bin%d/neg=%v/fill=%v", tc.Image, tc.Op, tc.Bin, tc.Negate, tc.Fill)
		if m != tc.Magnitude {
			t.Errorf("%s: magnitude %v, torchvision's %v", name, m, tc.Magnitude)
			continue
		}
		got, err := ApplyRandAugmentOp(img, op, m, tc.Fill)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := fx.pixels[tc.Offset : tc.Offset+len(img.Pix)]
		if bad := diffPixels(got, want); bad != "" {
			t.Errorf("%s: %s", name, bad)
		}
		if bytes.Equal(got.Pix, img.Pix) != bytes.Equal(want, img.Pix) {
			t.Errorf("%s: changed the image: %v, torchvision: %v", name, !bytes.Equal(got.Pix, img.Pix), !bytes.Equal(want, img.Pix))
		}
	}
	if len(seen) != int(numRandAugmentOps) {
		t.Errorf("fixtures cover %d of %d ops", len(seen), numRandAugmentOps)
	}
}

// diffPixels describes where got differs from want ("" when equal).
func diffPixels(got Image8, want []byte) string {
	n, first := 0, -1
	for i := range want {
		if got.Pix[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n == 0 {
		return ""
	}
	hw := got.H * got.W
	return fmt.Sprintf("%d of %d pixels differ; first at c%d y%d x%d: %d, want %d",
		n, len(want), first/hw, first%hw/got.W, first%got.W, got.Pix[first], want[first])
}

// TestRandAugmentMagnitudesMatchTorchvision compares Magnitudes with
// torchvision's _augmentation_space, bit for bit, for 12 bin counts and
// 6 image sizes.
func TestRandAugmentMagnitudesMatchTorchvision(t *testing.T) {
	var tables []raTable
	b := readGzip(t, filepath.Join("testdata", "randaugment", "tables.json.gz"))
	if err := json.Unmarshal(b, &tables); err != nil {
		t.Fatalf("tables.json.gz: %v", err)
	}
	if len(tables) < 10 {
		t.Fatalf("%d tables", len(tables))
	}
	for _, tab := range tables {
		ra := RandAugment{Bins: tab.Bins}
		for name, want := range tab.Ops {
			op := raOpByName(t, name)
			compareMagnitudes(t, fmt.Sprintf("%d bins %s", tab.Bins, name), ra.Magnitudes(op, 1, 1), want)
		}
		for _, tr := range tab.Translate {
			compareMagnitudes(t, fmt.Sprintf("%d bins TranslateX %dx%d", tab.Bins, tr.H, tr.W), ra.Magnitudes(RATranslateX, tr.H, tr.W), tr.X)
			compareMagnitudes(t, fmt.Sprintf("%d bins TranslateY %dx%d", tab.Bins, tr.H, tr.W), ra.Magnitudes(RATranslateY, tr.H, tr.W), tr.Y)
		}
	}
}

func compareMagnitudes(t *testing.T, name string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d magnitudes, want %d", name, len(got), len(want))
		return
	}
	for i := range got {
		if float64(got[i]) != want[i] {
			t.Errorf("%s: bin %d is %v (%#x), torchvision's %v (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(float32(want[i])))
		}
	}
}

// Ops are drawn uniformly from the 14 and signed ops are negated half the
// time: a chi-square test of the op counts (13 degrees of freedom, 0.1%
// critical value 34.5) and a binomial test of each signed op's negations
// over 140,000 draws.
func TestRandAugmentDrawFrequencies(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ra := RandAugment{Ops: 1}
	const draws = 140000
	var count, neg [numRandAugmentOps]int
	for i := 0; i < draws; i++ {
		s := ra.Draw(32, 32, rng)
		if len(s) != 1 {
			t.Fatalf("Draw gave %d ops, want 1", len(s))
		}
		count[s[0].Op]++
		if s[0].Magnitude < 0 {
			neg[s[0].Op]++
		}
	}
	chi2, want := 0.0, float64(draws)/float64(numRandAugmentOps)
	for _, n := range count {
		chi2 += (float64(n) - want) * (float64(n) - want) / want
	}
	if chi2 > 34.5 {
		t.Errorf("op counts %v: chi-square %.1f > 34.5", count, chi2)
	}
	for op, n := range count {
		o := RandAugmentOp(op)
		switch {
		case !o.Signed() && neg[op] != 0:
			t.Errorf("%v: %d negative magnitudes, want none", o, neg[op])
		case o.Signed():
			if z := (float64(neg[op]) - float64(n)/2) / math.Sqrt(float64(n)/4); math.Abs(z) > 4 {
				t.Errorf("%v: %d of %d negated (z = %.1f)", o, neg[op], n, z)
			}
		}
	}
}

// Draw consumes the generator as torchvision consumes torch's: the op's
// index, then the sign for signed ops only; every magnitude is the
// configured bin's.
func TestRandAugmentDrawOrder(t *testing.T) {
	for _, ra := range []RandAugment{{}, {Ops: 3, Magnitude: 30}, {Ops: 1, Magnitude: 4, Bins: 5}} {
		d := ra.withDefaults()
		got := ra.Draw(26, 40, rand.New(rand.NewSource(3)))
		rng := rand.New(rand.NewSource(3))
		if len(got) != d.Ops {
			t.Fatalf("%v: %d steps", ra, len(got))
		}
		for i, s := range got {
			op := RandAugmentOp(rng.Intn(14))
			m := 0.0
			if tab := ra.Magnitudes(op, 26, 40); tab != nil {
				m = float64(tab[d.Magnitude])
			}
			if op.Signed() && rng.Intn(2) == 1 {
				m = -m
			}
			if s.Op != op || s.Magnitude != m {
				t.Errorf("%v: step %d is %v %v, want %v %v", ra, i, s.Op, s.Magnitude, op, m)
			}
		}
	}
}

// Apply is the drawn ops in sequence, deterministic for a seed, on
// grayscale and colour images alike, and leaves the generator where Draw
// leaves it.
func TestRandAugmentApply(t *testing.T) {
	fx := loadRAFixtures(t)
	for _, name := range []string{"fmnist0", "photo"} {
		src := fx.image(t, name)
		for _, ra := range []RandAugment{{}, {Ops: 4, Magnitude: 20, Fill: []uint8{90}}} {
			img := Image8{C: src.C, H: src.H, W: src.W, Pix: append([]uint8(nil), src.Pix...)}
			rng := rand.New(rand.NewSource(11))
			if err := ra.Apply(img, rng); err != nil {
				t.Fatal(err)
			}
			after := rng.Int63()
			ref := rand.New(rand.NewSource(11))
			want := src
			for _, s := range ra.Draw(src.H, src.W, ref) {
				var err error
				if want, err = ApplyRandAugmentOp(want, s.Op, s.Magnitude, ra.Fill); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(img.Pix, want.Pix) {
				t.Errorf("%s %v: Apply differs from its drawn ops applied in turn", name, ra)
			}
			if ref.Int63() != after {
				t.Errorf("%s %v: Apply and Draw leave the generator in different states", name, ra)
			}
		}
		// Different seeds give different images (at magnitude 9, 2 ops,
		// nearly surely over 10 tries).
		outs := map[string]bool{}
		for seed := int64(0); seed < 10; seed++ {
			img := Image8{C: src.C, H: src.H, W: src.W, Pix: append([]uint8(nil), src.Pix...)}
			if err := (RandAugment{}).Apply(img, rand.New(rand.NewSource(seed))); err != nil {
				t.Fatal(err)
			}
			outs[string(img.Pix)] = true
		}
		if len(outs) < 5 {
			t.Errorf("%s: 10 seeds gave %d distinct images", name, len(outs))
		}
	}
}

// Settings and images RandAugment cannot use are errors naming the value.
func TestRandAugmentRejects(t *testing.T) {
	gray := Image8{C: 1, H: 4, W: 4, Pix: make([]uint8, 16)}
	for _, tc := range []struct {
		ra   RandAugment
		img  Image8
		want string
	}{
		{RandAugment{Ops: -1}, gray, "-1 ops"},
		{RandAugment{Bins: 1}, gray, "1 magnitude bins"},
		{RandAugment{Magnitude: 31}, gray, "magnitude 31"},
		{RandAugment{Magnitude: 5, Bins: 5}, gray, "magnitude 5"},
		{RandAugment{Fill: []uint8{1, 2}}, gray, "2 fill values"},
		{RandAugment{}, Image8{C: 2, H: 4, W: 4, Pix: make([]uint8, 32)}, "2 channels"},
		{RandAugment{}, Image8{C: 1, H: 4, W: 4, Pix: make([]uint8, 15)}, "15 pixels"},
	} {
		err := tc.ra.Apply(tc.img, rand.New(rand.NewSource(1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v on %d×%d×%d: error %v, want one naming %q", tc.ra, tc.img.C, tc.img.H, tc.img.W, err, tc.want)
		}
	}
	if _, err := ApplyRandAugmentOp(gray, RandAugmentOp(14), 0, nil); err == nil {
		t.Error("op 14 accepted")
	}
}

// Tiny images (1×1 up to 3×2) go through every op without a panic and
// keep their size; sharpness leaves images of two rows or columns as they
// are, as torchvision does.
func TestRandAugmentTinyImages(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 1, 1}, {1, 2, 2}, {3, 3, 2}, {1, 2, 5}} {
		img := Image8{C: sz[0], H: sz[1], W: sz[2], Pix: make([]uint8, sz[0]*sz[1]*sz[2])}
		for i := range img.Pix {
			img.Pix[i] = uint8(i*53 + 7)
		}
		for _, op := range RandAugmentOps() {
			tab := RandAugment{}.Magnitudes(op, img.H, img.W)
			m := 0.0
			if tab != nil {
				m = -float64(tab[30])
				if !op.Signed() {
					m = float64(tab[30])
				}
			}
			out, err := ApplyRandAugmentOp(img, op, m, nil)
			if err != nil || len(out.Pix) != len(img.Pix) {
				t.Fatalf("%v on %v: %v, %d pixels", op, sz, err, len(out.Pix))
			}
			if op == RASharpness && (img.H <= 2 || img.W <= 2) && !bytes.Equal(out.Pix, img.Pix) {
				t.Errorf("sharpness changed a %v image", sz)
			}
		}
	}
}

// BenchmarkRandAugment times Apply with the defaults (2 ops at magnitude
// 9) on one image of each size, every op equally often.
func BenchmarkRandAugment(b *testing.B) {
	for _, sz := range [][3]int{{1, 28, 28}, {3, 32, 32}, {3, 224, 224}} {
		img := Image8{C: sz[0], H: sz[1], W: sz[2], Pix: make([]uint8, sz[0]*sz[1]*sz[2])}
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 31 % 251)
		}
		b.Run(fmt.Sprintf("%dx%dx%d", sz[0], sz[1], sz[2]), func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < b.N; i++ {
				if err := (RandAugment{}).Apply(img, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
