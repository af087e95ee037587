package main

import (
	"encoding/json"
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
	asJSON := fs.Bool("json", false, "print the versions as JSON (the library's replaced bindings included)")
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
					gotchV += " (the copy make setup patches)" // its path is the build's, relative to the module
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
	lib, err := libtorch.LoadedLibrary()
	if err != nil {
		return err
	}
	cuda := gotch.CudaIfAvailable() != gotch.CPU
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"autodropout": mod, "go": runtime.Version(), "gotch": gotchV, "library": lib, "cuda": cuda,
		})
	}
	fmt.Printf("autodropout %s\n", mod)
	fmt.Printf("go          %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("gotch       %s\n", gotchV)
	fmt.Printf("library     %s (C ABI %s, %d gotch bindings replaced)\n", lib.Path, lib.ABI, len(lib.Replaced))
	fmt.Printf("libtorch    %s (%s build) at %s\n", lib.Libtorch, lib.Kind, lib.Root)
	fmt.Printf("cuda        %v\n", cuda)
	return nil
}
