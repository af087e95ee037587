package nn

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func countParams(vs *gnn.VarStore) int64 {
	var n int64
	for _, t := range vs.TrainableVariables() {
		n += int64(t.Numel())
	}
	return n
}

func TestWRNParams(t *testing.T) {
	for _, tc := range []struct {
		depth, width int
		want         int64
	}{
		// The counts of the reference PyTorch WRN for CIFAR-10.
		{28, 10, 36479194},
		{28, 2, 1467610},
		{16, 2, 691674},
	} {
		vs := gnn.NewVarStore(gotch.CPU)
		m, err := NewWRN(vs.Root(), tc.depth, tc.width, 3, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := countParams(vs); got != tc.want {
			t.Errorf("WRN-%d-%d has %d parameters, want %d", tc.depth, tc.width, got, tc.want)
		}
		n := (tc.depth - 4) / 6
		if got, want := len(m.Sites().Names()), 3*n*3+1; got != want {
			t.Errorf("WRN-%d-%d has %d sites, want %d", tc.depth, tc.width, got, want)
		}
	}
	if _, err := NewWRN(gnn.NewVarStore(gotch.CPU).Root(), 27, 2, 3, 10); err == nil || !strings.Contains(err.Error(), "6n+4") {
		t.Errorf("depth 27: %v", err)
	}
}

// zeroer is a regularizer that zeroes its input in training.
type zeroer struct{ calls int }

func (z *zeroer) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	z.calls++
	if !train {
		return x
	}
	return x.MustZerosLike(false)
}

func TestWRNSites(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := NewWRN(vs.Root(), 10, 1, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"block1.layer.0.bn1", "block1.layer.0.bn2", "block1.layer.0.shortcut",
		"block2.layer.0.bn1", "block2.layer.0.bn2", "block2.layer.0.shortcut",
		"block3.layer.0.bn1", "block3.layer.0.bn2", "block3.layer.0.shortcut", "bn1",
	}
	if got := m.Sites().Names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("sites = %v\nwant %v", got, want)
	}
	if err := m.Sites().Set("block9.layer.0.bn1", &zeroer{}); err == nil || !strings.Contains(err.Error(), "no dropout site") {
		t.Errorf("unknown site: %v", err)
	}
	x := ts.MustRandn([]int64{2, 1, 28, 28}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	y := m.ForwardT(x, true)
	if got := y.MustSize(); got[0] != 2 || got[1] != 10 {
		t.Fatalf("output shape %v", got)
	}
	// Zeroing the last batch norm's output leaves only the classifier's
	// bias, which starts at zero.
	z := &zeroer{}
	if err := m.Sites().Set("bn1", z); err != nil {
		t.Fatal(err)
	}
	y2 := m.ForwardT(x, true)
	if z.calls != 1 || y2.MustAbs(false).MustSum(gotch.Float, true).Float64Values()[0] != 0 {
		t.Errorf("site bn1 not applied (calls %d)", z.calls)
	}
	y3 := m.ForwardT(x, false)
	if y3.MustAbs(false).MustSum(gotch.Float, true).Float64Values()[0] == 0 {
		t.Error("evaluation output is zero: the site should pass through at evaluation")
	}
	for _, t := range []*ts.Tensor{y, y2, y3} {
		t.MustDrop()
	}
}
