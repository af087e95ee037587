package train

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Every tensor op once leaked its 32-byte output buffer (gotch allocated
// it with C.malloc(0) and never freed it; the build step now frees it):
// 20,000 ops leaked 640 KB.
func TestOpsDoNotLeakCMemory(t *testing.T) {
	x := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	ops := func(n int) {
		for i := 0; i < n; i++ {
			y := x.MustMul(x, false)
			y.MustDrop()
		}
	}
	ops(1000) // warm the allocator's caches
	before, _ := MallocBytes()
	if before == 0 {
		t.Skip("the C allocator does not report its use here")
	}
	const n = 20000
	ops(n)
	after, _ := MallocBytes()
	if grew := after - before; grew > n*8 {
		t.Errorf("C heap in use grew by %d bytes over %d tensor ops (%.1f per op): output buffers leak", grew, n, float64(grew)/n)
	}
}
