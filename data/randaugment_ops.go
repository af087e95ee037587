package data

import "math"

// This file holds RandAugment's magnitudes and operations. Each follows
// torchvision 0.14's tensor code (transforms/functional_tensor.py) step by
// step, in the same precision: float64 where Python computes, float32 where
// libtorch computes on a float32 tensor. Explicit float32(…) and float64(…)
// conversions round each product where libtorch rounds it, and keep the Go
// compiler from fusing a multiply and an add that libtorch does not fuse.

// Magnitudes returns the magnitude of op at each of the bins on an h×w
// image, as torchvision's RandAugment._augmentation_space computes them:
// float32 torch.linspace ranges (ShearX/Y 0..0.3, TranslateX 0..150/331·w,
// TranslateY 0..150/331·h, Rotate 0..30 degrees, the enhancements 0..0.9,
// Solarize 255..0), Posterize's bit counts 8..4, and nil for Identity,
// AutoContrast and Equalize, which have none. A zero Bins means 31.
func (ra RandAugment) Magnitudes(op RandAugmentOp, h, w int) []float32 {
	bins := ra.withDefaults().Bins
	if bins < 2 || op == RAIdentity || op == RAAutoContrast || op == RAEqualize || op < 0 || op >= numRandAugmentOps {
		return nil
	}
	out := make([]float32, bins)
	for i := range out {
		out[i] = raMagnitude(op, bins, i, h, w)
	}
	return out
}

// raMagnitude is bin b of op's magnitudes (see Magnitudes), unsigned.
func raMagnitude(op RandAugmentOp, bins, b, h, w int) float32 {
	switch op {
	case RAShearX, RAShearY:
		return linspace32(0, 0.3, bins, b)
	case RATranslateX:
		return linspace32(0, 150.0/331.0*float64(w), bins, b)
	case RATranslateY:
		return linspace32(0, 150.0/331.0*float64(h), bins, b)
	case RARotate:
		return linspace32(0, 30, bins, b)
	case RABrightness, RAColor, RAContrast, RASharpness:
		return linspace32(0, 0.9, bins, b)
	case RAPosterize:
		// 8 - (torch.arange(bins) / ((bins - 1) / 4)).round().int(): a
		// float32 quotient rounded half to even.
		q := float32(b) / float32(float64(bins-1)/4)
		return float32(8 - int(math.RoundToEven(float64(q))))
	case RASolarize:
		return linspace32(255, 0, bins, b)
	}
	return 0
}

// linspace32 is element i of torch.linspace(start, end, steps) in float32,
// as libtorch 1.13's CPU kernel computes it on the AVX2 build Debian ships
// (RangeFactoriesKernel.cpp): step = (end−start)/(steps−1) in float32;
// element i is start+step·i below steps/2 and end−step·(steps−1−i) from
// there, each a fused multiply-add; in the leading blocks of 16 elements
// that the kernel vectorizes, each group of 8 instead adds k·step
// (rounded, not fused) to the group's first element. The fixtures check
// this bit for bit against torch.linspace for 12 bin counts.
func linspace32(start, end float64, steps, i int) float32 {
	s, e := float32(start), float32(end)
	step := float32(e-s) / float32(steps-1)
	scalar := func(j int) float32 {
		if j < steps/2 {
			return fma32(step, float32(j), s)
		}
		return fma32(-step, float32(steps-j-1), e)
	}
	const vec = 8
	if i < steps/(2*vec)*(2*vec) {
		first := i - i%vec
		if k := i - first; k > 0 {
			return scalar(first) + float32(float32(k)*step)
		}
	}
	return scalar(i)
}

// fma32 returns a·b+c rounded once to float32 (through float64, which
// holds a·b exactly).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// Python's math.radians and math.degrees multiply by these, computed in
// float64 from the float64 π.
var (
	pyPi     = math.Pi
	degToRad = pyPi / 180
	radToDeg = 180 / pyPi
)

// raAffine returns the inverse affine matrix torchvision's F.affine or
// F.rotate builds for a geometric op at signed magnitude m.
func raAffine(op RandAugmentOp, m float64, h, w int) [6]float64 {
	var center, translate, shear [2]float64
	angle := 0.0
	switch op {
	case RAShearX, RAShearY:
		// center=[0, 0]: the top-left corner, in coordinates about the
		// image's centre.
		center = [2]float64{-float64(w) * 0.5, -float64(h) * 0.5}
		deg := math.Atan(m) * radToDeg
		if op == RAShearX {
			shear[0] = deg
		} else {
			shear[1] = deg
		}
	case RATranslateX:
		translate[0] = float64(int(m))
	case RATranslateY:
		translate[1] = float64(int(m))
	case RARotate:
		angle = -m // F.rotate passes -angle
	}
	return inverseAffine(center, angle, translate, shear)
}

// inverseAffine is torchvision's _get_inverse_affine_matrix with scale 1
// and inverted=True: the matrix that maps output coordinates (about the
// image's centre) to input coordinates.
func inverseAffine(center [2]float64, angle float64, translate, shear [2]float64) [6]float64 {
	rot := angle * degToRad
	sx, sy := shear[0]*degToRad, shear[1]*degToRad
	cx, cy := center[0], center[1]
	tx, ty := translate[0], translate[1]
	a := math.Cos(rot-sy) / math.Cos(sy)
	b := -math.Cos(rot-sy)*math.Tan(sx)/math.Cos(sy) - math.Sin(rot)
	c := math.Sin(rot-sy) / math.Cos(sy)
	d := -math.Sin(rot-sy)*math.Tan(sx)/math.Cos(sy) + math.Cos(rot)
	mat := [6]float64{d, -b, 0, -c, a, 0}
	mat[2] += float64(mat[0]*(-cx-tx)) + float64(mat[1]*(-cy-ty))
	mat[5] += float64(mat[3]*(-cx-tx)) + float64(mat[4]*(-cy-ty))
	mat[2] += cx
	mat[5] += cy
	return mat
}

// warp is functional_tensor.affine with nearest interpolation: the output
// pixel at column i, row j reads the input at
//
//	ix = (gx+1)·W/2 − 0.5,  gx = (x·θ0 + y·θ1 + θ2)/(W/2),  x = i − W/2 + 0.5
//
// (likewise iy), rounded half to even, all in float32 as
// _gen_affine_grid's batched matrix product and grid_sample compute it;
// outside the image it writes the fill.
func warp(dst, src Image8, mat [6]float64, fill []uint8) {
	h, w := src.H, src.W
	hw, hh := float32(0.5*float64(w)), float32(0.5*float64(h))
	var r [6]float32
	for k := 0; k < 3; k++ {
		r[k] = float32(mat[k]) / hw
		r[3+k] = float32(mat[3+k]) / hh
	}
	sw, sh := hw, hh // grid_sample's unnormalization factors, size/2
	for j := 0; j < h; j++ {
		y := float32(float64(j) - 0.5*float64(h) + 0.5)
		for i := 0; i < w; i++ {
			x := float32(float64(i) - 0.5*float64(w) + 0.5)
			gx := gridDot(x, y, r[0], r[1], r[2])
			gy := gridDot(x, y, r[3], r[4], r[5])
			ix := nearest(gx, sw)
			iy := nearest(gy, sh)
			in := ix >= 0 && ix < w && iy >= 0 && iy < h
			for c := 0; c < src.C; c++ {
				v := fillValue(fill, c)
				if in {
					v = src.Pix[(c*h+iy)*w+ix]
				}
				dst.Pix[(c*h+j)*w+i] = v
			}
		}
	}
}

// gridDot is one output of the 1×3 by 3×2 product in _gen_affine_grid:
// OpenBLAS's sgemm accumulates the three terms in order with fused
// multiply-adds.
func gridDot(x, y, a, b, c float32) float32 {
	acc := float32(x * a)
	acc = fma32(y, b, acc)
	return float32(acc + c)
}

// nearest unnormalizes a grid coordinate as grid_sample does without
// align_corners, (g+1)·size/2 − 0.5, and rounds it half to even; a
// coordinate too large for an int comes back as −1 (outside).
func nearest(g, half float32) int {
	v := float32(float32(g+1)*half) - 0.5
	r := math.RoundToEven(float64(v))
	if r < -1 || r > 1<<30 || math.IsNaN(r) {
		return -1
	}
	return int(r)
}

func fillValue(fill []uint8, c int) uint8 {
	switch len(fill) {
	case 0:
		return 0
	case 1:
		return fill[0]
	}
	return fill[c]
}

// blend is functional_tensor._blend on one value: ratio·v + (1−ratio)·o in
// float32, clamped to 0..255 and truncated to uint8; q is 1−ratio, rounded
// to float32 from float64 as the Python scalar is.
func blend(v uint8, o, ratio, q float32) uint8 {
	x := float32(ratio*float32(v)) + float32(q*o)
	if x < 0 {
		x = 0
	} else if x > 255 {
		x = 255
	}
	return uint8(x)
}

// brightness is adjust_brightness: a blend with black.
func brightness(dst, src Image8, factor float64) {
	r, q := float32(factor), float32(1-factor)
	for i, v := range src.Pix {
		dst.Pix[i] = blend(v, 0, r, q)
	}
}

// grayscale is rgb_to_grayscale on one pixel: 0.2989·r + 0.587·g +
// 0.114·b in float32, truncated.
func grayscale(r, g, b uint8) uint8 {
	l := float32(lumaR*float32(r)) + float32(lumaG*float32(g))
	l += float32(lumaB * float32(b))
	return uint8(l)
}

var lumaR64, lumaG64, lumaB64 = 0.2989, 0.587, 0.114
var lumaR, lumaG, lumaB = float32(lumaR64), float32(lumaG64), float32(lumaB64)

// saturation is adjust_saturation: a blend with the grayscale image; the
// identity on grayscale images, as torchvision (and PIL) have it.
func saturation(dst, src Image8, factor float64) {
	if src.C == 1 {
		copy(dst.Pix, src.Pix)
		return
	}
	r, q := float32(factor), float32(1-factor)
	R, G, B := src.plane(0), src.plane(1), src.plane(2)
	n := src.H * src.W
	for i := 0; i < n; i++ {
		g := float32(grayscale(R[i], G[i], B[i]))
		for c := 0; c < 3; c++ {
			dst.Pix[c*n+i] = blend(src.Pix[c*n+i], g, r, q)
		}
	}
}

// contrast is adjust_contrast: a blend with the mean of the grayscale
// image (of the image itself when grayscale). torchvision sums in float32,
// which is exact below 2^24 (65,793 pixels of 255); the sum here is exact
// at any size and rounded to float32 once.
func contrast(dst, src Image8, factor float64) {
	n := src.H * src.W
	var sum int64
	if src.C == 3 {
		R, G, B := src.plane(0), src.plane(1), src.plane(2)
		for i := 0; i < n; i++ {
			sum += int64(grayscale(R[i], G[i], B[i]))
		}
	} else {
		for _, v := range src.Pix {
			sum += int64(v)
		}
	}
	mean := float32(sum) / float32(n)
	r, q := float32(factor), float32(1-factor)
	for i, v := range src.Pix {
		dst.Pix[i] = blend(v, mean, r, q)
	}
}

// sharpness is adjust_sharpness: a blend with the image smoothed by the
// 3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13 inside a one-pixel border that keeps
// the original values. torchvision rounds the float32 convolution; the
// exact value s/13 is never within 1/26 of a tie, so the integer
// (2s+13)/26 is the same number. Images of 2 rows or columns or fewer are
// returned unchanged, as torchvision returns them.
func sharpness(dst, src Image8, factor float64) {
	h, w := src.H, src.W
	if h <= 2 || w <= 2 {
		copy(dst.Pix, src.Pix)
		return
	}
	r, q := float32(factor), float32(1-factor)
	for c := 0; c < src.C; c++ {
		in, out := src.plane(c), dst.plane(c)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := in[y*w+x]
				deg := v
				if y > 0 && y < h-1 && x > 0 && x < w-1 {
					s := 4 * int(v)
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							s += int(in[(y+dy)*w+x+dx])
						}
					}
					deg = uint8((2*s + 13) / 26)
				}
				out[y*w+x] = blend(v, float32(deg), r, q)
			}
		}
	}
}

// posterize keeps the top bits of each value (img & −2^(8−bits)).
func posterize(dst, src Image8, bits int) {
	mask := uint8(0)
	if bits > 0 {
		mask = uint8(0xff << (8 - min(bits, 8)))
	}
	for i, v := range src.Pix {
		dst.Pix[i] = v & mask
	}
}

// solarize inverts the values at or above the threshold (compared in
// float32).
func solarize(dst, src Image8, threshold float32) {
	for i, v := range src.Pix {
		if float32(v) >= threshold {
			v = 255 - v
		}
		dst.Pix[i] = v
	}
}

// autocontrast maps each channel's range onto 0..255: (v−min)·scale with
// scale = reciprocal(max−min)·255 in float32 (Tensor.__rtruediv__ is a
// reciprocal and a product), truncated; a constant channel is unchanged.
func autocontrast(dst, src Image8) {
	for c := 0; c < src.C; c++ {
		in, out := src.plane(c), dst.plane(c)
		lo, hi := in[0], in[0]
		for _, v := range in {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo == hi {
			copy(out, in)
			continue
		}
		scale := float32(float32(1)/float32(hi-lo)) * 255
		for i, v := range in {
			x := float32(float32(v)-float32(lo)) * scale
			out[i] = uint8(min(max(x, 0), 255))
		}
	}
}

// equalize is torchvision's histogram equalization per channel: with step
// the number of values outside the highest occupied bin over 255, value v
// maps to (count of values below v + step/2)/step, clamped to 255; a
// channel with step 0 is unchanged.
func equalize(dst, src Image8) {
	for c := 0; c < src.C; c++ {
		in, out := src.plane(c), dst.plane(c)
		var hist [256]int
		for _, v := range in {
			hist[v]++
		}
		last := 255
		for hist[last] == 0 {
			last--
		}
		step := (len(in) - hist[last]) / 255
		if step == 0 {
			copy(out, in)
			continue
		}
		var lut [256]uint8
		cum := 0
		for v := 1; v < 256; v++ {
			cum += hist[v-1]
			lut[v] = uint8(min((cum+step/2)/step, 255))
		}
		for i, v := range in {
			out[i] = lut[v]
		}
	}
}
