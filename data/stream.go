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

// Label is the class of image i; −1 in a folder without labels.
func (f *ImageFolder) Label(i int) int64 {
	if f.labels == nil {
		return -1
	}
	return int64(f.labels[i])
}

// Labels lists every image's class, in order (nil without labels).
func (f *ImageFolder) Labels() []int64 {
	if f.labels == nil {
		return nil
	}
	out := make([]int64, len(f.labels))
	for i, l := range f.labels {
		out[i] = int64(l)
	}
	return out
}

// WithoutLabels returns f with its labels removed (the file names are
// shared): the unlabeled stream of semi-supervised training, which then
// cannot read a label even by mistake.
func (f *ImageFolder) WithoutLabels() *ImageFolder {
	out := *f
	out.labels = nil
	return &out
}

// Classes is the number of classes.
func (f *ImageFolder) Classes() int { return len(f.ClassNames) }

// Subset is the folder of f's images idx, in that order, with f's
// classes (a validation split held out of a training folder).
func (f *ImageFolder) Subset(idx []int) *ImageFolder {
	sub := &ImageFolder{Root: f.Root, ClassNames: f.ClassNames, ends: make([]uint32, len(idx))}
	if f.labels != nil {
		sub.labels = make([]int32, len(idx))
	}
	prefix := len(filepath.Clean(f.Root)) + 1
	for k, i := range idx {
		sub.names = append(sub.names, f.Path(i)[prefix:]...)
		sub.ends[k] = uint32(len(sub.names))
		if f.labels != nil {
			sub.labels[k] = f.labels[i]
		}
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

// folderDecoder decodes images of a folder into normalized batches with a
// pool of workers, counting and naming the files it cannot read. Each
// image is decoded once per view: a transform, then RandAugment if set.
type folderDecoder struct {
	folder    *ImageFolder
	views     []view
	norm      *normalizer
	workers   int
	prefetch  int
	maxPixels int64
	goDecoder bool
	log       io.Writer

	decoded, skipped atomic.Int64
	mu               sync.Mutex
	bad              map[string]bool
}

// view is one rendering of an image.
type view struct {
	t  ImageTransform
	ra *RandAugment
}

// folderStream is a Loader's streaming source.
type folderStream struct {
	*folderDecoder
	cfg StreamConfig
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
	if err := checkShard(cfg.Shard, cfg.Shards); err != nil {
		return nil, err
	}
	d, err := newFolderDecoder(f, []view{{cfg.Transform, cfg.RandAugment}}, cfg.Workers, cfg.Prefetch, cfg.MaxPixels, cfg.GoDecoder, cfg.Log)
	if err != nil {
		return nil, err
	}
	cfg.Transform, cfg.Workers, cfg.Prefetch, cfg.Log = d.views[0].t, d.workers, d.prefetch, d.log
	s := &folderStream{folderDecoder: d, cfg: cfg}
	return &Loader{stream: s, cfg: LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: cfg.Shuffle, DropLast: cfg.DropLast, Seed: cfg.Seed, Prefetch: cfg.Prefetch,
		Shard: cfg.Shard, Shards: cfg.Shards, EvenShards: cfg.EvenShards}}, nil
}

// newFolderDecoder checks the views and fills in the defaults: workers
// GOMAXPROCS, prefetch 2, log os.Stderr. The views must be of one size;
// the first one's mean and std normalize them all.
func newFolderDecoder(f *ImageFolder, views []view, workers, prefetch int, maxPixels int64, goDecoder bool, log io.Writer) (*folderDecoder, error) {
	d := &folderDecoder{folder: f, workers: workers, prefetch: prefetch, maxPixels: maxPixels, goDecoder: goDecoder, log: log, bad: map[string]bool{}}
	for _, v := range views {
		t, err := v.t.withDefaults()
		if err != nil {
			return nil, fmt.Errorf("image folder %s: %w", f.Root, err)
		}
		if len(d.views) > 0 && t.Size != d.views[0].t.Size {
			return nil, fmt.Errorf("image folder %s: views of %d and %d pixels", f.Root, d.views[0].t.Size, t.Size)
		}
		if v.ra != nil {
			if err := v.ra.Check(3); err != nil {
				return nil, fmt.Errorf("image folder %s: %w", f.Root, err)
			}
		}
		d.views = append(d.views, view{t, v.ra})
	}
	t := d.views[0].t
	d.norm = newNormalizer(t.Mean, t.Std)
	if d.workers < 1 {
		d.workers = runtime.GOMAXPROCS(0)
	}
	if d.prefetch < 1 {
		d.prefetch = 2
	}
	if d.log == nil {
		d.log = os.Stderr
	}
	return d, nil
}

// pending is a batch being decoded: one slot per image in every view,
// and a count of the images still to come.
type pending struct {
	idx  []int
	xs   [][]float32 // by view: len(idx) normalized 3×Size×Size images
	y    []int64     // labels
	ok   []bool
	rng  func(view, i int) *sampleRNG // image i's draws in a view
	left atomic.Int32
	done chan struct{}
}

type decodeJob struct {
	p    *pending
	slot int
}

// newPending is the batch of the images at idx, drawing with rng.
func (d *folderDecoder) newPending(idx []int, rng func(view, i int) *sampleRNG) *pending {
	size := d.views[0].t.Size
	p := &pending{idx: idx, y: make([]int64, len(idx)), ok: make([]bool, len(idx)), rng: rng, done: make(chan struct{})}
	for range d.views {
		p.xs = append(p.xs, make([]float32, len(idx)*3*size*size))
	}
	p.left.Store(int32(len(idx)))
	return p
}

// decode decodes the batches next returns (nil: no more), at most
// prefetch at a time, with the workers, and hands each complete one to
// emit, in order, until next is exhausted, emit returns false or ctx is
// done. No worker outlives it.
func (d *folderDecoder) decode(ctx context.Context, next func() *pending, emit func(*pending) bool) {
	ctx, cancel := context.WithCancel(ctx)
	jobs := make(chan decodeJob, 64)
	inFlight := make(chan *pending, d.prefetch)
	var wg sync.WaitGroup
	for w := 0; w < d.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(jobs)
		}()
	}
	go d.dispatch(ctx, next, jobs, inFlight)
	defer func() { cancel(); wg.Wait() }()
	for p := range inFlight {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
		if !emit(p) {
			return
		}
	}
}

// dispatch queues each batch (inFlight bounds how many exist at once) and
// its images' decoding jobs; it closes both channels when done.
func (d *folderDecoder) dispatch(ctx context.Context, next func() *pending, jobs chan<- decodeJob, inFlight chan<- *pending) {
	defer close(jobs)
	defer close(inFlight)
	for p := next(); p != nil; p = next() {
		select {
		case inFlight <- p:
		case <-ctx.Done():
			return
		}
		for j := range p.idx {
			select {
			case jobs <- decodeJob{p, j}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// work decodes jobs until the channel closes.
func (d *folderDecoder) work(jobs <-chan decodeJob) {
	dec := newImageDecoder(d.maxPixels)
	defer dec.close()
	if d.goDecoder {
		dec.tj.close()
		dec.tj = nil
	}
	size := d.views[0].t.Size
	sz := 3 * size * size
	planes := make([]uint8, sz) // RandAugment's image
	for j := range jobs {
		i := j.p.idx[j.slot]
		path := d.folder.Path(i)
		var err error
		for v := range d.views {
			if err = d.render(dec, path, v, j.p.rng(v, i), planes, j.p.xs[v][j.slot*sz:(j.slot+1)*sz]); err != nil {
				break
			}
		}
		if err != nil {
			d.skip(path, err)
		} else {
			j.p.y[j.slot] = d.folder.Label(i)
			j.p.ok[j.slot] = true
			d.decoded.Add(1)
		}
		if j.p.left.Add(-1) == 0 {
			close(j.p.done)
		}
	}
}

// render decodes the file at path in view v, drawing from rng, and writes
// it normalized into dst.
func (d *folderDecoder) render(dec *imageDecoder, path string, v int, rng *sampleRNG, planes []uint8, dst []float32) error {
	vw := &d.views[v]
	flip, err := dec.load(path, &vw.t, rng)
	if err != nil {
		return err
	}
	size := vw.t.Size
	if vw.ra == nil {
		d.norm.writeCHW(dec.out, size, flip, dst)
		return nil
	}
	planesCHWFlip(dec.out, size, flip, planes)
	if err := vw.ra.Apply(Image8{C: 3, H: size, W: size, Pix: planes}, rand.New(rng)); err != nil {
		return err
	}
	d.norm.writePlanes(planes, size, dst)
	return nil
}

// skip counts a file that could not be read and names it the first time.
func (d *folderDecoder) skip(path string, err error) {
	d.skipped.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bad[path] {
		return
	}
	if len(d.bad) < maxBadFiles {
		d.bad[path] = true
	}
	fmt.Fprintf(d.log, "skipping an image that cannot be read: %v\n", err)
}

// compact removes the slots of skipped images from every view and returns
// how many images are left.
func (p *pending) compact() int {
	k := 0
	for j, ok := range p.ok {
		if !ok {
			continue
		}
		if k != j {
			for _, x := range p.xs {
				sz := len(x) / len(p.ok)
				copy(x[k*sz:(k+1)*sz], x[j*sz:(j+1)*sz])
			}
			p.y[k] = p.y[j]
		}
		k++
	}
	for v, x := range p.xs {
		p.xs[v] = x[:k*(len(x)/max(len(p.ok), 1))]
	}
	p.y = p.y[:k]
	return k
}

// epoch streams epoch e, the positions of its order that shard picks,
// batches of them.
func (s *folderStream) epoch(ctx context.Context, e int, batches int, shard func([]int) []int, out chan<- *Batch) {
	defer close(out)
	var order []int
	if s.cfg.Shuffle {
		order = shuffled(s.folder.Len(), s.cfg.Seed+int64(e))
	} else {
		order = make([]int, s.folder.Len())
		for i := range order {
			order[i] = i
		}
	}
	order = shard(order)
	rng := func(_, i int) *sampleRNG { return newSampleRNG(s.cfg.Seed, e, i) }
	b := 0
	next := func() *pending {
		if b == batches {
			return nil
		}
		lo, hi := b*s.cfg.BatchSize, min((b+1)*s.cfg.BatchSize, len(order))
		b++
		return s.newPending(order[lo:hi], rng)
	}
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
	size := s.views[0].t.Size
	s.decode(ctx, next, func(p *pending) bool {
		k := p.compact()
		if k == 0 {
			if s.cfg.EvenShards && s.cfg.Shards > 1 {
				owed++
			}
			return true
		}
		b := &Batch{X: p.xs[0], Y: p.y, N: k, C: 3, H: size, W: size}
		for ; owed >= 0; owed-- {
			if !send(b) {
				return false
			}
		}
		owed, last = 0, b
		return true
	})
	for ; owed > 0 && last != nil && ctx.Err() == nil; owed-- {
		if !send(last) {
			return
		}
	}
}

func (d *folderDecoder) stats() LoaderStats {
	st := LoaderStats{Decoded: d.decoded.Load(), Skipped: d.skipped.Load()}
	d.mu.Lock()
	for p := range d.bad {
		st.BadFiles = append(st.BadFiles, p)
	}
	d.mu.Unlock()
	sort.Strings(st.BadFiles)
	return st
}

// String describes the stream for logs.
func (s *folderStream) String() string {
	t := s.views[0].t
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
