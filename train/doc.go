// Package train trains and evaluates classifiers: the loop that every
// autodropout trial, baseline and final run goes through.
//
// Config.Precision (and LMConfig.Precision) runs the forward passes in
// bfloat16 or float16 under libtorch's autocast while the weights, their
// gradients and the optimizer stay float32 (see AMP); float16 adds
// dynamic loss scaling (LossScaler). The result records the precision
// used.
//
// Config.UDA trains semi-supervised: each step adds a batch of unlabeled
// images in a weak and a strong view and UDA's consistency term (UDA;
// Xie et al. 2020), with the regularizers on the student's passes only.
//
// A run can stop between epochs (Config.StopEpoch) or, for a language
// model, between steps (LMConfig.StopStep), save a State, and continue
// from it exactly: the generators are reseeded per epoch (EpochSeed) or
// per step (StepSeed), and the state holds everything else the run
// carries (weights, SGD momentum, RMSProp's buffers or Adam's moments, a
// language model's memories and stream position, the loss scaler).
// Language models train with Adam, this package's own implementation of
// torch.optim.Adam, whose moments libtorch's optimizer would keep out of
// reach. Classifiers train with SGD (Nesterov momentum, libtorch's) or
// RMSProp (Config.Optimizer: TensorFlow's, EfficientNet's recipe, this
// package's own), on a cosine or an exponential staircase schedule with
// an optional linear warmup (Schedule).
//
// Config.Group makes a classifier's run one rank of a data-parallel
// training (package distributed): rank 0's variables are broadcast, c10d's
// Reducer averages the gradients during backward, masks are drawn per
// rank, and the losses and evaluation counts are summed over the ranks.
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
