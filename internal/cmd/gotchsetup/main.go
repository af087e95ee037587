// Command gotchsetup prepares gotch for this machine's libtorch, in two
// parts (internal/gotchbuild says why and how):
//
//   - .build/gotch: a copy of gotch v0.9.1 from the module cache whose Go
//     layer builds without libtorch: its C functions are reached through
//     trampolines into the C++ library, loaded when a program starts; its Go
//     wrappers keep every tensor they pass to C alive until the call
//     returns. A git-ignored go.work points our module at the copy.
//   - lib/libautodropout_torch.so: gotch's C++ layer and autodropout's own,
//     built against the libtorch found, with the bindings this libtorch
//     cannot compile replaced by ones that return an error (same C
//     signature, so one binary serves every build of the library).
//
// make setup runs it; it is cached and returns at once when nothing changed.
//
// Usage:
//
//	go run ./internal/cmd/gotchsetup [-force] [-out .build/gotch] [-lib lib] [-jobs N] [-consumer DIR]
//	gotchsetup -lib-only -src TORCHSRC [-lib DIR] [-force] [-jobs N]
//	go run ./internal/cmd/gotchsetup -export-src DIR
//
// -lib-only builds only the library, from C++ sources exported with
// -export-src: it needs g++ and a libtorch but no Go, so a statically
// linked gotchsetup (CGO_ENABLED=0, make gpu-kit) builds the library on a
// machine without Go (scripts/gpu-check.sh).
//
// -consumer DIR also writes DIR/go.work, so that a module of your own in
// DIR builds against this checkout and its patched gotch (make consumer
// DIR=... runs it). Its go line is the highest of the two modules' and of
// the go.work already there; the module needs no require line for
// autodropout, and go mod tidy, which ignores go.work, cannot resolve it.
//
// LIBTORCH=/path selects another libtorch (an official one, CUDA included,
// or a Python install's torch/ folder); unset, Debian's libtorch-dev is used.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/autodropout/autodropout/internal/gotchbuild"
)

const gotchModule = "github.com/sugarme/gotch@v0.9.1"

type options struct {
	out, lib, src, exportSrc, consumer string
	force, list, libOnly               bool
	jobs                               int
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", ".build/gotch", "folder for the patched gotch copy")
	flag.StringVar(&o.lib, "lib", "lib", "folder for the C++ library "+gotchbuild.LibraryName)
	flag.BoolVar(&o.force, "force", false, "rebuild even if nothing changed")
	flag.BoolVar(&o.list, "list", false, "print the replaced bindings")
	flag.StringVar(&o.consumer, "consumer", "", "also write DIR/go.work for a module that imports autodropout from this checkout")
	flag.BoolVar(&o.libOnly, "lib-only", false, "build only the C++ library, from -src (no Go needed)")
	flag.StringVar(&o.src, "src", "", "with -lib-only: the C++ sources that -export-src wrote")
	flag.StringVar(&o.exportSrc, "export-src", "", "copy gotch's C++ sources into DIR for -lib-only elsewhere, and stop")
	flag.IntVar(&o.jobs, "jobs", 0, "parallel compiler runs (0: one per CPU)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gotchsetup: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := setup(o); err != nil {
		fmt.Fprintln(os.Stderr, "gotchsetup:", err)
		os.Exit(1)
	}
}

func setup(o options) error {
	switch {
	case o.exportSrc != "":
		src, err := moduleDir(gotchModule)
		if err != nil {
			return err
		}
		if err := gotchbuild.ExportSources(filepath.Join(src, "libtch"), o.exportSrc); err != nil {
			return fmt.Errorf("export C++ sources: %w", err)
		}
		fmt.Printf("gotch: C++ sources of the library in %s (build it with gotchsetup -lib-only -src %s)\n", o.exportSrc, o.exportSrc)
		return nil
	case o.libOnly:
		if o.src == "" {
			return fmt.Errorf("-lib-only needs -src DIR, the C++ sources written by gotchsetup -export-src")
		}
		return buildLibrary(o, o.src)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	src, err := moduleDir(gotchModule)
	if err != nil {
		return err
	}
	libDir, err := filepath.Abs(o.lib)
	if err != nil {
		return err
	}
	res, err := gotchbuild.Build(gotchbuild.Config{GotchDir: src, OutDir: o.out, LibDir: libDir, Log: os.Stdout, Force: o.force})
	if err != nil {
		return err
	}
	if res.Cached {
		fmt.Printf("gotch: up to date (C ABI %s, %d C functions)\n", res.ABI, res.Functions)
	} else {
		fmt.Printf("gotch: ready in %s: %d C functions behind trampolines (C ABI %s), %d leaking output buffers freed, %d KeepAlive calls added after C calls\n",
			res.Elapsed.Round(1e9), res.Functions, res.ABI, res.OutBuffers, res.KeptAlive)
	}
	if err := buildLibrary(o, filepath.Join(src, "libtch")); err != nil {
		return err
	}
	abs, _ := filepath.Abs(o.out)
	wd, _ := os.Getwd()
	if _, err := gotchbuild.WriteWorkFile(wd, abs); err != nil {
		return fmt.Errorf("write go.work: %w", err)
	}
	if o.consumer != "" {
		return writeConsumer(o.consumer, wd, abs)
	}
	return nil
}

// buildLibrary builds the C++ library from the sources in src against the
// libtorch that LIBTORCH names (Debian's when unset) and says what it did.
func buildLibrary(o options, src string) error {
	lt, err := gotchbuild.Find(os.Getenv("LIBTORCH"), nil)
	if err != nil {
		return err
	}
	res, err := gotchbuild.BuildLibrary(gotchbuild.LibConfig{
		SrcDir: src, OutDir: o.lib, Libtorch: lt, CXX: os.Getenv("CXX"), Jobs: o.jobs, Log: os.Stdout, Force: o.force,
	})
	if err != nil {
		return err
	}
	i := res.Info
	if res.Cached {
		fmt.Printf("library: %s up to date for libtorch %s (%s) at %s; %d bindings replaced\n", res.Path, i.Libtorch, i.Kind, i.Root, len(i.Replaced))
	} else {
		fmt.Printf("library: %s ready for libtorch %s (%s) at %s in %s: %d compiler rounds, %d bindings replaced (listed in %s.json)\n",
			res.Path, i.Libtorch, i.Kind, i.Root, res.Elapsed.Round(1e9), res.Rounds, len(i.Replaced), res.Path)
	}
	if o.list {
		fmt.Println(strings.Join(i.Replaced, "\n"))
	}
	return nil
}

// moduleDir downloads (if needed) a module and returns its cache folder.
func moduleDir(mod string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w (is the Go module proxy reachable?)", mod, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(b, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	return info.Dir, nil
}

// writeConsumer writes the go.work of the module in consumer (see
// gotchbuild.WriteConsumerWorkFile) and says what it did.
func writeConsumer(consumer, checkout, gotchCopy string) error {
	dir, err := filepath.Abs(consumer)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return fmt.Errorf("-consumer %s: no go.mod there (run go mod init in your module first)", consumer)
	}
	goVersion, err := gotchbuild.WriteConsumerWorkFile(dir, checkout, gotchCopy)
	if err != nil {
		return fmt.Errorf("write %s/go.work: %w", consumer, err)
	}
	fmt.Printf("gotch: wrote %s/go.work (go %s): that module now builds against %s and its patched gotch (go mod tidy ignores go.work: use go build, run, test, vet, get)\n", consumer, goVersion, checkout)
	if tv := runtime.Version(); version.IsValid(tv) && version.Compare(tv, "go"+goVersion) < 0 {
		fmt.Printf("gotch: note: go %s is newer than this Go (%s); the go command will want that toolchain\n", goVersion, runtime.Version())
	}
	return nil
}
