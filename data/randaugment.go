package data

import (
	"fmt"
	"math/rand"
)

// Image8 is one decoded 8-bit image in planar C×H×W order: the layout of
// one example of Images.Pixels and of a C×H×W uint8 tensor. RandAugment
// takes C = 1 (grayscale) or 3 (RGB).
type Image8 struct {
	C, H, W int
	Pix     []uint8 // len C·H·W; channel c, row y, column x at (c·H+y)·W+x
}

func (im Image8) check() error {
	if im.C < 1 || im.H < 1 || im.W < 1 || len(im.Pix) != im.C*im.H*im.W {
		return fmt.Errorf("image %d×%d×%d with %d pixels: want C·H·W pixels and positive sizes", im.C, im.H, im.W, len(im.Pix))
	}
	return nil
}

func (im Image8) plane(c int) []uint8 { return im.Pix[c*im.H*im.W : (c+1)*im.H*im.W] }

// RandAugment is the augmentation of Cubuk, Zoph, Shlens & Le (2020,
// "RandAugment: Practical automated data augmentation with a reduced search
// space") exactly as torchvision 0.14's transforms.RandAugment applies it
// to a uint8 tensor: Ops operations per image, each drawn uniformly from
// the 14 of RandAugmentOp, all at one Magnitude bin of Bins, the signed ops
// (shears, translations, rotation and the four enhancements) with a random
// sign; geometric ops sample the nearest pixel and fill what falls outside
// the image with Fill. Every operation reproduces torchvision's arithmetic
// (float32 where it computes in float32, truncation where it truncates), so
// that the outputs equal torchvision's pixel for pixel; the tests check
// each op on Fashion-MNIST and colour images against fixtures written by
// scripts/randaugment_fixtures.py.
//
// The zero value is torchvision's default, RandAugment(num_ops=2,
// magnitude=9, num_magnitude_bins=31, interpolation=NEAREST, fill=None).
// A zero field means that default; so bin 0 itself cannot be asked for
// (at bin 0 every op but Solarize, AutoContrast and Equalize is the
// identity), nor 0 ops (leave RandAugment off instead).
type RandAugment struct {
	Ops       int     // operations per image; 0 means 2
	Magnitude int     // magnitude bin in 1..Bins-1; 0 means 9
	Bins      int     // number of magnitude bins, at least 2; 0 means 31
	Fill      []uint8 // fill of the geometric ops: nil is 0, one value is every channel's, or one per channel
}

// RandAugmentOp is one of RandAugment's 14 operations, in torchvision's
// order (the order the uniform draw indexes).
type RandAugmentOp int

// The operations and what a magnitude m means for each (see Magnitudes for
// the range of m over the bins).
const (
	RAIdentity     RandAugmentOp = iota // the image unchanged
	RAShearX                            // x' = x + m·y about the top-left corner (m signed, up to 0.3)
	RAShearY                            // y' = y + m·x about the top-left corner
	RATranslateX                        // shift right by int(m) pixels (signed, up to 150/331 of the width)
	RATranslateY                        // shift down by int(m) pixels
	RARotate                            // rotate by m degrees anticlockwise about the centre (signed, up to 30)
	RABrightness                        // blend with black by factor 1+m (signed, up to 0.9)
	RAColor                             // blend with the grayscale image by 1+m (identity on grayscale)
	RAContrast                          // blend with the mean gray level by 1+m
	RASharpness                         // blend with a 3×3 smoothed image by 1+m
	RAPosterize                         // keep the int(m) high bits of each value (8 down to 4)
	RASolarize                          // invert values ≥ m (255 down to 0)
	RAAutoContrast                      // stretch each channel to 0..255
	RAEqualize                          // equalize each channel's histogram
	numRandAugmentOps
)

var raOpNames = [numRandAugmentOps]string{"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY",
	"Rotate", "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"}

// RandAugmentOps lists the 14 operations in torchvision's order.
func RandAugmentOps() []RandAugmentOp {
	ops := make([]RandAugmentOp, numRandAugmentOps)
	for i := range ops {
		ops[i] = RandAugmentOp(i)
	}
	return ops
}

// String returns torchvision's name of the op ("ShearX", …).
func (op RandAugmentOp) String() string {
	if op >= 0 && op < numRandAugmentOps {
		return raOpNames[op]
	}
	return fmt.Sprintf("RandAugmentOp(%d)", int(op))
}

// Signed reports whether RandAugment negates the op's magnitude with
// probability 1/2.
func (op RandAugmentOp) Signed() bool { return op >= RAShearX && op <= RASharpness }

// withDefaults fills the zero fields with torchvision's defaults.
func (ra RandAugment) withDefaults() RandAugment {
	if ra.Ops == 0 {
		ra.Ops = 2
	}
	if ra.Magnitude == 0 {
		ra.Magnitude = 9
	}
	if ra.Bins == 0 {
		ra.Bins = 31
	}
	return ra
}

// Check reports settings that cannot apply to images of c channels.
func (ra RandAugment) Check(c int) error {
	if err := ra.checkCounts(); err != nil {
		return err
	}
	switch {
	case c != 1 && c != 3:
		return fmt.Errorf("randaugment: images of %d channels: want 1 (grayscale) or 3 (RGB)", c)
	case len(ra.Fill) > 1 && len(ra.Fill) != c:
		return fmt.Errorf("randaugment: %d fill values for %d channels: want none, one, or one per channel", len(ra.Fill), c)
	}
	return nil
}

// checkCounts checks Ops, Magnitude and Bins.
func (ra RandAugment) checkCounts() error {
	d := ra.withDefaults()
	switch {
	case d.Ops < 0:
		return fmt.Errorf("randaugment: %d ops: want at least 1 (0 means 2)", ra.Ops)
	case d.Bins < 2:
		return fmt.Errorf("randaugment: %d magnitude bins: want at least 2 (0 means 31)", ra.Bins)
	case d.Magnitude < 0 || d.Magnitude >= d.Bins:
		return fmt.Errorf("randaugment: magnitude %d: want a bin in 1..%d (0 means 9)", ra.Magnitude, d.Bins-1)
	}
	return nil
}

// String describes the settings as torchvision's repr does.
func (ra RandAugment) String() string {
	d := ra.withDefaults()
	return fmt.Sprintf("randaugment(ops=%d magnitude=%d bins=%d fill=%v)", d.Ops, d.Magnitude, d.Bins, ra.Fill)
}

// RandAugmentStep is one drawn operation with its signed magnitude.
type RandAugmentStep struct {
	Op        RandAugmentOp
	Magnitude float64
}

// Draw draws the operations RandAugment applies to one h×w image, in
// torchvision's order of draws: for each op, its index uniformly in 0..13
// (rng.Intn(14)), then, for a signed op only, the sign (rng.Intn(2) == 1
// negates). It panics on settings Check rejects.
func (ra RandAugment) Draw(h, w int, rng *rand.Rand) []RandAugmentStep {
	d := ra.withDefaults()
	if err := d.checkCounts(); err != nil {
		panic(err)
	}
	steps := make([]RandAugmentStep, d.Ops)
	for i := range steps {
		op := RandAugmentOp(rng.Intn(int(numRandAugmentOps)))
		m := float64(raMagnitude(op, d.Bins, d.Magnitude, h, w))
		if op.Signed() && rng.Intn(2) == 1 {
			m = -m
		}
		steps[i] = RandAugmentStep{Op: op, Magnitude: m}
	}
	return steps
}

// Apply transforms img in place with the ops Draw draws from rng.
func (ra RandAugment) Apply(img Image8, rng *rand.Rand) error {
	if err := img.check(); err != nil {
		return fmt.Errorf("randaugment: %w", err)
	}
	if err := ra.Check(img.C); err != nil {
		return err
	}
	steps := ra.Draw(img.H, img.W, rng)
	src, dst := img, Image8{C: img.C, H: img.H, W: img.W, Pix: make([]uint8, len(img.Pix))}
	for _, s := range steps {
		applyRandAugmentOp(dst, src, s.Op, s.Magnitude, ra.Fill)
		src, dst = dst, src
	}
	if &src.Pix[0] != &img.Pix[0] {
		copy(img.Pix, src.Pix)
	}
	return nil
}

// ApplyRandAugmentOp returns op applied to img at the signed magnitude m
// (a value of Magnitudes, possibly negated), as torchvision's
// autoaugment._apply_op does with nearest interpolation; fill is as
// RandAugment.Fill. img is left as it is.
func ApplyRandAugmentOp(img Image8, op RandAugmentOp, m float64, fill []uint8) (Image8, error) {
	if err := img.check(); err != nil {
		return Image8{}, fmt.Errorf("randaugment %v: %w", op, err)
	}
	if err := (RandAugment{Fill: fill}).Check(img.C); err != nil {
		return Image8{}, fmt.Errorf("%v: %w", op, err)
	}
	if op < 0 || op >= numRandAugmentOps {
		return Image8{}, fmt.Errorf("randaugment: unknown %v", op)
	}
	out := Image8{C: img.C, H: img.H, W: img.W, Pix: make([]uint8, len(img.Pix))}
	applyRandAugmentOp(out, img, op, m, fill)
	return out, nil
}

// applyRandAugmentOp writes op(src) into dst (same shape, not aliased).
func applyRandAugmentOp(dst, src Image8, op RandAugmentOp, m float64, fill []uint8) {
	switch op {
	case RAIdentity:
		copy(dst.Pix, src.Pix)
	case RAShearX, RAShearY, RATranslateX, RATranslateY, RARotate:
		warp(dst, src, raAffine(op, m, src.H, src.W), fill)
	case RABrightness:
		brightness(dst, src, 1+m)
	case RAColor:
		saturation(dst, src, 1+m)
	case RAContrast:
		contrast(dst, src, 1+m)
	case RASharpness:
		sharpness(dst, src, 1+m)
	case RAPosterize:
		posterize(dst, src, int(m))
	case RASolarize:
		solarize(dst, src, float32(m))
	case RAAutoContrast:
		autocontrast(dst, src)
	case RAEqualize:
		equalize(dst, src)
	}
}
