package libtorch

/*
#include <stdint.h>
#include <stdlib.h>

// Defined in internal/gotchbuild/extra/autocast.cpp, which the gotch build
// step compiles into gotch's C layer; weak, like the calls in libtorch.go.
extern char *atd_autocast_enter(int cuda, int dtype, int64_t *saved) __attribute__((weak));
extern char *atd_autocast_exit(int cuda, const int64_t *saved) __attribute__((weak));
extern int atd_autocast_state(int cuda, int *dtype) __attribute__((weak));
extern int atd_cuda_bf16(void) __attribute__((weak));

static int have_autocast(void) {
	return atd_autocast_enter != 0 && atd_autocast_exit != 0 && atd_autocast_state != 0 && atd_cuda_bf16 != 0;
}
*/
import "C"

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/sugarme/gotch"
)

// Precision says in which floating-point type a training step computes.
// Weights, gradients and optimizer state stay float32 in every precision;
// the lower precisions reach only the activations, through libtorch's
// autocast (see Autocast).
type Precision string

// The precisions. Auto is resolved per device by Resolve.
const (
	FP32 Precision = "fp32" // float32 throughout
	BF16 Precision = "bf16" // bfloat16 autocast
	FP16 Precision = "fp16" // float16 autocast with dynamic loss scaling; CUDA only
	Auto Precision = "auto" // BF16 where the device computes it natively, else FP32 (CPU) or FP16 (CUDA)
)

// Precisions lists the accepted names, for flags and messages.
var Precisions = []Precision{FP32, BF16, FP16, Auto}

// ParsePrecision reads a precision name; "" is FP32.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return FP32, nil
	case FP32, BF16, FP16, Auto:
		return p, nil
	}
	return "", fmt.Errorf("precision %q: want fp32, bf16, fp16 or auto", s)
}

// DType is the autocast dtype of p: BFloat16, Half, or Float for FP32.
// It panics for Auto, which must be resolved first.
func (p Precision) DType() gotch.DType {
	switch p {
	case BF16:
		return gotch.BFloat16
	case FP16:
		return gotch.Half
	case FP32, "":
		return gotch.Float
	}
	panic(fmt.Sprintf("libtorch: DType of unresolved precision %q", p))
}

// Resolve maps p to the precision a run on dev uses: Auto becomes BF16
// where the device computes bfloat16 natively (a CPU with AVX512-BF16 or
// AMX, see CPUHasBF16; a CUDA GPU of compute capability 8.0 or later) and
// otherwise FP32 on a CPU and FP16 on a GPU. FP16 on a CPU is an error:
// libtorch's CPU autocast computes in bfloat16 only. BF16 is honoured on
// any device (a CPU without native bfloat16 emulates it, slowly).
func Resolve(p Precision, dev gotch.Device) (Precision, error) {
	p, err := ParsePrecision(string(p))
	if err != nil {
		return "", err
	}
	cuda := dev.IsCuda()
	switch p {
	case Auto:
		switch {
		case cuda && CUDAHasBF16():
			return BF16, nil
		case cuda:
			return FP16, nil
		case CPUHasBF16():
			return BF16, nil
		}
		return FP32, nil
	case FP16:
		if !cuda {
			return "", errors.New("precision fp16: libtorch's CPU autocast computes in bfloat16 only; use bf16 (or auto) on a CPU")
		}
	}
	return p, nil
}

var cpuBF16 = sync.OnceValue(func() bool {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	return cpuinfoHasBF16(f)
})

// CPUHasBF16 reports whether this machine's CPU computes bfloat16 natively:
// its /proc/cpuinfo flags include avx512_bf16 or amx_bf16. It is false
// where /proc/cpuinfo cannot be read (other systems than Linux).
func CPUHasBF16() bool { return cpuBF16() }

// cpuinfoHasBF16 scans the first "flags" line of a /proc/cpuinfo.
func cpuinfoHasBF16(r interface{ Read([]byte) (int, error) }) bool {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, fl := range strings.Fields(v) {
			if fl == "avx512_bf16" || fl == "amx_bf16" {
				return true
			}
		}
		return false
	}
	return false
}

// CUDAHasBF16 reports whether libtorch sees a CUDA device that computes
// bfloat16 natively (compute capability 8.0 or later, as libtorch's own
// cuDNN check decides). It is false without CUDA.
func CUDAHasBF16() bool {
	if C.have_autocast() == 0 {
		return false
	}
	return C.atd_cuda_bf16() == 1
}

// ErrNoAutocast is returned when gotch's C layer lacks autodropout's
// autocast functions (a gotch not built by `make setup`).
var ErrNoAutocast = errors.New("autocast functions not found in gotch's C layer (rebuild it with `make setup`)")

// Autocast enters libtorch's autocast region for dev's device type with
// p's dtype on the calling OS thread, as `with torch.autocast(...)` does,
// and returns the function that leaves it. Inside the region libtorch
// runs convolutions, linear layers and matrix products in the lower
// precision and losses, softmax and reductions in float32; weights are
// cast once per region and the cast copies are dropped when the outermost
// region ends, so enter and leave a region around each forward pass (the
// optimizer changes the weights in between).
//
// Autocast state is per thread: the caller must stay on one OS thread
// until it calls exit (hold a TrainThread or runtime.LockOSThread). For
// FP32 it does nothing and exit is a no-op; Auto must be resolved first.
func Autocast(dev gotch.Device, p Precision) (exit func() error, err error) {
	if p == FP32 || p == "" {
		return func() error { return nil }, nil
	}
	if p == Auto {
		return nil, errors.New("autocast: resolve precision auto first (libtorch.Resolve)")
	}
	if p == FP16 && !dev.IsCuda() {
		return nil, fmt.Errorf("autocast %s on the CPU: libtorch's CPU autocast computes in bfloat16 only", p)
	}
	if C.have_autocast() == 0 {
		return nil, ErrNoAutocast
	}
	cuda := C.int(0)
	if dev.IsCuda() {
		cuda = 1
	}
	// The saved state lives in C memory: Go may not keep a pointer into
	// its own memory across the cgo call that stores it.
	saved := (*[3]C.int64_t)(C.calloc(3, C.size_t(unsafe.Sizeof(C.int64_t(0)))))
	runtime.LockOSThread()
	if msg := C.atd_autocast_enter(cuda, C.int(p.DType()), &saved[0]); msg != nil {
		runtime.UnlockOSThread()
		C.free(unsafe.Pointer(saved))
		return nil, fmt.Errorf("autocast %s: %s", p, cString(msg))
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		defer C.free(unsafe.Pointer(saved))
		defer runtime.UnlockOSThread()
		if msg := C.atd_autocast_exit(cuda, &saved[0]); msg != nil {
			return fmt.Errorf("leave autocast %s: %s", p, cString(msg))
		}
		return nil
	}, nil
}

// AutocastState reports whether autocast is on for dev's device type on
// the calling thread, and its dtype.
func AutocastState(dev gotch.Device) (on bool, dtype gotch.DType, err error) {
	if C.have_autocast() == 0 {
		return false, gotch.Float, ErrNoAutocast
	}
	cuda := C.int(0)
	if dev.IsCuda() {
		cuda = 1
	}
	var dt C.int
	r := C.atd_autocast_state(cuda, &dt)
	if r < 0 {
		return false, gotch.Float, errors.New("autocast state: libtorch raised an error")
	}
	return r == 1, gotch.DType(dt), nil
}

// cString copies and frees a malloc'd C message.
func cString(p *C.char) string {
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}
