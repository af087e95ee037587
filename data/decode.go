package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode (CMYK JPEGs, the noturbojpeg build)
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"math"
	"os"
)

// DefaultMaxPixels is the largest image (width × height, as its header
// claims) a loader decodes when its settings give no limit: ImageNet's
// largest photographs have about 10^7 pixels, and a header that claims
// 20,000×20,000 is refused before anything is allocated for it.
const DefaultMaxPixels = 1 << 27

// maxImageFile bounds the bytes read for one image file.
const maxImageFile = 256 << 20

// dctScales are the reduced scales, in eighths, the decoder uses: 1/8,
// 1/4 and 1/2, whose inverse DCTs libjpeg-turbo runs in SIMD. The other
// eighths run in plain C and were measured no faster than decoding at
// full size (autodropout bench, images section).
var dctScales = []int{1, 2, 4}

// keepBuffer is the largest decoding buffer a worker keeps between images;
// a larger one (a huge image) is released after use.
const keepBuffer = 64 << 20

// imageDecoder reads, decodes and transforms images. A worker owns one;
// its buffers are reused from image to image.
type imageDecoder struct {
	tj        *turboDecoder // nil: Go's decoders only
	maxPixels int64
	file      []byte // the file's bytes
	rgb       []byte // the decoded image, interleaved RGB
	tmp       []byte // the resampler's intermediate rows
	out       []byte // the transformed size×size image, interleaved RGB
}

func newImageDecoder(maxPixels int64) *imageDecoder {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	d := &imageDecoder{maxPixels: maxPixels}
	if turboAvailable {
		d.tj, _ = newTurboDecoder() // without it, Go's decoder serves
	}
	return d
}

func (d *imageDecoder) close() { d.tj.close() }

// load reads the image at path and applies t (a training transform draws
// its crop and flip from rng), leaving the t.Size×t.Size result in d.out.
// It returns whether the result is to be flipped. Errors name the file.
func (d *imageDecoder) load(path string, t *ImageTransform, rng *sampleRNG) (flip bool, err error) {
	return d.loadWith(path, t, func(w, h int) plan { return t.planFor(w, h, rng) })
}

// loadWith is load with the plan for a w×h image given by planFor.
func (d *imageDecoder) loadWith(path string, t *ImageTransform, planFor func(w, h int) plan) (flip bool, err error) {
	if err := d.read(path); err != nil {
		return false, err
	}
	defer d.trim()
	if d.tj != nil && len(d.file) > 3 && d.file[0] == 0xff && d.file[1] == 0xd8 {
		w, h, cs, err := d.tj.header(d.file)
		if err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if err := d.checkSize(w, h); err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
		if cs == jpegRGBLike {
			p := planFor(w, h)
			num := 8
			if !t.ExactDecode {
				num = dctScale(p)
			}
			sw, sh := scaledSize(w, num), scaledSize(h, num)
			d.rgb = grow(d.rgb, sw*sh*3)
			if err := d.tj.decode(d.file, w, h, num, d.rgb); err != nil {
				return false, fmt.Errorf("%s: %w", path, err)
			}
			d.render(sw, sh, float64(num)/8, p, t.Size)
			return p.flip, nil
		}
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(d.file))
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if err := d.checkSize(cfg.Width, cfg.Height); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	img, _, err := image.Decode(bytes.NewReader(d.file))
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	var w, h int
	d.rgb, w, h = toRGB(img, d.rgb)
	p := planFor(w, h)
	d.render(w, h, 1, p, t.Size)
	return p.flip, nil
}

// read reads the file into d.file.
func (d *imageDecoder) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err // *PathError names the file
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > maxImageFile {
		return fmt.Errorf("%s: %d bytes is larger than an image file may be (%d)", path, st.Size(), maxImageFile)
	}
	d.file = grow(d.file, int(st.Size()))
	if _, err := io.ReadFull(f, d.file); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(d.file) == 0 {
		return fmt.Errorf("%s: empty file", path)
	}
	return nil
}

func (d *imageDecoder) checkSize(w, h int) error {
	if w < 1 || h < 1 || int64(w)*int64(h) > d.maxPixels {
		return fmt.Errorf("the header claims %d×%d pixels, beyond the limit of %d pixels", w, h, d.maxPixels)
	}
	return nil
}

// trim releases buffers a huge image left behind.
func (d *imageDecoder) trim() {
	if cap(d.rgb) > keepBuffer {
		d.rgb = nil
	}
	if cap(d.file) > keepBuffer {
		d.file = nil
	}
	if cap(d.tmp) > keepBuffer {
		d.tmp = nil
	}
}

// render resamples d.rgb, an sw×sh image decoded at scale s of the
// original that p refers to, into d.out.
func (d *imageDecoder) render(sw, sh int, s float64, p plan, size int) {
	xs := axisFor(p.box.x, p.box.w, sw, s, p.outW, p.fromX, size)
	ys := axisFor(p.box.y, p.box.h, sh, s, p.outH, p.fromY, size)
	d.out = grow(d.out, size*size*3)
	d.tmp = resampleRGB(d.rgb, sw, xs, ys, d.out, d.tmp)
}

// axisFor is the filter along one axis that resizes the source interval
// [x0, x0+n) to outSize pixels and keeps count of them from from. At full
// scale (s = 1) the interval is a crop taken first, as torchvision takes
// it; at a reduced scale its ends become fractional and the filter reads
// the decoded pixels that cover them.
func axisFor(x0, n, scaledLen int, s float64, outSize, from, count int) *axisFilter {
	if s == 1 {
		return newAxisFilter(x0, x0+n, 0, float64(n), outSize, from, count)
	}
	a0, a1 := float64(x0)*s, float64(x0+n)*s
	lo := int(math.Floor(a0))
	hi := min(int(math.Ceil(a1)), scaledLen)
	return newAxisFilter(lo, hi, a0-float64(lo), min(a1, float64(hi))-float64(lo), outSize, from, count)
}

// dctScale is the smallest of dctScales at which the plan's source region
// still has at least as many pixels as its output along both axes; 8
// (full size) when none is, that is, unless the region is at least twice
// the output's size.
func dctScale(p plan) int {
	need := math.Max(float64(p.outW)/float64(p.box.w), float64(p.outH)/float64(p.box.h))
	for _, num := range dctScales {
		if float64(num)/8 >= need {
			return num
		}
	}
	return 8
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// toRGB returns img as interleaved 8-bit R, G, B rows, in buf when it is
// large enough, converted as Pillow's convert("RGB") converts: gray
// replicated, alpha dropped (the colour values are kept, not blended onto
// black), CMYK by Pillow's formula.
func toRGB(img image.Image, buf []byte) (rgb []uint8, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	rgb = grow(buf, w*h*3)
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
				row[3*x], row[3*x+1], row[3*x+2] = pillowCMYK(p[0], p[3]), pillowCMYK(p[1], p[3]), pillowCMYK(p[2], p[3])
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

// pillowCMYK is one channel of Pillow's cmyk2rgb: (255−K) − c·(255−K)/255,
// with Pillow's rounded division by 255.
func pillowCMYK(c, k uint8) uint8 {
	nk := 255 - int(k)
	t := int(c)*nk + 128
	return uint8(nk - ((t>>8)+t)>>8)
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

// normalizer turns 8-bit values into torchvision's normalized floats:
// ToTensor's v/255, then Normalize's (x − mean)/std, in float32 as torch
// computes them, through a table per channel.
type normalizer struct{ lut [3][256]float32 }

func newNormalizer(mean, std [3]float32) *normalizer {
	n := &normalizer{}
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			n.lut[c][v] = (float32(v)/float32(255) - mean[c]) / std[c]
		}
	}
	return n
}

// writeCHW writes the interleaved size×size RGB image rgb into dst as
// three normalized planes, mirrored left to right when flip is set.
func (n *normalizer) writeCHW(rgb []uint8, size int, flip bool, dst []float32) {
	plane := size * size
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for y := 0; y < size; y++ {
		src := rgb[y*size*3 : (y+1)*size*3]
		o := y * size
		for x := 0; x < size; x++ {
			sx := x
			if flip {
				sx = size - 1 - x
			}
			p := src[3*sx : 3*sx+3]
			r[o+x], g[o+x], b[o+x] = n.lut[0][p[0]], n.lut[1][p[1]], n.lut[2][p[2]]
		}
	}
}

// planesCHW writes the interleaved size×size RGB image rgb into dst as
// three 8-bit planes.
func planesCHW(rgb []uint8, size int, dst []uint8) {
	plane := size * size
	for i := 0; i < plane; i++ {
		dst[i], dst[plane+i], dst[2*plane+i] = rgb[3*i], rgb[3*i+1], rgb[3*i+2]
	}
}
