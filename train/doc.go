// Package train trains and evaluates classifiers: the loop that every
// autodropout trial, baseline and final run goes through.
//
// Config.Precision (and LMConfig.Precision) runs the forward passes in
// bfloat16 or float16 under libtorch's autocast while the weights, their
// gradients and the optimizer stay float32 (see AMP); float16 adds
// dynamic loss scaling (LossScaler). The result records the precision
// used.
//
// The loop returns errors instead of exiting (a diverging child model is a
// recorded failure, not a crash of the search), drops each step's tensors
// as soon as they are used, and reports progress at a steady pace.
//
// Importing the package sets two glibc malloc parameters for the whole
// process (mmap threshold 32 MB, trim threshold 1 GB), so the memory a
// step frees is kept for the next step instead of being returned to the
// system and faulted back in page by page; resident memory then stays at
// its high-water mark. A process started with any MALLOC_* variable or
// glibc.malloc tunable keeps its own settings (docs/performance.md).
package train
