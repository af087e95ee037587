// Package libtorch reaches the parts of libtorch's runtime that gotch's Go
// layer does not export: the global random seed, the intra-op thread
// count, per-thread gradient mode, and autocast (mixed precision).
//
// Autocast is libtorch's own (at::autocast, what torch.autocast sets),
// reached through C functions that `make setup` compiles into gotch's C
// layer (internal/gotchbuild/extra/autocast.cpp). Its state is per OS
// thread: Autocast enters a region on the calling thread, which must stay
// locked to its goroutine until the region is left. Precision names the
// choices (fp32, bf16, fp16, auto) and Resolve maps auto to what the
// device computes natively (CPUHasBF16 reads /proc/cpuinfo).
//
// Importing the package sets the thread count to the number of cores (unless
// OMP_NUM_THREADS is set): Debian's libtorch otherwise starts with one
// thread. Seeding with ManualSeed makes libtorch's random tensors
// reproducible, which every run of autodropout relies on.
package libtorch
