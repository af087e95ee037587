package data

import (
	"context"
	"fmt"
	"io"
	"math/rand"
)

// FolderViewConfig configures a FolderViewStream.
type FolderViewConfig struct {
	BatchSize int // images per batch (the labeled batch size times UDA's ratio μ)
	// Transform is the weak view's (torchvision's training transform,
	// Train true: RandomResizedCrop and flip); the strong view draws it
	// again, independently, then applies RandAugment.
	Transform   ImageTransform
	RandAugment *RandAugment
	Seed        int64 // seeds the order (epoch e: Seed+e) and each batch's draws
	Workers     int   // decoding goroutines; 0 means runtime.GOMAXPROCS(0)
	Prefetch    int   // batches decoded ahead; 0 means 2
	MaxPixels   int64 // larger images are skipped; 0 means DefaultMaxPixels
	Log         io.Writer
	// Shard and Shards split the stream among data-parallel ranks as
	// ViewConfig's do.
	Shard, Shards int
}

// FolderViewStream is UDA's unlabeled stream decoded from an image
// folder's files, for datasets that do not fit in memory (ImageNet's
// unlabeled 90%): ViewStream's batches, each image in a weak and a strong
// view, decoded once per view. It removes the folder's labels first, and
// its batches have none.
//
// Batch k is a pure function of the seed and k, as ViewStream's: the
// images at positions (k mod P)·B … of epoch ⌊k/P⌋'s shuffled order (P
// full batches an epoch; with shards, of the shard's positions), each
// view drawn from a generator seeded by the seed, k, the view and the
// image. An image that cannot be read is
// skipped (its batch is one shorter) and counted in Stats; a batch of
// unreadable images only is left out.
type FolderViewStream struct {
	*folderDecoder
	cfg FolderViewConfig
}

// NewFolderViewStream returns the stream over f's images. It needs at
// least one full batch of images.
func NewFolderViewStream(f *ImageFolder, cfg FolderViewConfig) (*FolderViewStream, error) {
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("unlabeled batch size %d: want at least 1", cfg.BatchSize)
	}
	if err := checkShard(cfg.Shard, cfg.Shards); err != nil {
		return nil, err
	}
	if n := f.Len() / max(cfg.Shards, 1); n < cfg.BatchSize {
		return nil, fmt.Errorf("image folder %s: %d unlabeled images%s, fewer than one unlabeled batch of %d", f.Root, f.Len(), shardText(n, cfg.Shards), cfg.BatchSize)
	}
	views := []view{{cfg.Transform, nil}, {cfg.Transform, cfg.RandAugment}}
	d, err := newFolderDecoder(f.WithoutLabels(), views, cfg.Workers, cfg.Prefetch, cfg.MaxPixels, false, cfg.Log)
	if err != nil {
		return nil, err
	}
	return &FolderViewStream{folderDecoder: d, cfg: cfg}, nil
}

// PerEpoch is the number of batches in one pass over the images (of this
// shard).
func (v *FolderViewStream) PerEpoch() int {
	return v.folder.Len() / max(v.cfg.Shards, 1) / v.cfg.BatchSize
}

// Len is the number of unlabeled images.
func (v *FolderViewStream) Len() int { return v.folder.Len() }

// Stats reports what the stream has decoded and skipped so far.
func (v *FolderViewStream) Stats() LoaderStats { return v.stats() }

// Batches streams batch from, from+1, … until ctx is done; the channel
// then closes. The consumer cancels ctx when it stops; the channel closes
// once the decoding workers have stopped, so a consumer that reads Log or
// Stats afterwards drains it first.
func (v *FolderViewStream) Batches(ctx context.Context, from int) <-chan *ViewBatch {
	out := make(chan *ViewBatch)
	go func() {
		defer close(out)
		per := v.PerEpoch()
		epoch, order := -1, []int(nil)
		k := max(from, 0)
		next := func() *pending {
			if e := k / per; e != epoch {
				epoch, order = e, shardOf(shuffled(v.folder.Len(), v.cfg.Seed+int64(e)), v.cfg.Shard, v.cfg.Shards)
			}
			lo := (k % per) * v.cfg.BatchSize
			seed := batchSeed(shardSeed(v.cfg.Seed, v.cfg.Shard), k)
			k++
			return v.newPending(order[lo:lo+v.cfg.BatchSize], func(view, i int) *sampleRNG { return newSampleRNG(seed, view, i) })
		}
		size := v.views[0].t.Size
		v.decode(ctx, next, func(p *pending) bool {
			n := p.compact()
			if n == 0 {
				return true
			}
			select {
			case out <- &ViewBatch{Weak: p.xs[0], Strong: p.xs[1], N: n, C: 3, H: size, W: size}:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return out
}

// shuffled is 0 … n−1 shuffled by a generator seeded with seed.
func shuffled(n int, seed int64) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewSource(seed))
	rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}
