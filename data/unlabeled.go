package data

import (
	"context"
	"fmt"
	"math/rand"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// LabeledSplit carves a class-balanced labeled subset out of the examples
// at idx: perClass examples of every class (labels in 0..classes-1), drawn
// with a generator seeded by seed, so the same seed always picks the same
// images. The rest of idx, in idx's order, is the unlabeled remainder. A
// class with fewer than perClass examples in idx is an error naming it.
func LabeledSplit(labels []int64, idx []int, classes, perClass int, seed int64) (labeled, rest []int, err error) {
	if perClass < 1 {
		return nil, nil, fmt.Errorf("labeled examples per class %d: want at least 1", perClass)
	}
	byClass := make([][]int, classes)
	for _, i := range idx {
		c := labels[i]
		if c < 0 || int(c) >= classes {
			return nil, nil, fmt.Errorf("example %d: label %d outside 0..%d", i, c, classes-1)
		}
		byClass[c] = append(byClass[c], i)
	}
	// A generator of its own (seed mixed with a constant), so the labeled
	// draw is not the validation split's permutation read again.
	rng := rand.New(rand.NewSource(seed ^ 0x5eed_1abe1))
	chosen := make(map[int]bool, classes*perClass)
	for c, members := range byClass {
		if len(members) < perClass {
			return nil, nil, fmt.Errorf("class %d has %d training examples, fewer than the %d labeled examples per class asked for", c, len(members), perClass)
		}
		for _, j := range rng.Perm(len(members))[:perClass] {
			chosen[members[j]] = true
		}
	}
	for _, i := range idx {
		if chosen[i] {
			labeled = append(labeled, i)
		} else {
			rest = append(rest, i)
		}
	}
	return labeled, rest, nil
}

// WithoutLabels returns im with its labels removed (Labels nil; the
// pixels are shared): the unlabeled stream of semi-supervised training,
// which then cannot read a label even by mistake.
func (im *Images) WithoutLabels() *Images {
	out := *im
	out.Labels = nil
	return &out
}

// ViewConfig configures a ViewStream.
type ViewConfig struct {
	BatchSize int     // images per batch (the labeled batch size times UDA's ratio μ)
	Weak      Augment // the target's view: usually the dataset's crop and flip
	Strong    Augment // the student's view: usually Weak plus RandAugment
	Seed      int64   // seeds the order (epoch e: Seed+e, as Loader) and each batch's augmentation
	Prefetch  int     // batches prepared ahead (default 2)
	// Shard and Shards split the stream among data-parallel ranks: shard
	// r reads positions r, r+Shards, … of each epoch's order (as many for
	// every shard: the last few images of an epoch may go unread) and
	// draws its augmentations from a seed of its own; shard 0 of 1 is the
	// whole stream.
	Shard, Shards int
}

// ViewBatch is one batch of unlabeled images in two views of the same
// images, each normalized N×C×H×W float32. It carries no labels.
type ViewBatch struct {
	Weak, Strong []float32
	N, C, H, W   int
}

// Tensors copies the two views to dev.
func (b *ViewBatch) Tensors(dev gotch.Device) (weak, strong *ts.Tensor, err error) {
	shape := []int64{int64(b.N), int64(b.C), int64(b.H), int64(b.W)}
	if weak, err = viewTensor(b.Weak, shape, dev); err != nil {
		return nil, nil, fmt.Errorf("weak view: %w", err)
	}
	if strong, err = viewTensor(b.Strong, shape, dev); err != nil {
		weak.MustDrop()
		return nil, nil, fmt.Errorf("strong view: %w", err)
	}
	return weak, strong, nil
}

func viewTensor(x []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	t, err := ts.NewTensorFromData(x, shape)
	if err != nil || dev == gotch.CPU {
		return t, err
	}
	return t.ToDevice(dev, gotch.Float, true, false, true)
}

// ViewStream is the unlabeled stream of UDA (Xie et al. 2020): an endless
// sequence of full batches of unlabeled images, each image in a weak and a
// strong view. It never reads labels: it takes images without them
// (Images.WithoutLabels) as well as with them, and its batches have none.
//
// Batch k is a pure function of the seed and k: it holds the images at
// positions (k mod P)·B … of epoch ⌊k/P⌋'s shuffled order (P full batches
// an epoch; the last partial batch of an epoch is skipped), augmented with
// a generator seeded by the seed and k. So a training resumed at step k
// starts the stream at k and sees exactly the batches an unbroken run
// would, without preparing the ones before.
type ViewStream struct {
	data         *Images
	cfg          ViewConfig
	weak, strong *Loader // their augment methods draw each view
}

// NewViewStream returns the stream over im. It needs at least one full
// batch of images.
func NewViewStream(im *Images, cfg ViewConfig) (*ViewStream, error) {
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("unlabeled batch size %d: want at least 1", cfg.BatchSize)
	}
	if err := checkShard(cfg.Shard, cfg.Shards); err != nil {
		return nil, err
	}
	if n := im.N / max(cfg.Shards, 1); n < cfg.BatchSize {
		return nil, fmt.Errorf("the unlabeled set has %d images%s, fewer than one unlabeled batch of %d", im.N, shardText(n, cfg.Shards), cfg.BatchSize)
	}
	if cfg.Prefetch < 1 {
		cfg.Prefetch = 2
	}
	weak, err := NewLoader(im, LoaderConfig{BatchSize: cfg.BatchSize, Augment: cfg.Weak})
	if err != nil {
		return nil, fmt.Errorf("weak view: %w", err)
	}
	strong, err := NewLoader(im, LoaderConfig{BatchSize: cfg.BatchSize, Augment: cfg.Strong})
	if err != nil {
		return nil, fmt.Errorf("strong view: %w", err)
	}
	return &ViewStream{data: im, cfg: cfg, weak: weak, strong: strong}, nil
}

// PerEpoch is the number of batches in one pass over the images (of this
// shard).
func (v *ViewStream) PerEpoch() int { return v.data.N / max(v.cfg.Shards, 1) / v.cfg.BatchSize }

// Len is the number of unlabeled images.
func (v *ViewStream) Len() int { return v.data.N }

// Batches streams batch from, from+1, … until ctx is done; the channel
// then closes. The consumer cancels ctx when it stops.
func (v *ViewStream) Batches(ctx context.Context, from int) <-chan *ViewBatch {
	out := make(chan *ViewBatch, v.cfg.Prefetch)
	go func() {
		defer close(out)
		per := v.PerEpoch()
		epoch, order := -1, []int(nil)
		for k := max(from, 0); ; k++ {
			if e := k / per; e != epoch {
				epoch, order = e, v.order(e)
			}
			lo := (k % per) * v.cfg.BatchSize
			b := v.batch(order[lo:lo+v.cfg.BatchSize], rand.New(rand.NewSource(batchSeed(shardSeed(v.cfg.Seed, v.cfg.Shard), k))))
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// order is epoch e's shuffled order of the images.
func (v *ViewStream) order(e int) []int {
	return shardOf(shuffled(v.data.N, v.cfg.Seed+int64(e)), v.cfg.Shard, v.cfg.Shards)
}

// shardOf is the positions shard, shard+shards, … of order, as many for
// every shard (the whole order without shards).
func shardOf(order []int, shard, shards int) []int {
	if shards <= 1 {
		return order
	}
	out := make([]int, 0, len(order)/shards)
	for i := shard; len(out) < len(order)/shards; i += shards {
		out = append(out, order[i])
	}
	return out
}

// shardSeed is the seed of a shard's draws: seed itself for shard 0,
// another for each other shard (as distributed.MaskSeed mixes a rank in).
func shardSeed(seed int64, shard int) int64 {
	return int64(uint64(seed) + uint64(shard)*0x9E3779B97F4A7C15)
}

// shardText says how many images a shard has, when there are shards.
func shardText(n, shards int) string {
	if shards <= 1 {
		return ""
	}
	return fmt.Sprintf(" (%d a shard of %d)", n, shards)
}

// batchSeed mixes the stream's seed and a batch number (splitmix64's
// finalizer), so neighbouring batches draw unrelated augmentations.
func batchSeed(seed int64, k int) int64 {
	z := uint64(seed)*0x9e3779b97f4a7c15 + uint64(k) + 1
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return int64(z ^ z>>31)
}

// batch draws the weak and then the strong view of every image at idx.
func (v *ViewStream) batch(idx []int, rng *rand.Rand) *ViewBatch {
	d := v.data
	sz := d.C * d.H * d.W
	b := &ViewBatch{Weak: make([]float32, len(idx)*sz), Strong: make([]float32, len(idx)*sz), N: len(idx), C: d.C, H: d.H, W: d.W}
	scale, shift := make([]float32, d.C), make([]float32, d.C)
	for ch := range d.C {
		scale[ch] = 1 / (255 * d.Std[ch])
		shift[ch] = -d.Mean[ch] / d.Std[ch]
	}
	buf := make([]uint8, sz)
	hw := d.H * d.W
	put := func(dst []float32, img []uint8) {
		for ch := range d.C {
			for i, p := range img[ch*hw : (ch+1)*hw] {
				dst[ch*hw+i] = float32(p)*scale[ch] + shift[ch]
			}
		}
	}
	for j, i := range idx {
		src := d.Pixels[i*sz : (i+1)*sz]
		put(b.Weak[j*sz:(j+1)*sz], v.weak.augment(src, buf, rng))
		put(b.Strong[j*sz:(j+1)*sz], v.strong.augment(src, buf, rng))
	}
	return b
}
