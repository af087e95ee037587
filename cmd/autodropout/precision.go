package main

import (
	"fmt"

	"github.com/autodropout/autodropout/libtorch"
)

// defaultPrecision is --precision's default for train and so for the
// search's and experiments' trials: bf16 where the CPU computes it
// natively, fp32 elsewhere. On Fashion-MNIST bf16 and fp32 reach the same
// test accuracy (paired difference −0.05 points, 95% interval −0.32 to
// +0.22, 8 seeds) at about half the step time (docs/performance.md).
const defaultPrecision = libtorch.Auto

// precisionUsage is --precision's help text.
const precisionUsage = "precision of the forward passes: fp32, bf16 (autocast; weights stay float32), fp16 (CUDA, with loss scaling) or auto (bf16 where the CPU has AVX512-BF16 or AMX, or the GPU bf16; else fp32 on a CPU, fp16 on a GPU)"

// parsePrecision reads a --precision value.
func parsePrecision(s string) (libtorch.Precision, error) {
	p, err := libtorch.ParsePrecision(s)
	if err != nil {
		return "", fmt.Errorf("--precision: %w", err)
	}
	return p, nil
}
