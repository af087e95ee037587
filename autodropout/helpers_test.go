package autodropout

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func seed(t testing.TB, s int64) {
	t.Helper()
	if err := libtorch.ManualSeed(s); err != nil {
		t.Fatal(err)
	}
}

// read returns x's shape and values and drops x.
func read(t testing.TB, x *ts.Tensor) ([]int64, []float64) {
	t.Helper()
	size, err := x.Size()
	if err != nil {
		t.Fatal(err)
	}
	d, err := x.Totype(gotch.Double, false)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, d.Numel())
	if err := d.CopyData(v, uint(len(v))); err != nil {
		t.Fatal(err)
	}
	d.MustDrop()
	x.MustDrop()
	return size, v
}

func mask(t testing.TB, p Pattern, n, c, h, w int64) ([]int64, []float64) {
	t.Helper()
	m, err := p.Mask(n, c, h, w, gotch.CPU)
	if err != nil {
		t.Fatalf("%v: Mask: %v", p, err)
	}
	return read(t, m)
}

// planes splits values of an n×c×h×w tensor into its h·w planes.
func planes(v []float64, hw int64) [][]float64 {
	var out [][]float64
	for i := int64(0); i < int64(len(v)); i += hw {
		out = append(out, v[i:i+hw])
	}
	return out
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func sameShape(a, b []int64) bool { return reflect.DeepEqual(a, b) }

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// tensorFrom makes a float32 tensor of the given shape.
func tensorFrom(t testing.TB, v []float32, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(v, shape)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func randn(t testing.TB, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.Randn(shape, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func ones(t testing.TB, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.Ones(shape, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// liveTensors counts the tensors gotch has not freed.
func liveTensors() int {
	s := ts.CheckCMemLeak()
	const key = "Tensors not been released: ["
	i := strings.Index(s, key)
	if i < 0 {
		return -1
	}
	s = s[i+len(key):]
	s = s[:strings.IndexByte(s, ']')]
	return strings.Count(s, `"`) / 2
}
