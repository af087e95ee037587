package data

import (
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ImageNet's per-channel statistics (RGB, 0..1 scale), as torchvision uses.
var imagenetMean, imagenetStd = []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}

// maxImagePixels bounds the allocation a hostile or corrupt image header
// can ask for (ImageNet's largest images have about 10^7 pixels).
const maxImagePixels = 1 << 28

// FolderOptions configures LoadImageFolder. The zero value loads every
// image of every class folder, resizing the shorter side to the crop size.
type FolderOptions struct {
	// Resize is the length the shorter side is resized to before the centre
	// crop; 0 means the crop size itself. Resize 256 with size 224 is
	// torchvision's usual ImageNet evaluation transform.
	Resize int

	// Classes, when set, are the class folders to load, in label order
	// (a missing one is an error). Otherwise every folder of root is a
	// class, in sorted order of the folder names.
	Classes []string

	// PerClass, when positive, loads at most this many images of each
	// class. The files of a class are shuffled by a generator seeded with
	// Seed and the class name, Offset images of that order are passed
	// over, and the next PerClass are taken; loads with the same Seed and
	// disjoint [Offset, Offset+PerClass) ranges share no image, which
	// carves a training and a validation subset out of one folder (the
	// paper's ImageNet search uses 80 and 5 images per class, 80,000 and
	// 5,000 in all). A class with fewer images gives what it has. The
	// selection depends only on Seed, the class name and the file names.
	PerClass, Offset int
	Seed             int64

	// Workers decode images concurrently; 0 means runtime.GOMAXPROCS(0).
	Workers int

	// Progress, when set, receives a line of progress about every 5% of
	// the images, and a summary at the end.
	Progress io.Writer

	// OnCorrupt, when set, is called (from one goroutine at a time) with
	// each image that cannot be opened or decoded, and the image is left
	// out of the dataset instead of failing the load. When nil, such an
	// image is an error naming the file.
	OnCorrupt func(path string, err error)

	// ExactDecode decodes JPEGs at full size (ImageTransform.ExactDecode).
	ExactDecode bool
	// MaxPixels refuses (as corrupt) an image whose header claims more
	// pixels; 0 means DefaultMaxPixels.
	MaxPixels int64
}

// LoadImageFolder reads an ImageNet-style tree of images, root/<class>/…,
// into memory as size×size RGB images with one class per folder of root.
// Files ending in .jpg, .jpeg or .png (any case) anywhere under a class
// folder are images; other files, and files and folders whose names begin
// with a dot, are ignored. The format is sniffed from the content, so a PNG
// named .JPEG (ImageNet has one) still loads. Grayscale, CMYK, paletted and
// 16-bit images are converted to 8-bit RGB; an alpha channel is dropped.
//
// Each image goes through the streaming loader's evaluation transform
// (ImageTransform with Size size and Resize opts.Resize): its shorter side
// resized to opts.Resize (default size) pixels, the longer side scaled in
// proportion and rounded down, with Pillow's antialiased bilinear filter
// (as torchvision's Resize on PIL images), then the centre size×size square
// cropped, its offset rounded as torchvision's CenterCrop rounds it. With
// opts.ExactDecode the pixels are torchvision's, byte for byte, for every
// image but CMYK JPEGs (decoded by Go, within a level or two).
//
// Images load concurrently on opts.Workers goroutines. The dataset holds
// N×3×size×size bytes (about 12 GB for 80,000 images at 224×224). Mean and
// Std are ImageNet's, (0.485, 0.456, 0.406) and (0.229, 0.224, 0.225), and
// ClassNames are the folder names.
func LoadImageFolder(root string, size int, opts FolderOptions) (*Images, error) {
	if size < 1 {
		return nil, fmt.Errorf("load image folder %s: image size %d: want at least 1", root, size)
	}
	resize := opts.Resize
	if resize == 0 {
		resize = size
	}
	if resize < size {
		return nil, fmt.Errorf("load image folder %s: resize %d is smaller than the %d-pixel crop", root, resize, size)
	}
	if opts.PerClass < 0 || opts.Offset < 0 {
		return nil, fmt.Errorf("load image folder %s: per-class limit %d and offset %d must not be negative", root, opts.PerClass, opts.Offset)
	}
	classes, err := classFolders(root, opts.Classes)
	if err != nil {
		return nil, fmt.Errorf("load image folder %s: %w", root, err)
	}
	var paths []string
	var labels []int64
	for label, class := range classes {
		files, err := imageFiles(filepath.Join(root, class))
		if err != nil {
			return nil, fmt.Errorf("load image folder %s: %w", root, err)
		}
		files = choose(files, class, opts)
		paths = append(paths, files...)
		for range files {
			labels = append(labels, int64(label))
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("load image folder %s: no images selected (offset %d passes over every class's images)", root, opts.Offset)
	}
	im := &Images{
		Name: filepath.Base(filepath.Clean(root)),
		N:    len(paths), C: 3, H: size, W: size,
		Pixels:     make([]uint8, len(paths)*3*size*size),
		Labels:     labels,
		Classes:    len(classes),
		Mean:       imagenetMean,
		Std:        imagenetStd,
		ClassNames: classes,
	}
	if err := im.decodeAll(root, paths, resize, opts); err != nil {
		return nil, err
	}
	return im, nil
}

// classFolders lists the class folders of root: want, checked, or every
// folder in sorted order.
func classFolders(root string, want []string) ([]string, error) {
	if len(want) > 0 {
		seen := map[string]bool{}
		for _, c := range want {
			if seen[c] {
				return nil, fmt.Errorf("class %q is listed twice", c)
			}
			seen[c] = true
			if c == "" || strings.ContainsAny(c, `/\`) || c == "." || c == ".." {
				return nil, fmt.Errorf("class %q is not a folder name", c)
			}
			st, err := os.Stat(filepath.Join(root, c))
			if err != nil {
				return nil, fmt.Errorf("class %q: %w", c, err)
			}
			if !st.IsDir() {
				return nil, fmt.Errorf("class %q: %s is not a folder", c, filepath.Join(root, c))
			}
		}
		return append([]string(nil), want...), nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var classes []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 { // follow links to folders
			st, err := os.Stat(filepath.Join(root, e.Name()))
			dir = err == nil && st.IsDir()
		}
		if dir {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("no class folders in %s (want %s/<class>/<image>.jpg)", root, filepath.ToSlash(root))
	}
	return classes, nil // sorted, as ReadDir sorts by name
}

// imageFiles lists the images under dir, in lexical order.
func imageFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jpg", ".jpeg", ".png":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("class folder %s has no .jpg, .jpeg or .png images", dir)
	}
	return files, nil
}

// choose applies the per-class limit: a seeded shuffle, then the window
// [Offset, Offset+PerClass), returned in file-name order.
func choose(files []string, class string, opts FolderOptions) []string {
	if opts.PerClass == 0 && opts.Offset == 0 {
		return files
	}
	h := fnv.New64a()
	h.Write([]byte(class))
	rng := rand.New(rand.NewSource(opts.Seed ^ int64(h.Sum64())))
	perm := rng.Perm(len(files))
	lo := min(opts.Offset, len(files))
	hi := len(files)
	if opts.PerClass > 0 {
		hi = min(lo+opts.PerClass, len(files))
	}
	idx := perm[lo:hi]
	sort.Ints(idx)
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = files[j]
	}
	return out
}

// decodeAll fills im.Pixels from paths with a pool of workers, then drops
// the images that OnCorrupt skipped.
func (im *Images) decodeAll(root string, paths []string, resize int, opts FolderOptions) error {
	n := len(paths)
	workers := opts.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "%s: loading %d images of %d classes on %d workers\n", root, n, im.Classes, workers)
	}
	t, err := (&ImageTransform{Size: im.H, Resize: resize, ExactDecode: opts.ExactDecode}).withDefaults()
	if err != nil {
		return fmt.Errorf("load image folder %s: %w", root, err)
	}
	var stop atomic.Bool
	results := im.decodeWorkers(paths, &t, workers, opts.MaxPixels, &stop)
	start := time.Now()
	skip := make([]bool, n)
	var firstErr error
	firstAt, done, skipped := n, 0, 0
	step := max(1, n/20)
	for r := range results {
		done++
		if r.err != nil {
			if opts.OnCorrupt != nil {
				opts.OnCorrupt(paths[r.i], r.err)
				skip[r.i] = true
				skipped++
			} else if r.i < firstAt {
				firstErr, firstAt = r.err, r.i
				stop.Store(true)
			}
		}
		if opts.Progress != nil && done%step == 0 && done < n && firstErr == nil {
			fmt.Fprintf(opts.Progress, "%s: %d/%d images (%.0fs)\n", root, done, n, time.Since(start).Seconds())
		}
	}
	if firstErr != nil {
		return fmt.Errorf("load image folder %s: %w", root, firstErr)
	}
	if skipped > 0 {
		im.drop(skip)
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "%s: loaded %d images in %.1fs", root, im.N, time.Since(start).Seconds())
		if skipped > 0 {
			fmt.Fprintf(opts.Progress, ", skipped %d that could not be read", skipped)
		}
		fmt.Fprintln(opts.Progress)
	}
	return nil
}

// decoded is the outcome of decoding image i.
type decoded struct {
	i   int
	err error
}

// decodeWorkers decodes paths[i] into image i of im with t on workers
// goroutines, each with its own decoder, until every image is done or
// stop is set; the channel closes when they are.
func (im *Images) decodeWorkers(paths []string, t *ImageTransform, workers int, maxPixels int64, stop *atomic.Bool) <-chan decoded {
	sz := im.C * im.H * im.W
	jobs := make(chan int)
	results := make(chan decoded, workers)
	go func() {
		defer close(jobs)
		for i := 0; i < len(paths) && !stop.Load(); i++ {
			jobs <- i
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := newImageDecoder(maxPixels)
			defer d.close()
			for i := range jobs {
				results <- decoded{i, decodeInto(d, paths[i], t, im.Pixels[i*sz:(i+1)*sz])}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	return results
}

// drop removes the images marked in skip, keeping the others' order.
func (im *Images) drop(skip []bool) {
	sz := im.C * im.H * im.W
	k := 0
	for i, s := range skip {
		if s {
			continue
		}
		if k != i {
			copy(im.Pixels[k*sz:(k+1)*sz], im.Pixels[i*sz:(i+1)*sz])
			im.Labels[k] = im.Labels[i]
		}
		k++
	}
	im.N, im.Pixels, im.Labels = k, im.Pixels[:k*sz:k*sz], im.Labels[:k:k]
}

// decodeInto decodes the image at path with d, applies the evaluation
// transform t and writes the result into dst as 3 planes. Errors name the
// file.
func decodeInto(d *imageDecoder, path string, t *ImageTransform, dst []uint8) error {
	if _, err := d.load(path, t, nil); err != nil {
		return err
	}
	planesCHW(d.out, t.Size, dst)
	return nil
}
