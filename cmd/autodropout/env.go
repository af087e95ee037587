package main

import (
	"fmt"
	"runtime"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

func runEnv(args []string) error {
	fs := newFlagSet("env")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fmt.Printf("cores:            %d\n", runtime.NumCPU())
	fmt.Printf("libtorch threads: %d\n", libtorch.Threads())
	fmt.Printf("cuda available:   %v\n", gotch.CudaIfAvailable() != gotch.CPU)
	auto, _ := libtorch.Resolve(libtorch.Auto, gotch.CPU)
	fmt.Printf("cpu bfloat16:     %v (--precision auto runs %s on the CPU)\n", libtorch.CPUHasBF16(), auto)
	blas := libtorch.BLAS()
	fmt.Printf("blas:             %s\n", blas)
	if blas.Reference() {
		fmt.Println("                  the reference BLAS is slow for float32 linear layers (a Transformer-XL step ~10x);")
		fmt.Println("                  install OpenBLAS: sudo apt-get install libopenblas0-pthread (make setup does)")
	}
	return nil
}
