// Package distributed trains one model on many processes, data-parallel,
// through libtorch's own engine, c10d: the TCP store the processes meet
// at, the Gloo process group (CPUs) that carries the collectives, and
// the Reducer that PyTorch's DistributedDataParallel uses to average the
// gradients in buckets while backward still runs. Nothing here reduces
// tensors by itself; the C++ is internal/gotchbuild/extra/distributed.cpp.
//
// A process finds its place as torchrun tells it (EnvFromOS: MASTER_ADDR,
// MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK), so cluster launchers that
// set those variables work unchanged, and Launch starts N ranks on this
// machine as torchrun --nproc-per-node N does. Join meets the others and
// returns a Group; train.Config.Group makes a training run one rank of it:
//
//   - rank 0's parameters and buffers are broadcast at the start, and its
//     buffers again before every evaluation (batch-norm statistics stay
//     per rank while training, as in DDP without SyncBatchNorm);
//   - every rank reads a disjoint shard of each epoch's permutation
//     (data.LoaderConfig.Shards, as torch's DistributedSampler);
//   - a Reducer averages the gradients after each backward pass;
//   - evaluation counts and the training loss are summed over the ranks;
//   - masks are drawn per rank from MaskSeed(seed, rank);
//   - only rank 0 writes results, checkpoints and logs (package trial).
//
// Failures: every collective and the rendezvous are bounded by
// Options.Timeout. Each rank adds to a counter in the store every second
// (a heartbeat); when a collective fails, the rank checks which counters
// stopped and names those ranks in its error ("rank 0: gradient reducer
// failed: rank 1 stopped (no heartbeat for 2.5s): ..."); when the store
// itself is gone, rank 0, which serves it, has stopped. A rank that never
// joins makes the others fail after the timeout naming it.
//
// The backend is Gloo; NCCL (CUDA) needs a CUDA libtorch and is not built
// yet.
package distributed
