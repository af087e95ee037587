package data

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// classed is n 4×4 grayscale images of classes labels (i mod classes),
// each with pixels of its own.
func classed(n, classes int) *Images {
	im := &Images{Name: "classed", N: n, C: 1, H: 4, W: 4, Classes: classes, Mean: []float32{0.5}, Std: []float32{0.25}}
	im.Pixels = make([]uint8, n*16)
	im.Labels = make([]int64, n)
	for i := range n {
		im.Labels[i] = int64(i % classes)
		for p := range 16 {
			im.Pixels[i*16+p] = uint8((i*31 + p*17) % 256)
		}
	}
	return im
}

func TestLabeledSplit(t *testing.T) {
	im := classed(100, 4) // 25 of each class
	idx := rand.New(rand.NewSource(3)).Perm(100)[:80]
	perClass := func(ids []int) []int {
		n := make([]int, 4)
		for _, i := range ids {
			n[im.Labels[i]]++
		}
		return n
	}
	for _, tc := range []struct {
		k    int
		seed int64
		err  string
	}{
		{k: 1, seed: 1}, {k: 5, seed: 1}, {k: 5, seed: 2}, {k: 14, seed: 7},
		{k: 0, seed: 1, err: "want at least 1"},
		{k: 40, seed: 1, err: "fewer than the 40 labeled examples per class"},
	} {
		lab, rest, err := LabeledSplit(im.Labels, idx, 4, tc.k, tc.seed)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("K %d: error %v, want %q", tc.k, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("K %d: %v", tc.k, err)
		}
		if got := perClass(lab); !slices.Equal(got, []int{tc.k, tc.k, tc.k, tc.k}) {
			t.Errorf("K %d: labeled per class %v", tc.k, got)
		}
		// The two parts are idx, each in idx's order.
		if len(lab)+len(rest) != len(idx) {
			t.Errorf("K %d: %d labeled + %d rest of %d", tc.k, len(lab), len(rest), len(idx))
		}
		pos := map[int]int{}
		for p, i := range idx {
			pos[i] = p
		}
		for _, part := range [][]int{lab, rest} {
			if !slices.IsSortedFunc(part, func(a, b int) int { return pos[a] - pos[b] }) {
				t.Errorf("K %d: a part is not in idx's order", tc.k)
			}
		}
		again, _, _ := LabeledSplit(im.Labels, idx, 4, tc.k, tc.seed)
		if !slices.Equal(lab, again) {
			t.Errorf("K %d seed %d: two draws differ", tc.k, tc.seed)
		}
	}
	a, _, _ := LabeledSplit(im.Labels, idx, 4, 5, 1)
	b, _, _ := LabeledSplit(im.Labels, idx, 4, 5, 2)
	if slices.Equal(a, b) {
		t.Errorf("seeds 1 and 2 drew the same labeled subset")
	}
}

// collect returns n batches of the stream from batch from (a ViewStream
// or a FolderViewStream).
func collect(t *testing.T, v interface {
	Batches(context.Context, int) <-chan *ViewBatch
}, from, n int) []*ViewBatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := v.Batches(ctx, from)
	defer func() { // stopped: the stream's workers write no more
		cancel()
		for range ch {
		}
	}()
	var out []*ViewBatch
	for b := range ch {
		out = append(out, b)
		if len(out) == n {
			break
		}
	}
	return out
}

// The unlabeled stream never reads a label: over the images without
// labels, and over the same images with their labels replaced by
// garbage, it delivers the same batches; and its batches carry none.
func TestViewStreamReadsNoLabels(t *testing.T) {
	im := classed(40, 4)
	cfg := ViewConfig{BatchSize: 8, Weak: Augment{CropPad: 1}, Strong: Augment{CropPad: 1, RandAugment: &RandAugment{}}, Seed: 5}
	clean, err := NewViewStream(im.WithoutLabels(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if im.Labels == nil || clean.data.Labels != nil {
		t.Fatalf("WithoutLabels must drop the copy's labels only")
	}
	poisoned := *im
	poisoned.Labels = make([]int64, im.N)
	for i := range poisoned.Labels {
		poisoned.Labels[i] = -1 << 40 // any read would show (or panic as an index)
	}
	dirty, err := NewViewStream(&poisoned, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := collect(t, clean, 0, 12), collect(t, dirty, 0, 12)
	for k := range a {
		if !slices.Equal(a[k].Weak, b[k].Weak) || !slices.Equal(a[k].Strong, b[k].Strong) {
			t.Fatalf("batch %d differs with poisoned labels", k)
		}
	}
}

// Batch k is the same whether the stream started at 0 or at k (a resumed
// run), epochs are permutations of the images, and the strong view is not
// the weak one.
func TestViewStreamBatches(t *testing.T) {
	im := classed(30, 3).WithoutLabels()
	v, err := NewViewStream(im, ViewConfig{BatchSize: 7, Strong: Augment{RandAugment: &RandAugment{Ops: 3, Magnitude: 20}}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if v.PerEpoch() != 4 || v.Len() != 30 {
		t.Fatalf("PerEpoch %d Len %d, want 4 (30/7, the partial batch skipped) and 30", v.PerEpoch(), v.Len())
	}
	all := collect(t, v, 0, 10)
	for _, from := range []int{1, 4, 9} {
		got := collect(t, v, from, 1)[0]
		if !slices.Equal(got.Weak, all[from].Weak) || !slices.Equal(got.Strong, all[from].Strong) {
			t.Errorf("batch %d from a stream started there differs from the unbroken stream's", from)
		}
	}
	// Without weak augmentation the weak view is the image normalized:
	// each epoch's 4 batches hold 28 distinct images.
	for e := 0; e < 2; e++ {
		seen := map[float32]bool{}
		for _, b := range all[4*e : 4*e+4] {
			if b.N != 7 || len(b.Weak) != 7*16 {
				t.Fatalf("batch of %d images, %d values", b.N, len(b.Weak))
			}
			for j := range b.N {
				seen[b.Weak[j*16]+b.Weak[j*16+1]*1000] = true
			}
		}
		if len(seen) != 28 {
			t.Errorf("epoch %d: %d distinct images in 4 batches of 7, want 28", e, len(seen))
		}
	}
	differ := 0
	for _, b := range all {
		if !slices.Equal(b.Weak, b.Strong) {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("the strong view (RandAugment) never differs from the weak one")
	}
}

func TestViewStreamRefuses(t *testing.T) {
	im := classed(10, 2)
	for _, tc := range []struct {
		cfg  ViewConfig
		want string
	}{
		{ViewConfig{BatchSize: 0}, "want at least 1"},
		{ViewConfig{BatchSize: 11}, "fewer than one unlabeled batch of 11"},
		{ViewConfig{BatchSize: 2, Strong: Augment{RandAugment: &RandAugment{Magnitude: 40}}}, "strong view"},
	} {
		if _, err := NewViewStream(im, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestViewStreamShards: without augmentation, batch k of shards 0 and 1
// (batches of B/2) together hold the images of batch k of the whole
// stream (batches of B), and the shards' batches are disjoint, so that
// data-parallel ranks together see what one process sees. A shard needs a
// whole batch of its own.
func TestViewStreamShards(t *testing.T) {
	im := classed(40, 4).WithoutLabels()
	mk := func(batch, shard, shards int) *ViewStream {
		s, err := NewViewStream(im, ViewConfig{BatchSize: batch, Seed: 2, Shard: shard, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	whole, s0, s1 := mk(8, 0, 1), mk(4, 0, 2), mk(4, 1, 2)
	if whole.PerEpoch() != 5 || s0.PerEpoch() != 5 {
		t.Fatalf("%d and %d batches an epoch, want 5 and 5", whole.PerEpoch(), s0.PerEpoch())
	}
	const sz = 16
	images := func(bs ...*ViewBatch) []string {
		var out []string
		for _, b := range bs {
			for j := range b.N {
				out = append(out, fmt.Sprint(b.Weak[j*sz:(j+1)*sz]))
			}
		}
		slices.Sort(out)
		return out
	}
	w, a, b := collect(t, whole, 0, 12), collect(t, s0, 0, 12), collect(t, s1, 0, 12)
	for k := range 12 { // over two epochs
		if got, want := images(a[k], b[k]), images(w[k]); !slices.Equal(got, want) {
			t.Errorf("batch %d: the shards' images are not the whole stream's", k)
		}
		if len(slices.Compact(images(a[k], b[k]))) != 8 {
			t.Errorf("batch %d: the shards share images", k)
		}
	}
	if _, err := NewViewStream(im, ViewConfig{BatchSize: 21, Shards: 2, Shard: 1}); err == nil || !strings.Contains(err.Error(), "20 a shard of 2") {
		t.Errorf("a batch larger than a shard: %v", err)
	}
	if _, err := NewViewStream(im, ViewConfig{BatchSize: 2, Shards: 2, Shard: 2}); err == nil || !strings.Contains(err.Error(), "shard 2 of 2") {
		t.Errorf("shard 2 of 2: %v", err)
	}
}
