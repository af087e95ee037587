package gpucheck

import (
	"math"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
)

func TestSyntheticIsSeeded(t *testing.T) {
	a, b, c := NewSynthetic(3).Batch(4), NewSynthetic(3).Batch(4), NewSynthetic(4).Batch(4)
	if a.N != 4 || a.C != 1 || a.H != 28 || a.W != 28 || len(a.X) != 4*28*28 {
		t.Fatalf("batch shape %d×%d×%d×%d with %d values", a.N, a.C, a.H, a.W, len(a.X))
	}
	for i := range a.X {
		if a.X[i] != b.X[i] {
			t.Fatal("the same seed drew other images")
		}
	}
	if a.X[0] == c.X[0] && a.X[1] == c.X[1] {
		t.Error("seeds 3 and 4 drew the same images")
	}
	for _, y := range a.Y {
		if y < 0 || y >= 10 {
			t.Errorf("label %d outside 0..9", y)
		}
	}
}

func TestCompareCounts(t *testing.T) {
	tests := []struct {
		name       string
		a, b       []float64
		n          float64
		wantRateA  float64
		minZ, maxZ float64
	}{
		{"equal", []float64{100, 200, 0}, []float64{100, 200, 0}, 1000, 0.1, 0, 0},
		{"within noise", []float64{100, 200}, []float64{110, 190}, 1000, 0.15, 0.5, 1.5},
		{"far apart", []float64{100}, []float64{300}, 1000, 0.1, 10, math.Inf(1)},
		{"always dropped on both", []float64{1000}, []float64{1000}, 1000, 1, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ra, _, z := compareCounts(tc.a, tc.b, tc.n)
			if math.Abs(ra-tc.wantRateA) > 1e-12 || z < tc.minZ || z > tc.maxZ {
				t.Errorf("rate %v, max z %v; want rate %v and z in [%v, %v]", ra, z, tc.wantRateA, tc.minZ, tc.maxZ)
			}
		})
	}
}

// The dry run's checks, on the CPU: a short training whose loss falls and
// masks drawn twice on the CPU that agree.
func TestTrainOnCPU(t *testing.T) {
	r, err := Train(TrainOptions{Model: "convnet", Device: "cpu", Precision: libtorch.FP32, Steps: 20, Batch: 16, LR: 0.05, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || !r.Finite || !r.Falls || len(r.Losses) != 20 {
		t.Errorf("report %+v", r)
	}
	if _, err := Train(TrainOptions{Model: "convnet", Device: "cpu", Steps: 1, Batch: 16}); err == nil {
		t.Error("one step was accepted")
	}
}

func TestMasksOnCPU(t *testing.T) {
	rs, err := Masks(MaskOptions{Device: "cpu", Planes: 256, H: 8, W: 8, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(maskCases) {
		t.Fatalf("%d reports, want %d", len(rs), len(maskCases))
	}
	for _, r := range rs {
		if !r.OK || r.DropCPU <= 0 || r.DropCPU >= 1 {
			t.Errorf("%s: %+v", r.Regularizer, r)
		}
	}
	if _, err := Masks(MaskOptions{Device: "tpu", Planes: 256, H: 8, W: 8}); err == nil {
		t.Error("device tpu was accepted")
	}
}
