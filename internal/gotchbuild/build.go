package gotchbuild

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// patchVersion changes whenever this package's output changes, so that the
// cache is rebuilt after an upgrade of the build step itself.
const patchVersion = "8"

// extra holds the C++ that autodropout adds to gotch's C layer (see
// extra/autodropout_api.cpp); Build copies each file into libtch, and the
// stamp hashes their contents, so editing one rebuilds the copy.
//
//go:embed extra/*.cpp
var extra embed.FS

// The two C++ files that gotch compiles; generated bindings live in the
// first, hand-written ones in the second.
const (
	generatedFile = "torch_api_generated.cpp.h"
	apiFile       = "torch_api.cpp"
)

// Config says what to build and where.
type Config struct {
	GotchDir string    // gotch's module folder (read-only module cache)
	OutDir   string    // where the patched copy goes, e.g. .build/gotch
	LibDir   string    // absolute folder of the C++ library setup builds, the binaries' last resort
	Log      io.Writer // progress messages
	Force    bool      // rebuild even when the stamp matches
}

// Result reports what Build did.
type Result struct {
	Cached     bool // nothing changed; the earlier build was kept
	Functions  int  // C functions the binaries reach through trampolines
	ABI        string
	OutBuffers int // leaking output buffers made freed (see fixOutBuffers)
	KeptAlive  int // runtime.KeepAlive calls added after C calls (see fixKeepAlive)
	Elapsed    time.Duration
}

const stampName = ".autodropout-stamp"

// Build makes OutDir a copy of gotch whose Go layer builds without libtorch:
// its C++ is removed (BuildLibrary compiles it into the library), lib.go
// links only libdl, and adload.c and adtramp.S reach the library's
// functions (see doc.go). It is cached: when the stamp in OutDir matches
// gotch, the library folder and this step's version, it returns at once.
func Build(cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	abi, err := ReadABI(filepath.Join(cfg.GotchDir, "libtch"))
	if err != nil {
		return nil, err
	}
	stamp := goStamp(cfg, abi)
	if !cfg.Force {
		if old, err := os.ReadFile(filepath.Join(cfg.OutDir, stampName)); err == nil && string(old) == stamp {
			return &Result{Cached: true, Functions: len(abi.Decls), ABI: abi.Hash, Elapsed: time.Since(start)}, nil
		}
	}
	fmt.Fprintf(cfg.Log, "gotch: writing a copy whose C layer is %s (C ABI %s)\n", LibraryName, abi.Hash)
	tmp := cfg.OutDir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // left only by a failed build; renamed away on success
	if err := copyTree(cfg.GotchDir, tmp); err != nil {
		return nil, fmt.Errorf("copy gotch from %s: %w", cfg.GotchDir, err)
	}
	libtch := filepath.Join(tmp, "libtch")
	if err := writeGoSide(libtch, abi, filepath.Join(cfg.LibDir, LibraryName)); err != nil {
		return nil, err
	}
	res := &Result{Functions: len(abi.Decls), ABI: abi.Hash}
	if res.OutBuffers, err = fixOutBuffers(filepath.Join(tmp, "ts")); err != nil {
		return nil, fmt.Errorf("gotch output buffers: %w", err)
	}
	if res.KeptAlive, err = fixKeepAlive(tmp); err != nil {
		return nil, fmt.Errorf("gotch keep-alive patch: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, stampName), []byte(stamp), 0o644); err != nil {
		return nil, err
	}
	// Swap in the new copy only once it is complete.
	if err := os.RemoveAll(cfg.OutDir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, cfg.OutDir); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func goStamp(cfg Config, abi *ABI) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%s\n", patchVersion, cfg.GotchDir, abi.Hash, cfg.LibDir, loaderBody, libGo)
	return hex.EncodeToString(h.Sum(nil))
}

// writeGoSide turns libtch into a C layer without C++: gotch's C++ files
// go (the library has them), lib.go, adload.c and adtramp.S come.
func writeGoSide(libtch string, abi *ABI, defaultLib string) error {
	for _, f := range SourceFiles {
		if strings.HasSuffix(f, ".cpp") || strings.HasSuffix(f, ".cpp.h") || strings.HasPrefix(f, "stb_") {
			if err := os.Remove(filepath.Join(libtch, f)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	files := map[string]string{
		"lib.go":    libGo,
		"adload.c":  loaderC(abi, defaultLib),
		"adtramp.S": trampolineS(abi),
		"adload.go": adloadGo,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(libtch, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// compileArgs are the flags for compiling the library's C++ against lt.
func compileArgs(lt *Libtorch) []string {
	args := []string{"-std=c++17", "-w", "-I."}
	for _, d := range lt.IncludeDirs {
		args = append(args, "-I"+d)
	}
	args = append(args, fmt.Sprintf("-D_GLIBCXX_USE_CXX11_ABI=%d", b2i(lt.CXX11ABI)))
	if lt.CUDA && len(lt.CUDAIncludeDirs) > 0 {
		// For the extra C++ that uses CUDA's headers (cuda_memory.cpp);
		// without them it compiles as for a CPU libtorch.
		for _, d := range lt.CUDAIncludeDirs {
			args = append(args, "-I"+d)
		}
		args = append(args, "-DAD_WITH_CUDA=1")
	}
	return args
}

// unavailable is the error text of a replaced binding, e.g.
// "_cslt_compress is not available in libtorch 1.13.1".
func unavailable(binding, version string) string {
	op := strings.TrimPrefix(strings.TrimPrefix(binding, "atg_"), "at_")
	return fmt.Sprintf("%s is not available in libtorch %s (gotch binding %s was replaced at build time)", op, version, binding)
}

// libGo is gotch's libtch/lib.go: the C side needs only gotch's C
// headers (in libtch) and libdl, which the loader opens the library with.
const libGo = `// Code generated by autodropout's gotch build (internal/gotchbuild); DO NOT EDIT.
// The C++ of this package lives in ` + LibraryName + ` (see adload.c).

package libtch

// #cgo CPPFLAGS: -I${SRCDIR}
// #cgo CFLAGS: -O1 -w
// #cgo LDFLAGS: -ldl
import "C"
`

// adloadGo is the Go side of the loader: the library's state for package
// libtorch, which reaches it through weak C declarations.
const adloadGo = `// Code generated by autodropout's gotch build (internal/gotchbuild); DO NOT EDIT.

package libtch

// const char *ad_loader_error(void);
import "C"

// LibraryError is why the C++ library could not be loaded, or "" when it is.
func LibraryError() string {
	if e := C.ad_loader_error(); e != nil {
		return C.GoString(e)
	}
	return ""
}
`

// libs are the libraries to link. CUDA's are kept even though nothing
// references them directly: they register the CUDA backend when loaded.
func libs(lt *Libtorch) []string {
	if lt.CUDA {
		return []string{"-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed", "-ltorch", "-ltorch_cpu", "-lc10"}
	}
	return []string{"-ltorch", "-ltorch_cpu", "-lc10"}
}

func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// copyTree copies a folder, making files writable (the module cache is not).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

func keys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
