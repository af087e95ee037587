package main

import (
	"fmt"

	"github.com/autodropout/autodropout/libtorch"
)

// defaultPrecision is --precision's default for train, bench and the
// search's trials (see docs/performance.md for why).
const defaultPrecision = libtorch.FP32

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
