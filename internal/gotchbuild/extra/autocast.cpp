// Autocast (automatic mixed precision) for gotch's C layer.
//
// libtorch keeps autocast's state per thread: whether autocast is on for a
// device type, the lower-precision dtype it casts to, a nesting depth, and a
// cache of weights already cast in the current region. These functions enter
// and leave an autocast region the way torch.autocast's __enter__ and
// __exit__ do (torch/amp/autocast_mode.py), so that ops dispatched on the
// calling thread inside the region go through libtorch's Autocast kernels:
// matmul, linear and convolution run in the lower precision, losses and
// reductions in float32, as PyTorch's own lists say.
//
// Errors come back as a malloc'd message (NULL on success) that the caller
// frees, not through gotch's torch_last_err: that variable is defined in
// torch_api.h, which only one translation unit may include.
//
// libtorch 2.4 replaced the per-device calls (is_cpu_enabled,
// get_autocast_gpu_dtype, ...) with ones that take the device type and
// deprecated the old ones, which then warn on every call; the helpers below
// pick the calls of the libtorch they are compiled against.
#include <ATen/autocast_mode.h>
#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define AD_AUTOCAST_BY_DEVICE 1
#endif

namespace {

char *autocast_error(const char *what) {
  char *s = strdup(what);
  return s;
}

bool autocast_enabled(int cuda) {
#ifdef AD_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(int cuda, bool on) {
#ifdef AD_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
#else
  if (cuda) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
#endif
}

at::ScalarType autocast_dtype(int cuda) {
#ifdef AD_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(int cuda, at::ScalarType st) {
#ifdef AD_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, st);
#else
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(st);
  } else {
    at::autocast::set_autocast_cpu_dtype(st);
  }
#endif
}

} // namespace

extern "C" {

// atd_autocast_enter turns autocast on for CPU (cuda == 0) or CUDA (cuda != 0)
// with the ScalarType code dtype, and writes the previous state into
// saved[0..2] (enabled, dtype, cache enabled) for atd_autocast_exit.
char *atd_autocast_enter(int cuda, int dtype, int64_t *saved) {
  try {
    auto st = static_cast<at::ScalarType>(dtype);
    saved[2] = at::autocast::is_autocast_cache_enabled();
    saved[0] = autocast_enabled(cuda);
    saved[1] = static_cast<int64_t>(autocast_dtype(cuda));
    set_autocast_enabled(cuda, true);
    set_autocast_dtype(cuda, st);
    at::autocast::increment_nesting();
    at::autocast::set_autocast_cache_enabled(true);
    return nullptr;
  } catch (const std::exception &e) {
    return autocast_error(e.what());
  } catch (...) {
    return autocast_error("unknown C++ exception in atd_autocast_enter");
  }
}

// atd_autocast_exit leaves the region entered with the same saved state.
// Leaving the outermost region drops the cache of cast weights, so that the
// next region casts the weights the optimizer has updated since.
char *atd_autocast_exit(int cuda, const int64_t *saved) {
  try {
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    set_autocast_enabled(cuda, saved[0] != 0);
    set_autocast_dtype(cuda, static_cast<at::ScalarType>(saved[1]));
    at::autocast::set_autocast_cache_enabled(saved[2] != 0);
    return nullptr;
  } catch (const std::exception &e) {
    return autocast_error(e.what());
  } catch (...) {
    return autocast_error("unknown C++ exception in atd_autocast_exit");
  }
}

// atd_autocast_state reports whether autocast is on for the device type on
// the calling thread, and its dtype's ScalarType code.
int atd_autocast_state(int cuda, int *dtype) {
  try {
    *dtype = static_cast<int>(autocast_dtype(cuda));
    return autocast_enabled(cuda) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// atd_cuda_bf16 reports whether the current CUDA device computes bfloat16
// natively (compute capability 8.0 or later, asked through libtorch's CUDA
// hooks, which a CPU-only libtorch answers with false).
int atd_cuda_bf16(void) {
  try {
    if (!at::globalContext().hasCUDA()) {
      return 0;
    }
    return at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

} // extern "C"
