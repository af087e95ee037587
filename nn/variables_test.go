package nn

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Variables' tensors stay valid after their store is unreachable: they
// are the store's own handles, which the garbage collector frees only
// once they are unreachable too. gotch's VarStore.Variables returns
// copies whose C tensors a collection frees under them (this test then
// reads freed memory: wrong values or a crash).
func TestVariablesOutliveTheStore(t *testing.T) {
	want := map[string][]float64{}
	vars := func() map[string]*ts.Tensor {
		vs := gnn.NewVarStore(gotch.CPU)
		gnn.NewLinear(vs.Root().Sub("l1"), 64, 256, gnn.DefaultLinearConfig())
		gnn.NewLinear(vs.Root().Sub("l2"), 256, 10, gnn.DefaultLinearConfig())
		vars := Variables(vs)
		for name, v := range vars {
			want[name] = v.Float64Values()
		}
		return vars
	}()
	if len(vars) != 4 {
		t.Fatalf("%d variables, want 4 (two layers' weight and bias)", len(vars))
	}
	for range 3 { // collect the store, then let the finalizers run
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	var garbage []*ts.Tensor // C tensors that would reuse freed memory
	for range 64 {
		garbage = append(garbage, ts.MustFull([]int64{64 * 256}, ts.FloatScalar(7), gotch.Float, gotch.CPU))
	}
	for name, v := range vars {
		if got := v.Float64Values(); !slices.Equal(got, want[name]) {
			t.Errorf("%s changed after its store was collected", name)
		}
	}
	runtime.KeepAlive(garbage)
}
