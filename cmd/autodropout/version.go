package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/search"
	"github.com/sugarme/gotch"
)

// runVersion prints the versions of this program, gotch and libtorch, and
// whether CUDA is present.
func runVersion(args []string) error {
	fs := newFlagSet("version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	mod, gotchV := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		mod = bi.Main.Version
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
		if rev != "" {
			mod += fmt.Sprintf(" (commit %.12s%s)", rev, dirty)
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/sugarme/gotch" {
				gotchV = d.Version
				if d.Replace != nil {
					gotchV += " (patched copy at " + d.Replace.Path + ")"
				}
			}
		}
	}
	if os.Getenv(search.ProbeEnv) != "" {
		// A search checks that its trainer binary is this command
		// (search.CheckBinary): the first line answers, quickly.
		fmt.Printf("autodropout %s\n", mod)
		return nil
	}
	lt, kind := libtorch.Version()
	fmt.Printf("autodropout %s\n", mod)
	fmt.Printf("go          %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("gotch       %s\n", gotchV)
	fmt.Printf("libtorch    %s (%s build)\n", lt, kind)
	fmt.Printf("cuda        %v\n", gotch.CudaIfAvailable() != gotch.CPU)
	return nil
}
