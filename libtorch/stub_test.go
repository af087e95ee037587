package libtorch

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// These tests call bindings that the gotch build step replaces when the
// libtorch is older than the one gotch was generated for (Debian's 1.13):
// the call must come back as an error, not a crash or an exit. On a libtorch
// that has the op, they check nothing and say so.

func TestStubbedBindingReturnsError(t *testing.T) {
	x := ts.MustOnes([]int64{2, 1, 3}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	y, err := x.SqueezeDims([]int64{1}, false)
	if err == nil {
		y.MustDrop()
		t.Skip("this libtorch has squeeze(dims): the binding was not replaced")
	}
	if !strings.Contains(err.Error(), "squeeze_dims is not available in libtorch") {
		t.Errorf("error = %v, want one saying squeeze_dims is not available", err)
	}
	// The process goes on and libtorch still works after the error.
	z, err := x.Squeeze(false)
	if err != nil {
		t.Fatalf("plain squeeze after the stubbed call: %v", err)
	}
	defer z.MustDrop()
	if got := z.MustSize(); len(got) != 2 {
		t.Errorf("squeeze shape = %v, want 2 dims", got)
	}
}

func TestStubbedNonVoidBindingReturnsSentinel(t *testing.T) {
	q := ts.MustOnes([]int64{1, 1, 2, 4}, gotch.Float, gotch.CPU)
	defer q.MustDrop()
	none := ts.NewTensor()
	got := lib.Atg_FusedSdpChoice((lib.Ctensor)(q.Ctensor()), (lib.Ctensor)(q.Ctensor()), (lib.Ctensor)(q.Ctensor()), (lib.Ctensor)(none.Ctensor()), 0, 0, 0, 1)
	err := ts.TorchErr()
	if err == nil {
		t.Skip("this libtorch has _fused_sdp_choice: the binding was not replaced")
	}
	if got != 0 {
		t.Errorf("replaced binding returned %d, want the zero sentinel", got)
	}
	if !strings.Contains(err.Error(), "_fused_sdp_choice is not available in libtorch") {
		t.Errorf("error = %v", err)
	}
}
