package data

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"io/fs"
	"math"
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
}

// LoadImageFolder reads an ImageNet-style tree of images, root/<class>/…,
// into memory as size×size RGB images with one class per folder of root.
// Files ending in .jpg, .jpeg or .png (any case) anywhere under a class
// folder are images; other files, and files and folders whose names begin
// with a dot, are ignored. The format is sniffed from the content, so a PNG
// named .JPEG (ImageNet has one) still loads. Grayscale, CMYK, paletted and
// 16-bit images are converted to 8-bit RGB; an alpha channel is dropped.
//
// Each image is resized so that its shorter side is opts.Resize (default
// size) pixels, the longer side scaled in proportion and rounded down, with
// antialiased bilinear interpolation (a triangle filter widened by the
// shrink factor, as Pillow's BILINEAR and hence torchvision's Resize on PIL
// images do). The centre size×size square is then cropped, its offset
// rounded as torchvision's CenterCrop rounds it. Pixel values may differ
// from Pillow's by a level or two: Go's JPEG decoder upsamples chroma
// differently from libjpeg, and the filter keeps full precision between its
// two passes.
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
	n, sz := len(paths), im.C*im.H*im.W
	workers := opts.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "%s: loading %d images of %d classes on %d workers\n", root, n, im.Classes, workers)
	}
	type result struct {
		i   int
		err error
	}
	jobs := make(chan int)
	results := make(chan result, workers)
	var stop atomic.Bool
	go func() {
		defer close(jobs)
		for i := 0; i < n && !stop.Load(); i++ {
			jobs <- i
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- result{i, decodeInto(paths[i], im.H, resize, im.Pixels[i*sz:(i+1)*sz])}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()

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
		k := 0
		for i := 0; i < n; i++ {
			if skip[i] {
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
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "%s: loaded %d images in %.1fs", root, im.N, time.Since(start).Seconds())
		if skipped > 0 {
			fmt.Fprintf(opts.Progress, ", skipped %d that could not be read", skipped)
		}
		fmt.Fprintln(opts.Progress)
	}
	return nil
}

// decodeInto decodes the image at path, resizes its shorter side to resize,
// crops the centre size×size square and writes it into dst as 3 planes.
// Errors name the file.
func decodeInto(path string, size, resize int, dst []uint8) error {
	f, err := os.Open(path)
	if err != nil {
		return err // *PathError names the file
	}
	defer f.Close()
	br := bufio.NewReader(f)
	cfg, _, err := image.DecodeConfig(br)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return fmt.Errorf("%s: %d×%d pixels is not a plausible image size", path, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	br.Reset(f)
	img, _, err := image.Decode(br)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rgb, w, h := toRGB(img)
	resizeCrop(rgb, w, h, size, resize, dst)
	return nil
}

// toRGB returns img as interleaved 8-bit R, G, B rows. Alpha is dropped
// (the colour values are kept, not blended onto black), as Pillow's
// convert("RGB") does.
func toRGB(img image.Image) (rgb []uint8, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	rgb = make([]uint8, w*h*3)
	switch m := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			row := rgb[y*w*3:]
			for x := 0; x < w; x++ {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				row[3*x], row[3*x+1], row[3*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			row := rgb[y*w*3:]
			for x := 0; x < w; x++ {
				v := src[x]
				row[3*x], row[3*x+1], row[3*x+2] = v, v, v
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			row := rgb[y*w*3:]
			for x := 0; x < w; x++ {
				p := src[4*x : 4*x+4]
				row[3*x], row[3*x+1], row[3*x+2] = color.CMYKToRGB(p[0], p[1], p[2], p[3])
			}
		}
	case *image.NRGBA:
		rgbaRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, rgb)
	case *image.RGBA: // Go's PNG decoder uses RGBA only for opaque images
		rgbaRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, rgb)
	default:
		for y := 0; y < h; y++ {
			row := rgb[y*w*3:]
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				row[3*x], row[3*x+1], row[3*x+2] = c.R, c.G, c.B
			}
		}
	}
	return rgb, w, h
}

func rgbaRows(pix []uint8, stride, off, w, h int, rgb []uint8) {
	for y := 0; y < h; y++ {
		src := pix[off+y*stride:]
		row := rgb[y*w*3:]
		for x := 0; x < w; x++ {
			row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
		}
	}
}

// resizedSize is the size of a w×h image whose shorter side is resized to
// s, the other side scaled in proportion and rounded down (as torchvision's
// Resize with one number).
func resizedSize(w, h, s int) (rw, rh int) {
	if w <= h {
		return s, max(1, s*h/w)
	}
	return max(1, s*w/h), s
}

// centreOffset is where a crop of c starts in a length of n, rounded as
// torchvision's CenterCrop rounds it (half to even).
func centreOffset(n, c int) int {
	return int(math.RoundToEven(float64(n-c) / 2))
}

// resizeCrop resizes the w×h interleaved RGB image so that its shorter side
// is resize, and writes the centre size×size square into dst as R, G and B
// planes. Only the rows and columns that the crop needs are computed.
func resizeCrop(rgb []uint8, w, h, size, resize int, dst []uint8) {
	rw, rh := resizedSize(w, h, resize)
	xs := filterWeights(w, rw, centreOffset(rw, size), size)
	ys := filterWeights(h, rh, centreOffset(rh, size), size)
	// Horizontal pass over the input rows the vertical pass reads.
	y0, y1 := ys.start[0], ys.start[size-1]+ys.count[size-1]
	tmp := make([]float32, (y1-y0)*size*3)
	for y := y0; y < y1; y++ {
		src := rgb[y*w*3 : (y+1)*w*3]
		out := tmp[(y-y0)*size*3:]
		for j := 0; j < size; j++ {
			var r, g, b float32
			s := src[xs.start[j]*3:]
			for k, wt := range xs.weights(j) {
				r += wt * float32(s[3*k])
				g += wt * float32(s[3*k+1])
				b += wt * float32(s[3*k+2])
			}
			out[3*j], out[3*j+1], out[3*j+2] = r, g, b
		}
	}
	// Vertical pass, written as planes.
	plane := size * size
	for i := 0; i < size; i++ {
		wts := ys.weights(i)
		base := (ys.start[i] - y0) * size * 3
		for j := 0; j < size; j++ {
			var r, g, b float32
			for k, wt := range wts {
				p := tmp[base+k*size*3+3*j:]
				r += wt * p[0]
				g += wt * p[1]
				b += wt * p[2]
			}
			o := i*size + j
			dst[o], dst[plane+o], dst[2*plane+o] = clampByte(r), clampByte(g), clampByte(b)
		}
	}
}

func clampByte(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// weights1D holds, for each output pixel, the first input pixel it reads,
// how many it reads, and their normalized weights (stride wide apart).
type weights1D struct {
	start, count []int
	w            []float32
	stride       int
}

func (c *weights1D) weights(j int) []float32 {
	return c.w[j*c.stride : j*c.stride+c.count[j]]
}

// filterWeights computes the weights of an antialiased bilinear (triangle)
// filter that resamples in input pixels to out, for the outputs from,
// from+1, …, from+n-1; it follows Pillow's precompute_coeffs.
func filterWeights(in, out, from, n int) *weights1D {
	scale := float64(in) / float64(out)
	fscale := math.Max(scale, 1)
	support := fscale // the triangle's support is 1, widened when shrinking
	stride := int(math.Ceil(support))*2 + 1
	c := &weights1D{start: make([]int, n), count: make([]int, n), w: make([]float32, n*stride), stride: stride}
	for j := 0; j < n; j++ {
		centre := (float64(from+j) + 0.5) * scale
		lo := max(int(centre-support+0.5), 0)
		hi := min(int(centre+support+0.5), in)
		ws := c.w[j*stride : j*stride+hi-lo]
		var sum float64
		wd := make([]float64, hi-lo)
		for k := range wd {
			t := math.Abs((float64(lo+k) - centre + 0.5) / fscale)
			if t < 1 {
				wd[k] = 1 - t
				sum += wd[k]
			}
		}
		for k := range wd {
			if sum > 0 {
				ws[k] = float32(wd[k] / sum)
			}
		}
		c.start[j], c.count[j] = lo, hi-lo
	}
	return c
}
