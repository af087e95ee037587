// Saving and loading named tensors through memory, so that the file I/O is
// Go's.
//
// gotch's at_save_multi hands libtorch a file name. On a full disk the
// archive's stream writer fails while it is being destroyed, and a C++
// exception thrown from a destructor calls std::terminate: the process ends
// with SIGABRT, whatever try/catch surrounds the call. Here the archive
// writes into a std::ostringstream instead, which cannot fail on I/O; the
// Go side (package libtorch) writes the bytes with an ordinary error, to a
// temporary file that it renames. Loading reads the bytes in Go the same
// way and parses them from memory.
//
// The bytes are the format of at_save_multi (torch::serialize::OutputArchive,
// a TorchScript zip), so files written either way load either way.
//
// Errors are returned as a malloc'd message in *err (this file cannot reach
// gotch's thread-local torch_last_err, which torch_api.h defines rather than
// declares). The caller frees every malloc'd result.
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

char *ad_copy_string(const std::string &s) {
  char *p = static_cast<char *>(malloc(s.size() + 1));
  if (p != nullptr) {
    memcpy(p, s.data(), s.size());
    p[s.size()] = 0;
  }
  return p;
}

}  // namespace

extern "C" {

// ad_save_multi_to_buffer serializes n tensors under names into a malloc'd
// buffer of *size bytes and returns it; on failure it returns NULL and sets
// *err.
char *ad_save_multi_to_buffer(void **tensors, char **names, int n,
                              size_t *size, char **err) {
  *err = nullptr;
  *size = 0;
  try {
    torch::serialize::OutputArchive archive;
    for (int i = 0; i < n; ++i) {
      archive.write(std::string(names[i]),
                    *static_cast<torch::Tensor *>(tensors[i]),
                    /*is_buffer=*/false);
    }
    std::ostringstream out;
    archive.save_to(out);
    if (!out) {
      throw std::runtime_error("writing the archive to memory failed");
    }
    const std::string s = out.str();
    char *buf = static_cast<char *>(malloc(s.empty() ? 1 : s.size()));
    if (buf == nullptr) {
      throw std::bad_alloc();
    }
    memcpy(buf, s.data(), s.size());
    *size = s.size();
    return buf;
  } catch (const std::exception &e) {
    *err = ad_copy_string(e.what());
  } catch (...) {
    *err = ad_copy_string("unknown C++ exception");
  }
  return nullptr;
}

// ad_load_multi_from_buffer parses size bytes written by
// ad_save_multi_to_buffer (or at_save_multi) onto device (-1: CPU, else the
// CUDA index). It returns the number of tensors and sets *names and
// *tensors to malloc'd arrays of that length (each name malloc'd, each
// tensor a new torch::Tensor); on failure it returns -1 and sets *err.
int ad_load_multi_from_buffer(const char *data, size_t size, int device,
                              char ***names, void ***tensors, char **err) {
  *err = nullptr;
  *names = nullptr;
  *tensors = nullptr;
  try {
    std::istringstream in(std::string(data, size));
    torch::Device dev = device < 0 ? torch::Device(torch::kCPU)
                                   : torch::Device(torch::kCUDA, device);
    torch::jit::script::Module module = torch::jit::load(in, dev);
    std::vector<std::string> ns;
    std::vector<torch::Tensor> ts;
    for (const auto &p : module.named_parameters()) {
      ns.push_back(p.name);
      ts.push_back(p.value);
    }
    for (const auto &p : module.named_buffers()) {
      ns.push_back(p.name);
      ts.push_back(p.value);
    }
    const int n = static_cast<int>(ns.size());
    char **np = static_cast<char **>(calloc(n > 0 ? n : 1, sizeof(char *)));
    void **tp = static_cast<void **>(calloc(n > 0 ? n : 1, sizeof(void *)));
    if (np == nullptr || tp == nullptr) {
      free(np);
      free(tp);
      throw std::bad_alloc();
    }
    // Nothing below throws but allocation; free what was made if it does.
    try {
      for (int i = 0; i < n; ++i) {
        np[i] = ad_copy_string(ns[i]);
        if (np[i] == nullptr) {
          throw std::bad_alloc();
        }
        tp[i] = new torch::Tensor(ts[i]);
      }
    } catch (...) {
      for (int i = 0; i < n; ++i) {
        free(np[i]);
        delete static_cast<torch::Tensor *>(tp[i]);
      }
      free(np);
      free(tp);
      throw;
    }
    *names = np;
    *tensors = tp;
    return n;
  } catch (const std::exception &e) {
    *err = ad_copy_string(e.what());
  } catch (...) {
    *err = ad_copy_string("unknown C++ exception");
  }
  return -1;
}

}  // extern "C"
