// Package libtorch reaches the parts of libtorch's runtime that gotch's Go
// layer does not export: the global random seed and the intra-op thread
// count.
//
// Importing the package sets the thread count to the number of cores (unless
// OMP_NUM_THREADS is set): Debian's libtorch otherwise starts with one
// thread. Seeding with ManualSeed makes libtorch's random tensors
// reproducible, which every run of autodropout relies on.
package libtorch
