package gpucheck

import (
	"fmt"
	"math"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// MaskOptions says which masks Masks draws: Planes planes (samples ×
// channels) of an H×W map per regularizer, on Device and on the CPU.
type MaskOptions struct {
	Device string
	Planes int64
	H, W   int64
	Seed   int64
}

// MaskReport compares one regularizer's masks drawn on a device with the
// CPU's. Each cell's drop count over the planes is binomial on both; the
// check is a two-proportion z test per cell, passed when the largest |z|
// is below 5.5 (a correct device fails with probability below 10⁻⁵ for a
// map of a few hundred cells).
type MaskReport struct {
	Check       string  `json:"check"`
	Regularizer string  `json:"regularizer"`
	Device      string  `json:"device"`
	Planes      int64   `json:"planes"`
	Cells       int64   `json:"cells"`
	DropCPU     float64 `json:"drop_cpu"`    // mean drop rate over all cells
	DropDevice  float64 `json:"drop_device"` // the same on the device
	MaxZ        float64 `json:"max_z"`
	OK          bool    `json:"ok"`
}

// maskCases are the regularizers whose masks the check draws: a pattern
// (tiled, turned and sheared on the device), Dropout and DropBlock.
var maskCases = []struct {
	name string
	opts autodropout.Options
}{
	{"pattern", autodropout.Options{Pattern: autodropout.Pattern{Size: 3, Stride: 2, Repeat: 2, Rotate: 30, ShearX: 0.2}}},
	{"dropout", autodropout.Options{Rate: 0.1}},
	{"dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3}},
}

// Masks draws the masks of each of maskCases on o.Device and on the CPU and
// compares their per-cell drop rates.
func Masks(o MaskOptions) ([]MaskReport, error) {
	if o.Planes < 16 || o.H < 1 || o.W < 1 {
		return nil, fmt.Errorf("mask check: %d planes of %d×%d: want at least 16 planes of a non-empty map", o.Planes, o.H, o.W)
	}
	dev, err := libtorch.ParseDevice(o.Device)
	if err != nil {
		return nil, err
	}
	var out []MaskReport
	for _, c := range maskCases {
		reg, err := autodropout.New(c.name, c.opts)
		if err != nil {
			return nil, err
		}
		cpu, err := dropCounts(reg, gotch.CPU, o)
		if err != nil {
			return nil, fmt.Errorf("%s on the CPU: %w", c.name, err)
		}
		on, err := dropCounts(reg, dev, o)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", c.name, o.Device, err)
		}
		r := MaskReport{Check: "masks", Regularizer: c.name, Device: o.Device, Planes: o.Planes, Cells: o.H * o.W}
		r.DropCPU, r.DropDevice, r.MaxZ = compareCounts(cpu, on, float64(o.Planes))
		r.OK = r.MaxZ < 5.5 && r.DropDevice > 0 && r.DropDevice < 1
		out = append(out, r)
	}
	return out, nil
}

// dropCounts draws reg's masks over ones on dev (in training mode) and
// counts, per cell, the planes that dropped it.
func dropCounts(reg autodropout.Regularizer, dev gotch.Device, o MaskOptions) ([]float64, error) {
	if err := libtorch.ManualSeed(o.Seed); err != nil {
		return nil, err
	}
	n := o.Planes / 8
	x, err := ts.Ones([]int64{n, 8, o.H, o.W}, gotch.Float, dev)
	if err != nil {
		return nil, err
	}
	defer x.MustDrop()
	y := reg.ForwardT(x, true)
	defer y.MustDrop()
	cpu, err := y.To(gotch.CPU, false)
	if err != nil {
		return nil, err
	}
	defer cpu.MustDrop()
	vals := cpu.Float64Values()
	cells := int(o.H * o.W)
	counts := make([]float64, cells)
	for i, v := range vals {
		if v == 0 {
			counts[i%cells]++
		}
	}
	return counts, nil
}

// compareCounts returns the mean drop rates and the largest |z| of the
// per-cell two-proportion z tests between drop counts a and b over n
// planes each. Cells that neither ever drops or both always drop are equal.
func compareCounts(a, b []float64, n float64) (rateA, rateB, maxZ float64) {
	for i := range a {
		pa, pb := a[i]/n, b[i]/n
		rateA += pa
		rateB += pb
		p := (a[i] + b[i]) / (2 * n)
		if p == 0 || p == 1 {
			continue
		}
		z := math.Abs(pa-pb) / math.Sqrt(p*(1-p)*2/n)
		maxZ = math.Max(maxZ, z)
	}
	return rateA / float64(len(a)), rateB / float64(len(b)), maxZ
}
