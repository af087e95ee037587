package libtorch

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestInPlace(t *testing.T) {
	x := ts.MustOfSlice([]float32{-2, -0.5, 0, 1.5})
	defer x.MustDrop()
	before := x.Ctensor()
	Relu_(x)
	if x.Ctensor() != before {
		t.Error("Relu_ replaced the tensor's handle")
	}
	y := ts.MustOfSlice([]float32{1, 1, 1, 1})
	defer y.MustDrop()
	Add_(x, y)
	got := x.Float64Values()
	want := []float64{1, 1, 1, 2.5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("relu then add = %v, want %v", got, want)
		}
	}
	Sigmoid_(x)
	Silu_(x)
	if v := x.Float64Values()[3]; v <= 0 || v >= 1 {
		t.Errorf("silu(sigmoid(2.5)) = %v", v)
	}
	Zero_(x)
	if x.Ctensor() != before || x.Float64Values()[3] != 0 {
		t.Errorf("Zero_: handle kept %v, values %v", x.Ctensor() == before, x.Float64Values())
	}
	defer func() {
		if recover() == nil {
			t.Error("a failing in-place op did not panic")
		}
	}()
	bad := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer bad.MustDrop()
	Add_(x, bad) // shapes 4 and 3 do not broadcast
}
