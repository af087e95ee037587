package libtorch

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// blas_file is the file that provides sgemm_ to this process: the BLAS
// libtorch's CPU matrix products call (Debian's libblas.so.3 alternative,
// or whichever library LD_LIBRARY_PATH put first).
static const char *blas_file(void) {
	void *p = dlsym(RTLD_DEFAULT, "sgemm_");
	Dl_info info;
	if (p == NULL || dladdr(p, &info) == 0) return NULL;
	return info.dli_fname;
}

// OpenBLAS's own queries, when the BLAS is OpenBLAS.
static const char *openblas_config(void) {
	char *(*f)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
	return f ? f() : NULL;
}
static int openblas_call(const char *name) {
	int (*f)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, name);
	return f ? f() : -1;
}
static int openblas_threads(void) { return openblas_call("openblas_get_num_threads"); }
static int openblas_parallel(void) { return openblas_call("openblas_get_parallel"); }
*/
import "C"

import (
	"path/filepath"
	"strconv"
	"strings"
)

// BLASInfo says which BLAS libtorch's float32 matrix products run in. On
// the CPU they dominate a Transformer's step: Debian's reference BLAS is
// about 10× slower there than OpenBLAS (docs/performance.md).
type BLASInfo struct {
	File    string // the library that provides sgemm_ ("" if none is loaded)
	Name    string // "OpenBLAS", "reference BLAS", "MKL", or the file's base name
	Config  string // OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
	Threads int    // OpenBLAS's thread count (0 where unknown)
	// Parallel is OpenBLAS's threading: "sequential", "pthreads" or
	// "OpenMP" ("" where unknown).
	Parallel string
}

// Reference reports whether b is Debian's reference (netlib) BLAS.
func (b BLASInfo) Reference() bool { return b.Name == "reference BLAS" }

// String is one line for `autodropout env` and bench headers.
func (b BLASInfo) String() string {
	if b.File == "" {
		return "none loaded"
	}
	s := b.Name
	if b.Parallel != "" {
		s += ", " + b.Parallel
	}
	if b.Threads > 0 {
		s += ", " + strconv.Itoa(b.Threads) + " threads"
	}
	return s + " (" + b.File + ")"
}

// BLAS returns the BLAS loaded into this process.
func BLAS() BLASInfo {
	var b BLASInfo
	f := C.blas_file()
	if f == nil {
		return b
	}
	b.File = C.GoString(f)
	// The alternative's libblas.so.3 links to the library's own file name;
	// OpenBLAS's queries may come from another file (Debian's liblapack.so.3
	// alternative loads OpenBLAS beside a reference libblas.so.3).
	real, err := filepath.EvalSymlinks(b.File)
	if err != nil {
		real = b.File
	}
	base := filepath.Base(real)
	switch {
	case strings.Contains(real, "openblas"):
		b.Name = "OpenBLAS"
		if c := C.openblas_config(); c != nil {
			b.Config = strings.TrimSpace(C.GoString(c))
		}
		b.Threads = max(0, int(C.openblas_threads()))
		switch C.openblas_parallel() {
		case 0:
			b.Parallel = "sequential"
		case 1:
			b.Parallel = "pthreads"
		case 2:
			b.Parallel = "OpenMP"
		}
	case strings.Contains(real, "mkl"):
		b.Name = "MKL"
	case strings.Contains(real, "/blas/libblas.so"):
		b.Name = "reference BLAS"
	default:
		b.Name = base
	}
	return b
}
