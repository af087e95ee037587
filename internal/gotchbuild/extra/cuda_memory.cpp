// autodropout: replaceable
//
// The CUDA memory statistics of libtorch's caching allocator, for the
// benchmark's peak GPU memory (package libtorch, CUDAMemory).
//
// The allocator's API has moved between libtorch versions. The marker on
// the first line lets the build step replace this file's functions, like a
// gotch binding, when it does not compile against a libtorch: the benchmark
// then reports the memory as unknown, and nothing else depends on it.
#include "torch_api.h"
#if defined(AD_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

extern "C" {

// ad_cuda_memory writes the bytes that libtorch's CUDA caching allocator
// holds in tensors on device now (*current) and at most since the last
// reset (*peak), then resets the peak when reset != 0. It returns 1 on
// success, 0 in a libtorch without CUDA, and -1 on an error (in
// torch_last_err).
int ad_cuda_memory(int device, int reset, int64_t *current, int64_t *peak) {
#if defined(AD_WITH_CUDA)
  try {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
    const auto &a = stats.allocated_bytes[0]; // the aggregate over pools
    *current = a.current;
    *peak = a.peak;
    if (reset) {
      c10::cuda::CUDACachingAllocator::resetPeakStats(device);
    }
    return 1;
  } catch (const std::exception &e) {
    torch_last_err = strdup(e.what());
    return -1;
  }
#else
  *current = 0;
  *peak = 0;
  return 0;
#endif
}

} // extern "C"
