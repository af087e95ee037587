package libtorch

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func randn(t *testing.T, seed int64) []float64 {
	t.Helper()
	if err := ManualSeed(seed); err != nil {
		t.Fatal(err)
	}
	x, err := ts.Randn([]int64{64}, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer x.MustDrop()
	return x.Float64Values()
}

func TestManualSeed(t *testing.T) {
	a, b, c := randn(t, 7), randn(t, 7), randn(t, 8)
	same := func(x, y []float64) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("seed 7 twice gave different tensors")
	}
	if same(a, c) {
		t.Error("seeds 7 and 8 gave the same tensor")
	}
}

func TestDefaultThreadsIsAllCores(t *testing.T) {
	if v := os.Getenv("OMP_NUM_THREADS"); v != "" {
		t.Skipf("OMP_NUM_THREADS=%s sets libtorch's default; the default without it is all cores", v)
	}
	if got, want := Threads(), runtime.NumCPU(); got != want {
		t.Errorf("default threads = %d, want %d (all cores)", got, want)
	}
}

func TestSetThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	for _, n := range []int{1, 2, 3} {
		if err := SetThreads(n); err != nil {
			t.Fatal(err)
		}
		if got := Threads(); got != n {
			t.Errorf("after SetThreads(%d), Threads() = %d", n, got)
		}
	}
	if err := SetThreads(0); err == nil {
		t.Error("SetThreads(0) succeeded")
	}
}

func TestThreadsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{"", runtime.NumCPU(), ""},
		{"0", runtime.NumCPU(), ""},
		{"3", 3, ""},
		{"-1", 0, "positive"},
		{"x", 0, "positive"},
	} {
		got, err := ThreadsFromEnv(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ThreadsFromEnv(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ThreadsFromEnv(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestBLASNamesTheLoadedLibrary(t *testing.T) {
	b := BLAS()
	if b.File == "" {
		t.Fatal("no library provides sgemm_, yet libtorch's CPU matrix products need one")
	}
	if _, err := os.Stat(b.File); err != nil {
		t.Fatalf("BLAS file %q: %v", b.File, err)
	}
	if b.Name == "" || !strings.Contains(b.String(), b.File) {
		t.Fatalf("BLAS %+v: String %q", b, b.String())
	}
	if b.Name == "OpenBLAS" && (b.Threads < 1 || b.Parallel == "") {
		t.Fatalf("OpenBLAS without its threads or threading: %+v", b)
	}
}
