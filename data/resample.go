package data

import (
	"math"
	"unsafe"
)

// Pillow's resampling, which torchvision's Resize and RandomResizedCrop
// run on PIL images: separable antialiased bilinear (triangle) filters,
// horizontal pass first, 8-bit fixed-point coefficients with 22 fractional
// bits, and an 8-bit image between the two passes (Pillow's
// libImaging/Resample.c, ImagingResampleInner and precompute_coeffs).
// Computed the same way, the results are the same bytes as Pillow's.

// pillowPrecision is Pillow's PRECISION_BITS for 8-bit images.
const pillowPrecision = 32 - 8 - 2

// axisFilter holds, for each output pixel along one axis, the first input
// pixel it reads, how many it reads and their fixed-point weights (stride
// wide apart).
type axisFilter struct {
	start, count []int
	k            []int32
	stride       int
}

func (a *axisFilter) weights(j int) []int32 {
	return a.k[j*a.stride : j*a.stride+a.count[j]]
}

// span is the first input index the filter reads and one past the last.
func (a *axisFilter) span() (lo, hi int) {
	n := len(a.start)
	return a.start[0], a.start[n-1] + a.count[n-1]
}

// newAxisFilter computes Pillow's coefficients for resampling the input
// interval [in0, in1) (a box, in input pixels, possibly fractional) onto
// outSize output pixels, keeping the outputs from, …, from+n-1. Input
// indices are clamped to [lo, hi): a crop's edges when the crop is taken
// first (torchvision crops, then resizes the crop), the image's otherwise.
func newAxisFilter(lo, hi int, in0, in1 float64, outSize, from, n int) *axisFilter {
	scale := (in1 - in0) / float64(outSize)
	filterscale := math.Max(scale, 1)
	support := filterscale // the triangle's support is 1, widened when shrinking
	stride := int(math.Ceil(support))*2 + 1
	a := &axisFilter{start: make([]int, n), count: make([]int, n), k: make([]int32, n*stride), stride: stride}
	pre := make([]float64, stride)
	ss := 1 / filterscale
	for j := 0; j < n; j++ {
		centre := in0 + (float64(from+j)+0.5)*scale
		xmin := int(centre - support + 0.5) // C's (int) truncates toward zero
		xmin = max(xmin, 0)
		xmax := min(int(centre+support+0.5), hi-lo)
		xmin = min(xmin, xmax)
		count := xmax - xmin
		var ww float64
		for x := 0; x < count; x++ {
			t := math.Abs((float64(x+xmin) - centre + 0.5) * ss)
			w := 0.0
			if t < 1 {
				w = 1 - t
			}
			pre[x] = w
			ww += w
		}
		ks := a.k[j*stride : j*stride+count]
		for x := range ks {
			w := pre[x]
			if ww != 0 {
				w /= ww
			}
			if w < 0 {
				ks[x] = int32(-0.5 + w*(1<<pillowPrecision))
			} else {
				ks[x] = int32(0.5 + w*(1<<pillowPrecision))
			}
		}
		a.start[j], a.count[j] = lo+xmin, count
	}
	return a
}

func clip8(v int32) uint8 {
	if v >= 1<<pillowPrecision<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> pillowPrecision)
}

// resampleRGB resamples the interleaved w-wide RGB image rgb with the
// column filter xs and the row filter ys into dst, an interleaved
// len(xs.start)×len(ys.start) RGB image. tmp is scratch space, grown as
// needed and returned for reuse. The vertical pass accumulates whole rows
// (a row of sums per output row) so that memory is read in order.
func resampleRGB(rgb []uint8, w int, xs, ys *axisFilter, dst, tmp []uint8) []uint8 {
	ow, oh := len(xs.start), len(ys.start)
	y0, y1 := ys.span()
	row := ow * 3
	need := (y1-y0)*row + 4*row // the rows, then a row of int32 sums
	if cap(tmp) < need {
		tmp = make([]uint8, need)
	} else {
		tmp = tmp[:need]
	}
	const half = 1 << (pillowPrecision - 1)
	for y := y0; y < y1; y++ {
		src := rgb[y*w*3 : (y+1)*w*3]
		out := tmp[(y-y0)*row : (y-y0+1)*row]
		for j := 0; j < ow; j++ {
			cnt := xs.count[j]
			ks := xs.k[j*xs.stride : j*xs.stride+cnt]
			s := src[xs.start[j]*3:]
			s = s[:3*len(ks)]
			r, g, b := int32(half), int32(half), int32(half)
			for k, i := 0, 0; k < len(ks); k, i = k+1, i+3 {
				wt := ks[k]
				r += int32(s[i]) * wt
				g += int32(s[i+1]) * wt
				b += int32(s[i+2]) * wt
			}
			out[3*j], out[3*j+1], out[3*j+2] = clip8(r), clip8(g), clip8(b)
		}
	}
	acc := unsafeInt32s(tmp[(y1-y0)*row:need], row)
	for i := 0; i < oh; i++ {
		base := ys.start[i] - y0
		wts := ys.weights(i)
		// Two source rows per sweep over the sums: half the loads and
		// stores of the sums.
		first := tmp[base*row : (base+1)*row][:len(acc)]
		w0 := wts[0]
		k := 1
		if len(wts) > 1 {
			second := tmp[(base+1)*row : (base+2)*row][:len(acc)]
			w1 := wts[1]
			for x := range acc {
				acc[x] = half + int32(first[x])*w0 + int32(second[x])*w1
			}
			k = 2
		} else {
			for x := range acc {
				acc[x] = half + int32(first[x])*w0
			}
		}
		for ; k+1 < len(wts); k += 2 {
			a := tmp[(base+k)*row : (base+k+1)*row][:len(acc)]
			c := tmp[(base+k+1)*row : (base+k+2)*row][:len(acc)]
			wa, wc := wts[k], wts[k+1]
			for x := range acc {
				acc[x] += int32(a[x])*wa + int32(c[x])*wc
			}
		}
		if k < len(wts) {
			a := tmp[(base+k)*row : (base+k+1)*row][:len(acc)]
			wa := wts[k]
			for x := range acc {
				acc[x] += int32(a[x]) * wa
			}
		}
		out := dst[i*row : (i+1)*row][:len(acc)]
		for x, v := range acc {
			out[x] = clip8(v)
		}
	}
	return tmp
}

// unsafeInt32s views n int32s in b (len(b) ≥ 4n, scratch space only).
func unsafeInt32s(b []uint8, n int) []int32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), n)
}
