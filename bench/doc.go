// Package bench measures, in one process, what a search spends its time
// on: the training step of each model with each regularizer, mask
// generation alone, the data loader against the step's consumption, and
// the controller against a trial. Its comparisons are ratios against a
// baseline measured in the same run, because the machines are shared and
// noisy: variants run round robin (one step of each in turn), and a ratio
// is the median over rounds of the two steps' ratio in that round. With
// Settings.PyTorch, scripts/bench_pytorch.py builds the same models in PyTorch
// eager (the same libtorch) in a second process, and each of our steps is
// followed by PyTorch's step of the same variant.
//
// Run takes Settings (DefaultSettings has the command's defaults) and
// returns a Report, the JSON of `autodropout bench --json`; the command
// `autodropout bench` is a thin shell over it.
package bench
