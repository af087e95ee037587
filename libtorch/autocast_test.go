package libtorch

import (
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

func TestParsePrecision(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Precision
		bad  bool
	}{
		{"", FP32, false},
		{"fp32", FP32, false},
		{"BF16", BF16, false},
		{" fp16 ", FP16, false},
		{"auto", Auto, false},
		{"float16", "", true},
		{"bf", "", true},
	} {
		got, err := ParsePrecision(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParsePrecision(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestCPUInfoFlags(t *testing.T) {
	for _, tc := range []struct {
		name, info string
		want       bool
	}{
		{"avx512_bf16", "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n", true},
		{"amx", "processor\t: 0\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n", true},
		{"avx512 without bf16", "processor\t: 0\nflags\t\t: fpu avx512f avx512bw avx512_vnni\n", false},
		{"bf16 in another line", "model name\t: avx512_bf16 lookalike\nflags\t\t: fpu avx2\n", false},
		{"no flags", "processor\t: 0\n", false},
	} {
		if got := cpuinfoHasBF16(strings.NewReader(tc.info)); got != tc.want {
			t.Errorf("%s: cpuinfoHasBF16 = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	wantAuto := FP32
	if CPUHasBF16() {
		wantAuto = BF16
	}
	for _, tc := range []struct {
		in   Precision
		want Precision
		bad  bool
	}{
		{FP32, FP32, false},
		{"", FP32, false},
		{BF16, BF16, false},
		{Auto, wantAuto, false},
		{FP16, "", true},
		{"half", "", true},
	} {
		got, err := Resolve(tc.in, gotch.CPU)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("Resolve(%q, cpu) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func autocastOn(t *testing.T) (bool, gotch.DType) {
	t.Helper()
	on, dt, err := AutocastState(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return on, dt
}

// Inside a region a linear layer computes in bfloat16 and cross-entropy in
// float32, as in torch.autocast; leaving it restores the previous state,
// also from nested regions.
func TestAutocastRegion(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if on, _ := autocastOn(t); on {
		t.Fatal("autocast on before any region")
	}
	x := ts.MustRandn([]int64{4, 8}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	w := ts.MustRandn([]int64{3, 8}, gotch.Float, gotch.CPU)
	defer w.MustDrop()
	y := ts.MustOfSlice([]int64{0, 1, 2, 1})
	defer y.MustDrop()

	exit, err := Autocast(gotch.CPU, BF16)
	if err != nil {
		t.Fatal(err)
	}
	if on, dt := autocastOn(t); !on || dt != gotch.BFloat16 {
		t.Errorf("inside: autocast %v %v, want on BFloat16", on, dt)
	}
	logits := ts.MustLinear(x, w, ts.NewTensor())
	if got := logits.DType(); got != gotch.BFloat16 {
		t.Errorf("linear inside autocast: %v, want BFloat16", got)
	}
	loss := logits.MustCrossEntropyLoss(y, ts.NewTensor(), 1, -100, 0, false)
	if got := loss.DType(); got != gotch.Float {
		t.Errorf("cross-entropy inside autocast: %v, want Float", got)
	}
	loss.MustDrop()
	logits.MustDrop()

	inner, err := Autocast(gotch.CPU, BF16)
	if err != nil {
		t.Fatal(err)
	}
	if err := inner(); err != nil {
		t.Fatal(err)
	}
	if on, _ := autocastOn(t); !on {
		t.Error("leaving a nested region turned autocast off")
	}
	if err := exit(); err != nil {
		t.Fatal(err)
	}
	if err := exit(); err != nil { // a second call does nothing
		t.Fatal(err)
	}
	if on, _ := autocastOn(t); on {
		t.Error("autocast still on after the region")
	}
	out := ts.MustLinear(x, w, ts.NewTensor())
	defer out.MustDrop()
	if got := out.DType(); got != gotch.Float {
		t.Errorf("linear after the region: %v, want Float", got)
	}
}

// Autocast state belongs to the thread that entered the region.
func TestAutocastIsPerThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	exit, err := Autocast(gotch.CPU, BF16)
	if err != nil {
		t.Fatal(err)
	}
	defer exit()
	other := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		on, _, _ := AutocastState(gotch.CPU)
		other <- on
	}()
	if <-other {
		t.Error("another thread sees the region's autocast")
	}
}

// The cast copies of weights are dropped when a region ends, so the next
// region sees weights that changed in between (as an optimizer step
// changes them).
func TestAutocastRegionDropsCastWeights(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	x := ts.MustOnes([]int64{1, 4}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	w := ts.MustOnes([]int64{1, 4}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer w.MustDrop()
	linear := func() float64 {
		exit, err := Autocast(gotch.CPU, BF16)
		if err != nil {
			t.Fatal(err)
		}
		defer exit()
		y := ts.MustLinear(x, w, ts.NewTensor())
		defer y.MustDrop()
		// A second use in the same region reads the cache.
		y2 := ts.MustLinear(x, w, ts.NewTensor())
		defer y2.MustDrop()
		return y.MustTotype(gotch.Float, false).Float64Values(true)[0]
	}
	if got := linear(); got != 4 {
		t.Fatalf("first region: %v, want 4", got)
	}
	if err := NoGrad(func() {
		InPlace(w, func(out *lib.Ctensor, self lib.Ctensor) {
			c := lib.AtsFloat(2)
			lib.AtgMulScalar_(out, self, c)
			lib.AtsFree(c)
		})
	}); err != nil {
		t.Fatal(err)
	}
	if got := linear(); got != 8 {
		t.Errorf("after doubling the weight: %v, want 8 (a stale cast copy?)", got)
	}
}

func TestAutocastRefusals(t *testing.T) {
	if _, err := Autocast(gotch.CPU, FP16); err == nil || !strings.Contains(err.Error(), "bfloat16 only") {
		t.Errorf("fp16 on the CPU: %v, want an error naming bfloat16", err)
	}
	if _, err := Autocast(gotch.CPU, Auto); err == nil || !strings.Contains(err.Error(), "resolve") {
		t.Errorf("unresolved auto: %v, want an error", err)
	}
	exit, err := Autocast(gotch.CPU, FP32)
	if err != nil {
		t.Fatal(err)
	}
	if on, _, _ := AutocastState(gotch.CPU); on {
		t.Error("fp32 turned autocast on")
	}
	exit()
}
