// Package gpucheck holds the checks that scripts/gpu-check.sh runs on a
// machine with a GPU, where the project's CUDA paths (autocast, float16 with
// the loss scaler, masks drawn on the device, models' forward passes) run
// for the first time: short trainings on synthetic data (Train), the
// per-cell drop rates of the masks on a device against the CPU's (Masks),
// and a model's forward pass against PyTorch's on the same weights
// (Forward). Each returns a report with OK and the numbers behind it, as
// JSON, which the command (autodropout gpucheck) prints. On a CPU the same
// checks run with the device set to the CPU, which is the script's dry run.
package gpucheck
