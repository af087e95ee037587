// Command gotchsetup prepares gotch for this machine's libtorch: it copies
// gotch v0.9.1 from the module cache into .build/gotch, writes its cgo flags
// for the libtorch found, replaces the generated bindings that this libtorch
// cannot compile with ones that return an error, makes its Go wrappers keep
// every tensor they pass to C alive until the call returns, and writes a
// git-ignored go.work that points our module at the copy. make setup runs
// it; it is cached and returns at once when nothing changed.
//
// Usage:
//
//	go run ./internal/cmd/gotchsetup [-force] [-out .build/gotch] [-consumer DIR]
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

func main() {
	out := flag.String("out", ".build/gotch", "folder for the patched gotch copy")
	force := flag.Bool("force", false, "rebuild even if nothing changed")
	list := flag.Bool("list", false, "print the replaced bindings")
	consumer := flag.String("consumer", "", "also write DIR/go.work for a module that imports autodropout from this checkout")
	flag.Parse()
	if err := setup(*out, *force, *list, *consumer); err != nil {
		fmt.Fprintln(os.Stderr, "gotchsetup:", err)
		os.Exit(1)
	}
}

func setup(out string, force, list bool, consumer string) error {
	lt, err := gotchbuild.Find(os.Getenv("LIBTORCH"), nil)
	if err != nil {
		return err
	}
	src, err := moduleDir(gotchModule)
	if err != nil {
		return err
	}
	res, err := gotchbuild.Build(gotchbuild.Config{
		GotchDir: src, OutDir: out, Libtorch: lt, CXX: os.Getenv("CXX"), Log: os.Stdout, Force: force,
	})
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	wd, _ := os.Getwd()
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the module root: %w", err)
	}
	if _, err := gotchbuild.WriteWorkFile(wd, abs); err != nil {
		return fmt.Errorf("write go.work: %w", err)
	}
	if consumer != "" {
		if err := writeConsumer(consumer, wd, abs); err != nil {
			return err
		}
	}
	kind := "CPU"
	if lt.CUDA {
		kind = "CUDA"
	}
	if res.Cached {
		fmt.Printf("gotch: up to date for libtorch %s (%s) at %s; %d bindings replaced\n", lt.Version, kind, lt.Root, len(res.Replaced))
	} else {
		fmt.Printf("gotch: ready for libtorch %s (%s) at %s in %s: %d compiler rounds, %d bindings replaced (listed in %s/REPLACED_BINDINGS.txt), %d leaking output buffers freed, %d KeepAlive calls added after C calls\n",
			lt.Version, kind, lt.Root, res.Elapsed.Round(1e9), res.Rounds, len(res.Replaced), out, res.OutBuffers, res.KeptAlive)
	}
	if list {
		fmt.Println(strings.Join(res.Replaced, "\n"))
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
