package data

import (
	"fmt"
	"math"
)

// ImageTransform says how a decoded image becomes a training or an
// evaluation input, with torchvision's semantics on PIL images. The zero
// value is ImageNet's evaluation transform at 224 pixels.
type ImageTransform struct {
	// Size is the side of the square output; 0 means 224 (EfficientNet-B7
	// uses 600).
	Size int
	// Train selects torchvision's training transform,
	// RandomResizedCrop(Size, Scale, Ratio) and RandomHorizontalFlip;
	// otherwise the evaluation transform Resize(Resize) and
	// CenterCrop(Size).
	Train bool
	// Resize is the length the shorter side is resized to before the
	// evaluation's centre crop; 0 means Size·256/224 rounded down (256 for
	// 224, torchvision's ImageNet recipe). It must not be below Size.
	Resize int
	// Scale bounds the crop's area as a fraction of the image's; zero
	// means (0.08, 1).
	Scale [2]float64
	// Ratio bounds the crop's aspect ratio (width/height); zero means
	// (3/4, 4/3).
	Ratio [2]float64
	// NoFlip turns the training transform's horizontal flip off.
	NoFlip bool
	// Mean and Std normalize each RGB channel on the 0..1 scale; zero
	// means ImageNet's, (0.485, 0.456, 0.406) and (0.229, 0.224, 0.225).
	Mean, Std [3]float32
	// ExactDecode decodes every JPEG at full size, so that the output is
	// the same bytes as torchvision's on PIL. By default a JPEG at least
	// twice as large as the region the output needs is decoded at a
	// reduced scale (libjpeg's DCT-domain scaling by 1/2, 1/4 or 1/8,
	// never below the needed size) and then resampled as usual: faster on
	// large photographs, and the result differs from full-size decoding
	// only as two good low-pass filters differ (0.3 levels on average in
	// TestTransformsMatchTorchvision).
	ExactDecode bool
}

// withDefaults fills zero fields and checks the rest.
func (t ImageTransform) withDefaults() (ImageTransform, error) {
	if t.Size == 0 {
		t.Size = 224
	}
	if t.Size < 1 || t.Size > 4096 {
		return t, fmt.Errorf("image transform: size %d: want 1..4096", t.Size)
	}
	if t.Resize == 0 {
		t.Resize = t.Size * 256 / 224
	}
	if t.Resize < t.Size {
		return t, fmt.Errorf("image transform: resize %d is smaller than the %d-pixel crop", t.Resize, t.Size)
	}
	if t.Scale == [2]float64{} {
		t.Scale = [2]float64{0.08, 1}
	}
	if t.Ratio == [2]float64{} {
		t.Ratio = [2]float64{3.0 / 4, 4.0 / 3}
	}
	if !(t.Scale[0] > 0 && t.Scale[0] <= t.Scale[1]) || !(t.Ratio[0] > 0 && t.Ratio[0] <= t.Ratio[1]) {
		return t, fmt.Errorf("image transform: scale %v and ratio %v: want 0 < min ≤ max", t.Scale, t.Ratio)
	}
	if t.Mean == [3]float32{} && t.Std == [3]float32{} {
		copy(t.Mean[:], imagenetMean)
		copy(t.Std[:], imagenetStd)
	}
	for _, s := range t.Std {
		if !(s > 0) {
			return t, fmt.Errorf("image transform: std %v: want positive values", t.Std)
		}
	}
	return t, nil
}

// cropBox is a region of the source image in pixels: the left column, top
// row, width and height.
type cropBox struct{ x, y, w, h int }

// randomResizedCrop draws a crop of a w×h image as torchvision's
// RandomResizedCrop.get_params does: up to 10 tries of an area fraction
// uniform in scale and an aspect ratio log-uniform in ratio, side lengths
// rounded half to even (Python's round), kept when both fit, at a uniform
// position; after 10 misses, the centre crop of the largest region whose
// aspect ratio is clamped into ratio.
func randomResizedCrop(w, h int, scale, ratio [2]float64, rng *sampleRNG) cropBox {
	area := float64(w * h)
	lr0, lr1 := math.Log(ratio[0]), math.Log(ratio[1])
	for try := 0; try < 10; try++ {
		target := area * rng.uniform(scale[0], scale[1])
		ar := math.Exp(rng.uniform(lr0, lr1))
		cw := int(math.RoundToEven(math.Sqrt(target * ar)))
		ch := int(math.RoundToEven(math.Sqrt(target / ar)))
		if 0 < cw && cw <= w && 0 < ch && ch <= h {
			y := rng.intn(h - ch + 1)
			x := rng.intn(w - cw + 1)
			return cropBox{x, y, cw, ch}
		}
	}
	in := float64(w) / float64(h)
	cw, ch := w, h
	switch {
	case in < ratio[0]:
		ch = int(math.RoundToEven(float64(w) / ratio[0]))
	case in > ratio[1]:
		cw = int(math.RoundToEven(float64(h) * ratio[1]))
	}
	return cropBox{(w - cw) / 2, (h - ch) / 2, cw, ch}
}

// sampleRNG is a small deterministic generator (SplitMix64) seeded per
// image and epoch, so that an image's crop and flip do not depend on which
// worker decodes it or when.
type sampleRNG struct{ s uint64 }

// newSampleRNG seeds a generator from the loader's seed, the epoch and the
// image's index in the dataset.
func newSampleRNG(seed int64, epoch, index int) *sampleRNG {
	r := &sampleRNG{uint64(seed)}
	r.s ^= r.next() + uint64(epoch)*0x9e3779b97f4a7c15
	r.s ^= r.next() + uint64(index)*0xbf58476d1ce4e5b9
	r.next()
	return r
}

func (r *sampleRNG) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform is uniform on [a, b).
func (r *sampleRNG) uniform(a, b float64) float64 {
	return a + (b-a)*float64(r.next()>>11)/(1<<53)
}

// intn is uniform on 0..n-1 (n ≥ 1); the bias of the modulo is below 2^-40
// for any image size.
func (r *sampleRNG) intn(n int) int { return int(r.next() % uint64(n)) }

// plan is what the transform does to one image of w×h pixels: resample
// the source region box (in source pixels) to an out×out image, taking
// outputs from, from+1, … of a resize of the region to outW×outH, and
// flip it.
type plan struct {
	box        cropBox
	outW, outH int // the size the whole box is resized to
	fromX      int // first output column and row kept (the centre crop)
	fromY      int
	flip       bool
}

// planFor draws (training) or computes (evaluation) the plan for one w×h
// image.
func (t *ImageTransform) planFor(w, h int, rng *sampleRNG) plan {
	if t.Train {
		p := plan{box: randomResizedCrop(w, h, t.Scale, t.Ratio, rng), outW: t.Size, outH: t.Size}
		p.flip = !t.NoFlip && rng.next()&1 == 1
		return p
	}
	rw, rh := resizedSize(w, h, t.Resize)
	return plan{box: cropBox{0, 0, w, h}, outW: rw, outH: rh,
		fromX: centreOffset(rw, t.Size), fromY: centreOffset(rh, t.Size)}
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
