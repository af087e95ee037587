package libtorch

/*
#include <stdint.h>

// Defined in internal/gotchbuild/extra/cuda_memory.cpp (the C++ library);
// weak, like the calls in libtorch.go.
extern int ad_cuda_memory(int device, int reset, int64_t *current, int64_t *peak) __attribute__((weak));

static int cuda_memory(int device, int reset, int64_t *current, int64_t *peak) {
	return ad_cuda_memory ? ad_cuda_memory(device, reset, current, peak) : -2;
}
*/
import "C"

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// ErrNoCUDAMemory is returned by CUDAMemory where the library cannot
// report it: a CPU libtorch, or a library whose CUDA memory call was
// replaced at build time (extra/cuda_memory.cpp).
var ErrNoCUDAMemory = errors.New("CUDA memory statistics are not available in this library")

// CUDAMemory returns the bytes libtorch's CUDA caching allocator holds in
// tensors on dev now and at its peak since the last reset (as PyTorch's
// torch.cuda.memory_allocated and max_memory_allocated), then resets the
// peak when reset is true.
func CUDAMemory(dev gotch.Device, reset bool) (current, peak int64, err error) {
	if err := LibraryError(); err != nil {
		return 0, 0, err
	}
	if !dev.IsCuda() {
		return 0, 0, fmt.Errorf("CUDA memory of %v: not a CUDA device", dev)
	}
	var cur, pk C.int64_t
	r := C.int(0)
	if reset {
		r = 1
	}
	switch C.cuda_memory(C.int(dev.CInt()), r, &cur, &pk) {
	case 1:
		return int64(cur), int64(pk), nil
	case -1:
		return 0, 0, fmt.Errorf("CUDA memory: %w", ts.TorchErr())
	}
	if err := ts.TorchErr(); err != nil { // a replaced call says why
		return 0, 0, fmt.Errorf("%w: %v", ErrNoCUDAMemory, err)
	}
	return 0, 0, ErrNoCUDAMemory
}
