package data

import (
	"context"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

func tiny(n int) *Images {
	im := &Images{Name: "tiny", N: n, C: 1, H: 4, W: 4, Classes: 10, Mean: []float32{0.5}, Std: []float32{0.25}}
	im.Pixels = make([]uint8, n*16)
	im.Labels = make([]int64, n)
	for i := 0; i < n; i++ {
		im.Labels[i] = int64(i)
		for j := 0; j < 16; j++ {
			im.Pixels[i*16+j] = uint8(i*16 + j)
		}
	}
	return im
}

func labels(l *Loader, epoch int) []int64 {
	var ys []int64
	for b := range l.Epoch(context.Background(), epoch) {
		ys = append(ys, b.Y...)
	}
	return ys
}

func TestLoaderBatches(t *testing.T) {
	for _, tc := range []struct {
		n, bs   int
		drop    bool
		batches int
	}{{10, 4, false, 3}, {10, 4, true, 2}, {8, 4, false, 2}, {3, 8, false, 1}} {
		l, err := NewLoader(tiny(tc.n), LoaderConfig{BatchSize: tc.bs, DropLast: tc.drop})
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Batches(); got != tc.batches {
			t.Errorf("n %d bs %d drop %v: %d batches, want %d", tc.n, tc.bs, tc.drop, got, tc.batches)
		}
		if got := len(labels(l, 0)); got != min(tc.n, tc.batches*tc.bs) {
			t.Errorf("n %d bs %d: streamed %d examples", tc.n, tc.bs, got)
		}
	}
	if _, err := NewLoader(tiny(3), LoaderConfig{}); err == nil {
		t.Error("batch size 0 accepted")
	}
}

func TestLoaderNormalizes(t *testing.T) {
	l, _ := NewLoader(tiny(2), LoaderConfig{BatchSize: 2})
	b := <-l.Epoch(context.Background(), 0)
	// pixel 17 of example 1 sits at index 16+1: (17/255 - 0.5) / 0.25
	if want := (17.0/255 - 0.5) / 0.25; math.Abs(float64(b.X[17])-want) > 1e-6 {
		t.Errorf("normalized pixel = %v, want %v", b.X[17], want)
	}
}

func TestLoaderShuffleIsSeeded(t *testing.T) {
	cfg := LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 5}
	a, _ := NewLoader(tiny(20), cfg)
	b, _ := NewLoader(tiny(20), cfg)
	if !reflect.DeepEqual(labels(a, 0), labels(b, 0)) {
		t.Error("same seed, different order")
	}
	if reflect.DeepEqual(labels(a, 0), labels(a, 1)) {
		t.Error("epochs 0 and 1 have the same order")
	}
}

func TestAugmentFlipAndCrop(t *testing.T) {
	im := tiny(1)
	l, _ := NewLoader(im, LoaderConfig{BatchSize: 1, Augment: Augment{Flip: true, CropPad: 1}})
	zero := float32((0 - 0.5) / 0.25)
	sawFlip := false
	for e := 0; e < 20; e++ {
		b := <-l.Epoch(context.Background(), e)
		if len(b.X) != 16 {
			t.Fatalf("augmented batch has %d values", len(b.X))
		}
		// Every value is an original pixel or a zero pad.
		for _, v := range b.X {
			p := (float64(v)*0.25 + 0.5) * 255
			if v != zero && (p < -0.01 || p > 15.01) {
				t.Fatalf("value %v is neither a pixel nor padding", v)
			}
		}
		// A flipped, uncropped row reads 3,2,1,0.
		if b.X[1] > b.X[2] && b.X[2] > b.X[3] && b.X[3] != zero {
			sawFlip = true
		}
	}
	if !sawFlip {
		t.Error("no flipped image in 20 epochs")
	}
}

func TestSplit(t *testing.T) {
	tr, va, err := Split(100, 0.1, 3)
	if err != nil || len(tr) != 90 || len(va) != 10 {
		t.Fatalf("Split = %d/%d, %v", len(tr), len(va), err)
	}
	tr2, va2, _ := Split(100, 0.1, 3)
	if !reflect.DeepEqual(va, va2) || !reflect.DeepEqual(tr, tr2) {
		t.Error("same seed, different split")
	}
	seen := map[int]bool{}
	for _, i := range append(tr, va...) {
		if seen[i] {
			t.Fatalf("index %d in both parts", i)
		}
		seen[i] = true
	}
	if _, _, err := Split(10, 1, 1); err == nil {
		t.Error("fraction 1 accepted")
	}
}

// With RandAugment on, each image is cropped and flipped, then
// RandAugment-ed from the same seeded generator, then normalized: the
// batch equals that sequence done by hand, and the seed fixes it.
func TestAugmentRandAugment(t *testing.T) {
	im := tiny(3)
	for i := range im.Pixels {
		im.Pixels[i] = uint8(i * 37)
	}
	ra := &RandAugment{Ops: 3, Magnitude: 20}
	cfg := LoaderConfig{BatchSize: 3, Seed: 9, Augment: Augment{Flip: true, CropPad: 1, RandAugment: ra}}
	l, err := NewLoader(im, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := <-l.Epoch(context.Background(), 2)
	rng := rand.New(rand.NewSource(9 + 2))
	changed := false
	for j := 0; j < 3; j++ {
		src := im.Pixels[j*16 : (j+1)*16]
		dy, dx := rng.Intn(3)-1, rng.Intn(3)-1
		flip := rng.Intn(2) == 1
		img := Image8{C: 1, H: 4, W: 4, Pix: make([]uint8, 16)}
		for y := 0; y < 4; y++ {
			for x := 0; x < 4; x++ {
				sx := x + dx
				if flip {
					sx = 3 - x + dx
				}
				if sy := y + dy; sy >= 0 && sy < 4 && sx >= 0 && sx < 4 {
					img.Pix[y*4+x] = src[sy*4+sx]
				}
			}
		}
		cropped := append([]uint8(nil), img.Pix...)
		if err := ra.Apply(img, rng); err != nil {
			t.Fatal(err)
		}
		changed = changed || !reflect.DeepEqual(cropped, img.Pix)
		for k, v := range img.Pix {
			if want := float32(v)*(1/(255*float32(0.25))) + (-0.5 / 0.25); b.X[j*16+k] != want {
				t.Fatalf("image %d pixel %d: %v, want %v", j, k, b.X[j*16+k], want)
			}
		}
	}
	if !changed {
		t.Error("RandAugment changed no image; the test checks nothing")
	}
	again := <-l.Epoch(context.Background(), 2)
	if !reflect.DeepEqual(b.X, again.X) {
		t.Error("the same epoch of the same seed differs")
	}
}

func TestLoaderRejectsRandAugment(t *testing.T) {
	im := tiny(2)
	for _, tc := range []struct {
		mod  func(*Images)
		ra   RandAugment
		want string
	}{
		{func(im *Images) { im.C, im.W, im.Mean, im.Std = 2, 2, []float32{0, 0}, []float32{1, 1} }, RandAugment{}, "2 channels"},
		{func(*Images) {}, RandAugment{Magnitude: 40}, "magnitude 40"},
	} {
		im := *im
		tc.mod(&im)
		_, err := NewLoader(&im, LoaderConfig{BatchSize: 1, Augment: Augment{RandAugment: &tc.ra}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tiny") {
			t.Errorf("%+v: error %v, want one naming the dataset and %q", tc.ra, err, tc.want)
		}
	}
}

// TestLoaderShards: the shards of an epoch are disjoint and together are
// the single loader's epoch, as torch's DistributedSampler splits it;
// even shards pad with the order's first examples to equal lengths.
func TestLoaderShards(t *testing.T) {
	im := &Images{Name: "t", N: 10, C: 1, H: 1, W: 1, Classes: 10, Mean: []float32{0}, Std: []float32{1}}
	im.Pixels = make([]uint8, 10)
	im.Labels = make([]int64, 10)
	for i := range im.Labels {
		im.Labels[i] = int64(i)
	}
	labels := func(cfg LoaderConfig) []int64 {
		l, err := NewLoader(im, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for b := range l.Epoch(context.Background(), 3) {
			out = append(out, b.Y...)
		}
		if len(out) != l.N() {
			t.Errorf("%+v: %d examples, N() %d", cfg, len(out), l.N())
		}
		return out
	}
	whole := labels(LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 1})
	for _, even := range []bool{false, true} {
		var got [][]int64
		for r := 0; r < 3; r++ {
			got = append(got, labels(LoaderConfig{BatchSize: 2, Shuffle: true, Seed: 1, Shard: r, Shards: 3, EvenShards: even}))
		}
		for i, y := range whole {
			if g := got[i%3][i/3]; g != y {
				t.Errorf("even %v: position %d of the epoch is %d in shard %d, want %d", even, i, g, i%3, y)
			}
		}
		if even {
			for r, s := range got {
				if len(s) != 4 {
					t.Errorf("even shard %d has %d examples, want 4", r, len(s))
				}
			}
			if got[1][3] != whole[0] || got[2][3] != whole[1] {
				t.Errorf("padding %d %d, want the epoch's first examples %d %d", got[1][3], got[2][3], whole[0], whole[1])
			}
		} else if n := len(got[0]) + len(got[1]) + len(got[2]); n != 10 {
			t.Errorf("uneven shards hold %d examples, want 10", n)
		}
	}
	if _, err := NewLoader(im, LoaderConfig{BatchSize: 1, Shard: 3, Shards: 3}); err == nil {
		t.Error("shard 3 of 3 accepted")
	}
}
