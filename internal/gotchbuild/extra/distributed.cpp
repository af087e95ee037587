// autodropout: replaceable
//
// (The marker above lets the library build replace this file's functions
// with error stubs, NULL or -1 and a message in *err, where it does not
// compile against a libtorch: c10d's classes change between releases, and
// a GPU machine's libtorch must still get a library for everything else.)
//
// Data-parallel training through libtorch's c10d: the process group
// (Gloo on CPUs), the TCP store that ranks meet at, and the Reducer that
// PyTorch's DistributedDataParallel uses to average gradients in buckets
// while backward still runs.
//
// Package distributed (Go) calls these functions; they are extern "C",
// take plain types and opaque handles, and never let a C++ exception
// cross the boundary: a failure returns NULL or -1 and a malloc'd message
// in *err, which the caller frees.
//
// Two headers that the calls need cannot be included as they are from
// Debian's libtorch-dev 1.13, though the library exports everything:
//
//   - ProcessGroupGloo.hpp includes gloo's headers, which the package does
//     not ship (/usr/include/gloo is absent). Where they are missing, this
//     file declares the part of the class it uses: the Options, the device
//     factories and the constructor, with the data members in their order
//     so the object has its size (416 bytes in 1.13, checked against the
//     allocation in libtorch_python). The object is allocated with slack
//     beyond that size, in case another release adds a member, and the
//     library's own constructor, virtual functions and destructor do the
//     rest.
//   - reducer.hpp includes torch/csrc/distributed/autograd/context/
//     context.h, which is missing too, for one member (an RPC context: a
//     shared_ptr and an atomic pointer). Where it is missing, reducer.hpp is
//     read as on Windows, which drops that member from the declaration; the
//     Reducer is then allocated with slack for it and only ever handled
//     through the library's out-of-line functions, which know the real
//     layout.
//
// Where the headers are complete (PyTorch's own libtorch), both are
// included as they are.
#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Utils.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<gloo/context.h>)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define AD_GLOO_SLACK 0
#else
namespace gloo {
class Context;
namespace rendezvous {
class Store;
}
namespace transport {
class Device;
}
}  // namespace gloo

namespace c10d {
// The part of ProcessGroupGloo (ProcessGroupGloo.hpp, 1.13) that this file
// uses. Nested work classes are left out; the members keep their order and
// sizes (a deque or vector of pointers has the same layout whatever it
// points to).
class TORCH_API ProcessGroupGloo : public ProcessGroup {
 public:
  struct TORCH_API Options : public ProcessGroup::Options {
    explicit Options(
        std::chrono::milliseconds timeout = kProcessGroupDefaultTimeout);
    std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
    int threads;
  };
  static std::shared_ptr<::gloo::transport::Device> createDeviceForInterface(
      const std::string& interface);
  static std::shared_ptr<::gloo::transport::Device> createDeviceForHostname(
      const std::string& hostname);
  static std::shared_ptr<::gloo::transport::Device> createDefaultDevice();
  explicit ProcessGroupGloo(const c10::intrusive_ptr<Store>& store, int rank,
                            int size, c10::intrusive_ptr<Options> options);
  virtual ~ProcessGroupGloo();

 protected:
  std::unique_ptr<::gloo::rendezvous::Store> store_;
  const c10::intrusive_ptr<Options> options_;
  std::vector<std::shared_ptr<::gloo::Context>> contexts_;
  std::vector<std::thread> threads_;
  bool stop_;
  uint32_t collectiveCounter_;
  std::deque<void*> workQueue_;      // deque<intrusive_ptr<AsyncWork>>
  std::vector<void*> workInProgress_;  // vector<intrusive_ptr<AsyncWork>>
  std::mutex workMutex_;
  std::condition_variable workProduceCV_;
  std::condition_variable workConsumeCV_;
};
}  // namespace c10d
#define AD_GLOO_SLACK 256
#endif

#if __has_include(<torch/csrc/distributed/autograd/context/context.h>)
#include <torch/csrc/distributed/c10d/reducer.hpp>
#define AD_REDUCER_SLACK 0
#else
// Everything reducer.hpp includes but context.h, first, so that _WIN32
// reaches reducer.hpp's own text only.
#include <ATen/core/ivalue_inl.h>
#include <c10/macros/Macros.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/profiler.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/debug.h>
#include <torch/csrc/distributed/c10d/default_comm_hooks.hpp>
#include <torch/csrc/distributed/c10d/reducer_timer.hpp>
#define _WIN32 1
#include <torch/csrc/distributed/c10d/reducer.hpp>
#undef _WIN32
#define AD_REDUCER_SLACK 256
#endif

namespace {

char* ad_dup(const std::string& s) {
  char* p = static_cast<char*>(malloc(s.size() + 1));
  if (p != nullptr) {
    memcpy(p, s.data(), s.size());
    p[s.size()] = 0;
  }
  return p;
}

// ad_fail stores the current exception's message in *err.
void ad_fail(char** err) {
  try {
    throw;
  } catch (const c10::Error& e) {
    *err = ad_dup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = ad_dup(e.what());
  } catch (...) {
    *err = ad_dup("unknown C++ exception");
  }
}

// A group is one rank's membership: the store the ranks met at and the
// Gloo process group over it.
struct ad_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::chrono::milliseconds timeout;
  int rank = 0;
  int world = 1;
};

c10::intrusive_ptr<c10d::ProcessGroup> new_gloo(
    const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
    std::chrono::milliseconds timeout, const char* iface, const char* host) {
  auto opts = c10::make_intrusive<c10d::ProcessGroupGloo::Options>(timeout);
  if (iface != nullptr && iface[0] != 0) {
    opts->devices.push_back(
        c10d::ProcessGroupGloo::createDeviceForInterface(iface));
  } else if (host != nullptr && host[0] != 0) {
    opts->devices.push_back(
        c10d::ProcessGroupGloo::createDeviceForHostname(host));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  opts->threads = 2;  // as torch.distributed: two per device
  using PG = c10d::ProcessGroupGloo;
  void* mem = ::operator new(sizeof(PG) + AD_GLOO_SLACK);
  PG* pg;
  try {
    pg = new (mem) PG(store, rank, world, opts);
  } catch (...) {
    ::operator delete(mem);
    throw;
  }
  // A new object: the pointer takes its first reference; the library's
  // deleting destructor frees it.
  return c10::intrusive_ptr<c10d::ProcessGroup>::unsafe_steal_from_new(pg);
}

std::vector<at::Tensor> ad_tensors(void** ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) {
    v.push_back(*static_cast<at::Tensor*>(ts[i]));
  }
  return v;
}

// ad_wait waits for work, turning a failure or a timeout into an
// exception.
void ad_wait(const c10::intrusive_ptr<c10d::Work>& work,
             std::chrono::milliseconds timeout, const char* what) {
  if (!work->wait(timeout)) {
    throw std::runtime_error(std::string(what) + " timed out");
  }
}

// A reducer holds a c10d::Reducer over a model's parameters.
struct ad_reducer {
  void* mem = nullptr;
  c10d::Reducer* r = nullptr;
};

}  // namespace

extern "C" {

// ad_dist_new meets the other ranks at a store: a TCP store at host:port
// (rank 0 serves it) or, when file is set, a file store; it records this
// rank's arrival under autodropout/joined/RANK. timeout_ms bounds the
// rendezvous and, after ad_dist_start, every collective.
void* ad_dist_new(const char* host, int port, const char* file, int rank,
                  int world, int64_t timeout_ms, char** err) {
  *err = nullptr;
  try {
    auto g = std::make_unique<ad_group>();
    g->timeout = std::chrono::milliseconds(timeout_ms);
    g->rank = rank;
    g->world = world;
    if (file != nullptr && file[0] != 0) {
      g->store = c10::make_intrusive<c10d::FileStore>(file, world);
    } else {
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(port);
      o.isServer = rank == 0;
      o.numWorkers = world;
      o.waitWorkers = false;
      o.timeout = g->timeout;
      g->store = c10::make_intrusive<c10d::TCPStore>(host, o);
    }
    g->store->setTimeout(g->timeout);
    g->store->set("autodropout/joined/" + std::to_string(rank),
                  std::vector<uint8_t>{1});
    return g.release();
  } catch (...) {
    ad_fail(err);
    return nullptr;
  }
}

// ad_dist_start builds the Gloo process group over the store, with device
// iface (a network interface), else gloo_host (an address of this
// machine), else Gloo's default device; it waits for every rank.
int ad_dist_start(void* h, const char* iface, const char* gloo_host,
                  char** err) {
  *err = nullptr;
  try {
    auto g = static_cast<ad_group*>(h);
    auto prefixed =
        c10::make_intrusive<c10d::PrefixStore>("autodropout/gloo", g->store);
    g->pg = new_gloo(prefixed, g->rank, g->world, g->timeout, iface, gloo_host);
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

void ad_dist_free(void* h) {
  try {
    delete static_cast<ad_group*>(h);
  } catch (...) {
  }
}

// ad_dist_broadcast copies rank root's tensors into every rank's, in
// coalesced buckets (as DistributedDataParallel syncs a model).
int ad_dist_broadcast(void* h, void** ts, int n, int root, char** err) {
  *err = nullptr;
  try {
    auto g = static_cast<ad_group*>(h);
    auto v = ad_tensors(ts, n);
    at::NoGradGuard no_grad;  // parameters are written in place
    if (!v.empty()) {
      c10d::broadcast_coalesced(g->pg, v, 256 * 1024 * 1024, root);
    }
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

// ad_dist_allreduce sums each tensor over the ranks, in place.
int ad_dist_allreduce(void* h, void** ts, int n, char** err) {
  *err = nullptr;
  try {
    auto g = static_cast<ad_group*>(h);
    at::NoGradGuard no_grad;
    for (int i = 0; i < n; ++i) {
      std::vector<at::Tensor> one{*static_cast<at::Tensor*>(ts[i])};
      ad_wait(g->pg->allreduce(one), g->timeout, "all-reduce");
    }
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

int ad_dist_barrier(void* h, char** err) {
  *err = nullptr;
  try {
    auto g = static_cast<ad_group*>(h);
    ad_wait(g->pg->barrier(), g->timeout, "barrier");
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

// ad_store_add adds delta to the store's counter key and returns the sum.
int64_t ad_store_add(void* h, const char* key, int64_t delta, char** err) {
  *err = nullptr;
  try {
    return static_cast<ad_group*>(h)->store->add(key, delta);
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

// ad_store_check returns 1 when key is in the store, 0 when not.
int ad_store_check(void* h, const char* key, char** err) {
  *err = nullptr;
  try {
    return static_cast<ad_group*>(h)->store->check({key}) ? 1 : 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

// ad_store_client opens another connection to a TCP store (for a
// heartbeat on its own thread); free it with ad_dist_free.
void* ad_store_client(const char* host, int port, int rank, int world,
                      int64_t timeout_ms, char** err) {
  *err = nullptr;
  try {
    auto g = std::make_unique<ad_group>();
    g->timeout = std::chrono::milliseconds(timeout_ms);
    g->rank = rank;
    g->world = world;
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = g->timeout;
    g->store = c10::make_intrusive<c10d::TCPStore>(host, o);
    return g.release();
  } catch (...) {
    ad_fail(err);
    return nullptr;
  }
}

// ad_reducer_new builds the Reducer of DistributedDataParallel over the
// parameters: buckets of bucket_cap_bytes (the first of 1 MiB), filled in
// the reverse order of the parameters, as DDP does, and rebuilt after the
// first step in the order the gradients arrived. Every parameter must get
// a gradient in every step (find_unused_parameters is off).
void* ad_reducer_new(void* h, void** params, int n, int64_t bucket_cap_bytes,
                     char** err) {
  *err = nullptr;
  auto red = std::make_unique<ad_reducer>();
  try {
    auto g = static_cast<ad_group*>(h);
    auto v = ad_tensors(params, n);
    std::vector<bool> sparse(v.size(), false);
    auto assign = c10d::compute_bucket_assignment_by_size(
        v,
        {static_cast<size_t>(c10d::kDefaultFirstBucketBytes),
         static_cast<size_t>(bucket_cap_bytes)},
        sparse);
    auto buckets = std::get<0>(assign);
    auto limits = std::get<1>(assign);
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    red->mem = ::operator new(sizeof(c10d::Reducer) + AD_REDUCER_SLACK);
    red->r = new (red->mem) c10d::Reducer(
        v, buckets, limits, g->pg, sparse, bucket_cap_bytes,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
        {}, c10d::kDefaultFirstBucketBytes);
    return red.release();
  } catch (...) {
    if (red->mem != nullptr) {
      ::operator delete(red->mem);
    }
    ad_fail(err);
    return nullptr;
  }
}

// ad_reducer_prepare_forward starts a training step: the buckets are
// rebuilt once, after the first step (a collective: every rank calls it
// at the same step).
int ad_reducer_prepare_forward(void* h, char** err) {
  *err = nullptr;
  try {
    auto red = static_cast<ad_reducer*>(h);
    red->r->prepare_for_forward();
    red->r->rebuild_buckets();
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

// ad_reducer_prepare_backward arms the gradient hooks for the next
// backward pass; the averaged gradients are in place when it returns.
int ad_reducer_prepare_backward(void* h, char** err) {
  *err = nullptr;
  try {
    static_cast<ad_reducer*>(h)->r->prepare_for_backward({});
    return 0;
  } catch (...) {
    ad_fail(err);
    return -1;
  }
}

void ad_reducer_free(void* h) {
  auto red = static_cast<ad_reducer*>(h);
  if (red == nullptr) {
    return;
  }
  try {
    red->r->~Reducer();
  } catch (...) {
  }
  ::operator delete(red->mem);
  delete red;
}

}  // extern "C"
