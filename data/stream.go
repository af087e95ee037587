package data

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// ImageFolder is the index of a folder-per-class image dataset, such as
// ImageNet's train/<class>/*.JPEG: file names and labels, no pixels. Its
// memory is a few dozen bytes per file (about 40 MB for ImageNet's 1.28
// million training images); images are decoded when a loader streams them.
type ImageFolder struct {
	Root       string
	ClassNames []string // by label: the class folders' names
	names      []byte   // every file's path below Root, one after another
	ends       []uint32 // where each file's path ends in names
	labels     []int32
}

// ScanImageFolder lists the images of root/<class>/… as LoadImageFolder
// selects them (opts.Classes, PerClass, Offset and Seed apply; the other
// options are the loader's business). A class folder without images is
// refused with an error naming it.
func ScanImageFolder(root string, opts FolderOptions) (*ImageFolder, error) {
	if opts.PerClass < 0 || opts.Offset < 0 {
		return nil, fmt.Errorf("scan image folder %s: per-class limit %d and offset %d must not be negative", root, opts.PerClass, opts.Offset)
	}
	classes, err := classFolders(root, opts.Classes)
	if err != nil {
		return nil, fmt.Errorf("scan image folder %s: %w", root, err)
	}
	f := &ImageFolder{Root: root, ClassNames: classes}
	prefix := len(filepath.Clean(root)) + 1
	for label, class := range classes {
		files, err := imageFiles(filepath.Join(root, class))
		if err != nil {
			return nil, fmt.Errorf("scan image folder %s: %w", root, err)
		}
		for _, p := range choose(files, class, opts) {
			f.names = append(f.names, filepath.Clean(p)[prefix:]...)
			if len(f.names) > 1<<32-1 {
				return nil, fmt.Errorf("scan image folder %s: file names exceed 4 GB", root)
			}
			f.ends = append(f.ends, uint32(len(f.names)))
			f.labels = append(f.labels, int32(label))
		}
	}
	if len(f.ends) == 0 {
		return nil, fmt.Errorf("scan image folder %s: no images selected (offset %d passes over every class's images)", root, opts.Offset)
	}
	return f, nil
}

// Len is the number of images.
func (f *ImageFolder) Len() int { return len(f.ends) }

// Path is the file of image i.
func (f *ImageFolder) Path(i int) string {
	start := uint32(0)
	if i > 0 {
		start = f.ends[i-1]
	}
	return filepath.Join(f.Root, string(f.names[start:f.ends[i]]))
}

// Label is the class of image i.
func (f *ImageFolder) Label(i int) int64 { return int64(f.labels[i]) }

// Classes is the number of classes.
func (f *ImageFolder) Classes() int { return len(f.ClassNames) }

// Subset is the folder of f's images idx, in that order, with f's
// classes (a validation split held out of a training folder).
func (f *ImageFolder) Subset(idx []int) *ImageFolder {
	sub := &ImageFolder{Root: f.Root, ClassNames: f.ClassNames, ends: make([]uint32, len(idx)), labels: make([]int32, len(idx))}
	prefix := len(filepath.Clean(f.Root)) + 1
	for k, i := range idx {
		sub.names = append(sub.names, f.Path(i)[prefix:]...)
		sub.ends[k], sub.labels[k] = uint32(len(sub.names)), f.labels[i]
	}
	return sub
}

// StreamConfig configures a loader that streams an ImageFolder.
type StreamConfig struct {
	BatchSize int
	Shuffle   bool
	DropLast  bool // skip a final partial batch
	// Seed seeds the order (epoch e shuffles with Seed+e, as Loader does)
	// and each image's crop and flip, drawn from Seed, the epoch and the
	// image's index, so that they do not depend on worker scheduling.
	Seed      int64
	Transform ImageTransform
	// RandAugment, when set, transforms each training image with
	// RandAugment after the crop and flip and before the normalization,
	// as torchvision's recipes compose them (RandomResizedCrop,
	// RandomHorizontalFlip, RandAugment, ToTensor, Normalize), drawing
	// from the image's own generator after its crop and flip.
	RandAugment *RandAugment
	// Workers decode images concurrently; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Prefetch is how many batches are decoded ahead of the one the
	// training loop holds; 0 means 2. Memory is about
	// (Prefetch+2)·BatchSize·3·Size²·4 bytes plus a decoding buffer per
	// worker, whatever the dataset's size.
	Prefetch int
	// MaxPixels skips an image whose header claims more pixels; 0 means
	// DefaultMaxPixels.
	MaxPixels int64
	// GoDecoder decodes JPEGs with Go's image/jpeg instead of
	// libjpeg-turbo: about half as fast, and its chroma upsampling differs
	// from Pillow's by a few levels; for comparison (autodropout bench).
	GoDecoder bool
	// Log, when set, names each file that cannot be read the first time it
	// is skipped; nil means os.Stderr.
	Log io.Writer
	// Shard, Shards and EvenShards split every epoch among data-parallel
	// ranks as LoaderConfig's do. A training stream with EvenShards never
	// leaves a batch out: one whose images were all skipped is replaced
	// by the next batch with images (the last one at the epoch's end), so
	// that every rank takes the same number of steps.
	Shard, Shards int
	EvenShards    bool
}

// LoaderStats counts what a streaming loader decoded and skipped, over
// every epoch so far. An in-memory loader's stats are zero.
type LoaderStats struct {
	Decoded int64 // images delivered in batches
	Skipped int64 // images left out because they could not be read, each time
	// BadFiles names the distinct files skipped, sorted (at most 1,000).
	BadFiles []string
}

// maxBadFiles bounds LoaderStats.BadFiles.
const maxBadFiles = 1000

// folderStream is a Loader's streaming source.
type folderStream struct {
	folder *ImageFolder
	cfg    StreamConfig
	norm   *normalizer

	decoded, skipped atomic.Int64
	mu               sync.Mutex
	bad              map[string]bool
}

// NewFolderLoader returns a loader that streams f: each epoch, Workers
// goroutines decode the images of the next batches (at most Prefetch
// batches ahead), apply cfg.Transform and normalize them. A file that
// cannot be read — truncated or corrupt, or whose header claims more than
// MaxPixels — is skipped (its batch is one shorter), named once on
// cfg.Log and counted in Stats; it never stops an epoch. A batch whose
// images were all skipped is left out.
func NewFolderLoader(f *ImageFolder, cfg StreamConfig) (*Loader, error) {
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("batch size %d: want at least 1", cfg.BatchSize)
	}
	t, err := cfg.Transform.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("image folder %s: %w", f.Root, err)
	}
	cfg.Transform = t
	if ra := cfg.RandAugment; ra != nil {
		if err := ra.Check(3); err != nil {
			return nil, fmt.Errorf("image folder %s: %w", f.Root, err)
		}
	}
	if err := checkShard(cfg.Shard, cfg.Shards); err != nil {
		return nil, err
	}
	if cfg.Workers < 1 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch < 1 {
		cfg.Prefetch = 2
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	s := &folderStream{folder: f, cfg: cfg, norm: newNormalizer(t.Mean, t.Std), bad: map[string]bool{}}
	return &Loader{stream: s, cfg: LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: cfg.Shuffle, DropLast: cfg.DropLast, Seed: cfg.Seed, Prefetch: cfg.Prefetch,
		Shard: cfg.Shard, Shards: cfg.Shards, EvenShards: cfg.EvenShards}}, nil
}

// pending is a batch being decoded: one slot per image, and a count of
// the images still to come.
type pending struct {
	batch *Batch
	idx   []int
	ok    []bool
	left  atomic.Int32
	done  chan struct{}
}

type decodeJob struct {
	p    *pending
	slot int
}

// epoch streams epoch e, the positions of its order that shard picks: a
// dispatcher hands out the images of at most Prefetch batches at a time,
// workers decode them into their slots, and the batches leave in order as
// they complete.
func (s *folderStream) epoch(ctx context.Context, e int, batches int, shard func([]int) []int, out chan<- *Batch) {
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := s.folder.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if s.cfg.Shuffle {
		rng := rand.New(rand.NewSource(s.cfg.Seed + int64(e)))
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	order = shard(order)
	jobs := make(chan decodeJob, s.cfg.BatchSize)
	inFlight := make(chan *pending, s.cfg.Prefetch)
	var wg sync.WaitGroup
	for w := 0; w < s.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(jobs, e)
		}()
	}
	go s.dispatch(ctx, order, batches, jobs, inFlight)
	defer func() { cancel(); wg.Wait() }() // no worker outlives the epoch
	send := func(b *Batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// owed counts the empty batches a rank must still make up for
	// (EvenShards), each by a batch with images.
	owed := 0
	var last *Batch
	for p := range inFlight {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
		b := p.compact()
		if b.N == 0 {
			if s.cfg.EvenShards && s.cfg.Shards > 1 {
				owed++
			}
			continue
		}
		for ; owed >= 0; owed-- {
			if !send(b) {
				return
			}
		}
		owed, last = 0, b
	}
	for ; owed > 0 && last != nil; owed-- {
		if !send(last) {
			return
		}
	}
}

// dispatch queues each batch (inFlight bounds how many exist at once) and
// its images' decoding jobs; it closes both channels when done.
func (s *folderStream) dispatch(ctx context.Context, order []int, batches int, jobs chan<- decodeJob, inFlight chan<- *pending) {
	defer close(jobs)
	defer close(inFlight)
	t := s.cfg.Transform
	sz := 3 * t.Size * t.Size
	for b := 0; b < batches; b++ {
		lo, hi := b*s.cfg.BatchSize, min((b+1)*s.cfg.BatchSize, len(order))
		k := hi - lo
		p := &pending{idx: order[lo:hi], ok: make([]bool, k), done: make(chan struct{}),
			batch: &Batch{X: make([]float32, k*sz), Y: make([]int64, k), N: k, C: 3, H: t.Size, W: t.Size}}
		p.left.Store(int32(k))
		select {
		case inFlight <- p:
		case <-ctx.Done():
			return
		}
		for j := 0; j < k; j++ {
			select {
			case jobs <- decodeJob{p, j}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// work decodes jobs until the channel closes.
func (s *folderStream) work(jobs <-chan decodeJob, e int) {
	d := newImageDecoder(s.cfg.MaxPixels)
	defer d.close()
	if s.cfg.GoDecoder {
		d.tj.close()
		d.tj = nil
	}
	t := &s.cfg.Transform
	sz := 3 * t.Size * t.Size
	var planes []uint8 // RandAugment's image
	if s.cfg.RandAugment != nil {
		planes = make([]uint8, sz)
	}
	for j := range jobs {
		i := j.p.idx[j.slot]
		path := s.folder.Path(i)
		rng := newSampleRNG(s.cfg.Seed, e, i)
		flip, err := d.load(path, t, rng)
		dst := j.p.batch.X[j.slot*sz : (j.slot+1)*sz]
		switch {
		case err == nil && planes != nil:
			planesCHWFlip(d.out, t.Size, flip, planes)
			err = s.cfg.RandAugment.Apply(Image8{C: 3, H: t.Size, W: t.Size, Pix: planes}, rand.New(rng))
			s.norm.writePlanes(planes, t.Size, dst)
		case err == nil:
			s.norm.writeCHW(d.out, t.Size, flip, dst)
		}
		if err != nil {
			s.skip(path, err)
		} else {
			j.p.batch.Y[j.slot] = s.folder.Label(i)
			j.p.ok[j.slot] = true
			s.decoded.Add(1)
		}
		if j.p.left.Add(-1) == 0 {
			close(j.p.done)
		}
	}
}

// skip counts a file that could not be read and names it the first time.
func (s *folderStream) skip(path string, err error) {
	s.skipped.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bad[path] {
		return
	}
	if len(s.bad) < maxBadFiles {
		s.bad[path] = true
	}
	fmt.Fprintf(s.cfg.Log, "skipping an image that cannot be read: %v\n", err)
}

// compact removes the slots of skipped images from the batch.
func (p *pending) compact() *Batch {
	b := p.batch
	sz := b.C * b.H * b.W
	k := 0
	for j, ok := range p.ok {
		if !ok {
			continue
		}
		if k != j {
			copy(b.X[k*sz:(k+1)*sz], b.X[j*sz:(j+1)*sz])
			b.Y[k] = b.Y[j]
		}
		k++
	}
	b.N, b.X, b.Y = k, b.X[:k*sz], b.Y[:k]
	return b
}

func (s *folderStream) stats() LoaderStats {
	st := LoaderStats{Decoded: s.decoded.Load(), Skipped: s.skipped.Load()}
	s.mu.Lock()
	for p := range s.bad {
		st.BadFiles = append(st.BadFiles, p)
	}
	s.mu.Unlock()
	sort.Strings(st.BadFiles)
	return st
}

// String describes the stream for logs.
func (s *folderStream) String() string {
	t := s.cfg.Transform
	kind := fmt.Sprintf("Resize(%d)+CenterCrop(%d)", t.Resize, t.Size)
	if t.Train {
		kind = fmt.Sprintf("RandomResizedCrop(%d, scale=%v, ratio=%v)", t.Size, t.Scale, t.Ratio)
		if !t.NoFlip {
			kind += "+flip"
		}
	}
	return strings.Join([]string{s.folder.Root, kind, fmt.Sprintf("%d workers", s.cfg.Workers)}, ", ")
}

// ScanImageNet indexes an ImageNet-layout folder, dir/train/<class>/… and
// dir/val/<class>/…, for streaming. The validation split takes the
// training split's class folders, so that labels agree (a class missing
// from val/ is an error); opts' per-class selection applies to train/
// only.
func ScanImageNet(dir string, opts FolderOptions) (train, val *ImageFolder, err error) {
	if train, err = ScanImageFolder(filepath.Join(dir, "train"), opts); err != nil {
		return nil, nil, err
	}
	vo := FolderOptions{Classes: train.ClassNames}
	if val, err = ScanImageFolder(filepath.Join(dir, "val"), vo); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}
