package data

import (
	"context"
	"fmt"
	"math/rand"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Augment says how training images are perturbed, in torchvision's order
// (RandomCrop with padding, RandomHorizontalFlip, RandAugment, then the
// normalization). The zero value leaves them as they are.
type Augment struct {
	CropPad int  // random crop of the original size after zero-padding by CropPad
	Flip    bool // horizontal flip with probability 1/2
	// RandAugment, when set, transforms each cropped and flipped image
	// with RandAugment (torchvision's; see RandAugment), drawing from the
	// loader's seeded generator. The images must have 1 or 3 channels.
	RandAugment *RandAugment
}

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	BatchSize int
	Shuffle   bool
	DropLast  bool // skip a final partial batch
	Augment   Augment
	Seed      int64 // seeds the order and the augmentation; epoch e uses Seed+e
	Prefetch  int   // batches prepared ahead (default 2)
	// Shards > 1 splits every epoch as torch's DistributedSampler does:
	// the loader reads positions Shard, Shard+Shards, … of the epoch's
	// order (the permutation a single loader shuffles from Seed+e), so
	// the shards of one epoch are disjoint and together are the epoch.
	// With EvenShards the order is first padded with its own first
	// examples to a multiple of Shards, so that every shard has the same
	// number of batches (training: every rank takes the same steps);
	// without, the shards differ by at most one example (evaluation:
	// summed over the shards, every example counts once). 0 or 1: the
	// whole dataset.
	Shard, Shards int
	EvenShards    bool
}

// A Batch is a normalized N×C×H×W float32 block with its labels.
type Batch struct {
	X          []float32
	Y          []int64
	N, C, H, W int
}

// Tensors copies the batch to dev as an input tensor and a label tensor.
func (b *Batch) Tensors(dev gotch.Device) (x, y *ts.Tensor, err error) {
	x, err = ts.NewTensorFromData(b.X, []int64{int64(b.N), int64(b.C), int64(b.H), int64(b.W)})
	if err != nil {
		return nil, nil, fmt.Errorf("batch images: %w", err)
	}
	y, err = ts.NewTensorFromData(b.Y, []int64{int64(b.N)})
	if err != nil {
		x.MustDrop()
		return nil, nil, fmt.Errorf("batch labels: %w", err)
	}
	if dev != gotch.CPU {
		xd, err1 := x.ToDevice(dev, gotch.Float, true, false, true)
		yd, err2 := y.ToDevice(dev, gotch.Int64, true, false, true)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("batch to %v: %v %v", dev, err1, err2)
		}
		x, y = xd, yd
	}
	return x, y, nil
}

// A Loader turns a dataset into batches, preparing the next ones in a
// goroutine while the model trains on the current one. Its dataset is in
// memory (NewLoader) or streamed from an image folder (NewFolderLoader).
type Loader struct {
	data   *Images
	stream *folderStream
	cfg    LoaderConfig
}

// NewLoader returns a loader over im.
func NewLoader(im *Images, cfg LoaderConfig) (*Loader, error) {
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("batch size %d: want at least 1", cfg.BatchSize)
	}
	if cfg.Prefetch < 1 {
		cfg.Prefetch = 2
	}
	if err := checkShard(cfg.Shard, cfg.Shards); err != nil {
		return nil, err
	}
	if len(im.Mean) != im.C || len(im.Std) != im.C {
		return nil, fmt.Errorf("dataset %s: %d channels but %d means and %d deviations", im.Name, im.C, len(im.Mean), len(im.Std))
	}
	if ra := cfg.Augment.RandAugment; ra != nil {
		if err := ra.Check(im.C); err != nil {
			return nil, fmt.Errorf("dataset %s: %w", im.Name, err)
		}
	}
	return &Loader{data: im, cfg: cfg}, nil
}

// checkShard refuses a shard outside 0 … shards−1 when there are shards.
func checkShard(shard, shards int) error {
	if shards > 1 && (shard < 0 || shard >= shards) {
		return fmt.Errorf("shard %d of %d: want 0 … %d", shard, shards, shards-1)
	}
	return nil
}

// Len is the number of examples in one epoch (N).
func (l *Loader) Len() int { return l.N() }

// Batches returns the number of batches in one epoch (of this shard). A
// streaming loader may deliver fewer, shorter batches when images cannot
// be read.
func (l *Loader) Batches() int {
	n := l.N() / l.cfg.BatchSize
	if !l.cfg.DropLast && l.N()%l.cfg.BatchSize != 0 {
		n++
	}
	return n
}

// Stats reports what a streaming loader has decoded and skipped so far;
// an in-memory loader's are zero.
func (l *Loader) Stats() LoaderStats {
	if l.stream == nil {
		return LoaderStats{}
	}
	return l.stream.stats()
}

// N is the number of examples in one epoch (before any a streaming loader
// skips): the dataset's, or this shard's.
func (l *Loader) N() int {
	n, k := l.size(), l.cfg.Shards
	switch {
	case k <= 1:
		return n
	case l.cfg.EvenShards:
		return (n + k - 1) / k
	}
	return (n - l.cfg.Shard + k - 1) / k
}

// size is the number of examples of the whole dataset, every shard's.
func (l *Loader) size() int {
	if l.stream != nil {
		return l.stream.folder.Len()
	}
	return l.data.N
}

// shard picks this loader's positions of an epoch's order.
func (l *Loader) shard(order []int) []int {
	k := l.cfg.Shards
	if k <= 1 {
		return order
	}
	if l.cfg.EvenShards {
		n := len(order)
		for i := 0; len(order)%k != 0; i++ {
			order = append(order, order[i%n])
		}
	}
	out := make([]int, 0, l.N())
	for i := l.cfg.Shard; i < len(order); i += k {
		out = append(out, order[i])
	}
	return out
}

// Epoch streams the batches of epoch e. The channel closes at the end of
// the epoch or when ctx is done; a consumer that stops early must cancel
// ctx, or the loader's goroutines wait for it.
func (l *Loader) Epoch(ctx context.Context, e int) <-chan *Batch {
	if l.stream != nil {
		out := make(chan *Batch)
		go l.stream.epoch(ctx, e, l.Batches(), l.shard, out)
		return out
	}
	out := make(chan *Batch, l.cfg.Prefetch)
	go func() {
		defer close(out)
		rng := rand.New(rand.NewSource(l.cfg.Seed + int64(e)))
		order := make([]int, l.data.N)
		for i := range order {
			order[i] = i
		}
		if l.cfg.Shuffle {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		order = l.shard(order)
		for b := 0; b < l.Batches(); b++ {
			lo, hi := b*l.cfg.BatchSize, min((b+1)*l.cfg.BatchSize, len(order))
			batch := l.make(order[lo:hi], rng)
			select {
			case out <- batch:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (l *Loader) make(idx []int, rng *rand.Rand) *Batch {
	d := l.data
	c, h, w := d.C, d.H, d.W
	sz := c * h * w
	b := &Batch{X: make([]float32, len(idx)*sz), Y: make([]int64, len(idx)), N: len(idx), C: c, H: h, W: w}
	scale := make([]float32, c)
	shift := make([]float32, c)
	for ch := 0; ch < c; ch++ {
		scale[ch] = 1 / (255 * d.Std[ch])
		shift[ch] = -d.Mean[ch] / d.Std[ch]
	}
	buf := make([]uint8, sz)
	for j, i := range idx {
		b.Y[j] = d.Labels[i]
		img := l.augment(d.Pixels[i*sz:(i+1)*sz], buf, rng)
		dst := b.X[j*sz : (j+1)*sz]
		for ch := 0; ch < c; ch++ {
			for k, v := range img[ch*h*w : (ch+1)*h*w] {
				dst[ch*h*w+k] = float32(v)*scale[ch] + shift[ch]
			}
		}
	}
	return b
}

// augment returns src perturbed per the loader's Augment, written into buf
// (src itself when there is nothing to do). A crop reads zero pixels
// outside the image.
func (l *Loader) augment(src, buf []uint8, rng *rand.Rand) []uint8 {
	aug := l.cfg.Augment
	if aug.CropPad <= 0 && !aug.Flip && aug.RandAugment == nil {
		return src
	}
	c, h, w := l.data.C, l.data.H, l.data.W
	dy, dx, flip := 0, 0, false
	if pad := aug.CropPad; pad > 0 {
		dy, dx = rng.Intn(2*pad+1)-pad, rng.Intn(2*pad+1)-pad
	}
	if aug.Flip {
		flip = rng.Intn(2) == 1
	}
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			row := buf[(ch*h+y)*w : (ch*h+y+1)*w]
			sy := y + dy
			for x := range row {
				sx := x + dx
				if flip {
					sx = w - 1 - x + dx
				}
				row[x] = 0
				if sy >= 0 && sy < h && sx >= 0 && sx < w {
					row[x] = src[(ch*h+sy)*w+sx]
				}
			}
		}
	}
	if aug.RandAugment != nil {
		if err := aug.RandAugment.Apply(Image8{C: c, H: h, W: w, Pix: buf}, rng); err != nil {
			panic(fmt.Errorf("data: randaugment on a checked loader: %w", err)) // NewLoader checked the settings
		}
	}
	return buf
}
