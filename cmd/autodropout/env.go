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
	fmt.Printf("cores:            %d\n", runtime.NumCPU())
	fmt.Printf("libtorch threads: %d\n", libtorch.Threads())
	fmt.Printf("cuda available:   %v\n", gotch.CudaIfAvailable() != gotch.CPU)
	return nil
}
