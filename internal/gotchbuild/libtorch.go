package gotchbuild

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Libtorch describes one libtorch installation: where its headers and
// libraries are, which version it is, and how it was built.
type Libtorch struct {
	Root        string   // the folder the user named, or "/usr" for Debian's
	IncludeDirs []string // for -I, in order
	LibDir      string   // holds libtorch_cpu.so
	Version     string   // e.g. "1.13.1" or "2.1.0+cu121"
	CXX11ABI    bool     // built with _GLIBCXX_USE_CXX11_ABI=1
	CUDA        bool     // libtorch_cuda.so is present
	// CUDAIncludeDirs hold the CUDA runtime's headers (cuda_runtime_api.h),
	// which libtorch's c10/cuda headers include and PyTorch's wheels do not
	// ship: $CUDA_HOME/include, /usr/local/cuda/include, or the nvidia
	// wheel's next to a Python install's torch/. Empty when none is found.
	CUDAIncludeDirs []string
}

// cudaIncludeDirs finds the folders of the CUDA runtime's headers for a
// CUDA libtorch at root.
func cudaIncludeDirs(root string) []string {
	var dirs []string
	cands := []string{filepath.Join(os.Getenv("CUDA_HOME"), "include"), "/usr/local/cuda/include",
		filepath.Join(filepath.Dir(root), "nvidia", "cuda_runtime", "include")}
	for _, d := range cands {
		if d != "include" && exists(filepath.Join(d, "cuda_runtime_api.h")) {
			dirs = append(dirs, d)
			break
		}
	}
	return dirs
}

// ErrNotFound is wrapped by Find when no libtorch is installed.
var ErrNotFound = errors.New("libtorch not found")

// systemLibDirs are searched, in order, for Debian's libtorch.
var systemLibDirs = []string{
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib",
	"/usr/local/lib",
}

// Find locates libtorch. A non-empty root (the LIBTORCH variable) names an
// official libtorch folder or the torch/ folder of a Python install, both of
// which hold include/ and lib/. An empty root means the system's (Debian's
// libtorch-dev), looked for in libDirs (systemLibDirs when nil).
func Find(root string, libDirs []string) (*Libtorch, error) {
	if root != "" {
		return findRoot(root)
	}
	if libDirs == nil {
		libDirs = systemLibDirs
	}
	for _, dir := range libDirs {
		if !exists(filepath.Join(dir, "libtorch_cpu.so")) {
			continue
		}
		// Debian installs headers under <prefix>/include next to <prefix>/lib/...
		prefix := filepath.Dir(dir)
		if filepath.Base(prefix) == "lib" {
			prefix = filepath.Dir(prefix)
		}
		inc := filepath.Join(prefix, "include")
		lt := &Libtorch{
			Root:        prefix,
			IncludeDirs: []string{inc, filepath.Join(inc, "torch", "csrc", "api", "include")},
			LibDir:      dir,
		}
		if err := lt.complete(); err != nil {
			return nil, err
		}
		if v := debianVersion(); v != "" && prefix == "/usr" {
			lt.Version = v
		}
		return lt, nil
	}
	return nil, fmt.Errorf("%w in %s: install Debian's libtorch-dev "+
		"(apt-get install libtorch-dev, or run make setup as root), "+
		"or set LIBTORCH=/path/to/libtorch (an official libtorch folder or a Python install's torch/ folder)",
		ErrNotFound, strings.Join(libDirs, ", "))
}

func findRoot(root string) (*Libtorch, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("LIBTORCH=%s: %w", root, err)
	}
	lt := &Libtorch{
		Root:        abs,
		IncludeDirs: []string{filepath.Join(abs, "include"), filepath.Join(abs, "include", "torch", "csrc", "api", "include")},
		LibDir:      filepath.Join(abs, "lib"),
	}
	if !exists(filepath.Join(lt.LibDir, "libtorch_cpu.so")) {
		return nil, fmt.Errorf("%w: LIBTORCH=%s has no lib/libtorch_cpu.so: "+
			"point it at an unpacked libtorch folder or a Python install's torch/ folder, "+
			"or unset it to use Debian's libtorch-dev", ErrNotFound, root)
	}
	if err := lt.complete(); err != nil {
		return nil, err
	}
	// Official builds record their exact version (with the CUDA tag).
	if b, err := os.ReadFile(filepath.Join(abs, "build-version")); err == nil {
		if v := strings.TrimSpace(string(b)); v != "" {
			lt.Version = v
		}
	}
	return lt, nil
}

// complete fills the version, ABI and CUDA fields from the files.
func (lt *Libtorch) complete() error {
	for _, p := range []string{lt.LibDir, lt.IncludeDirs[0]} {
		if strings.ContainsAny(p, " \t\"'") {
			return fmt.Errorf("libtorch path %q contains a space or quote, which cgo flags cannot carry: move or link it elsewhere", p)
		}
	}
	vh := filepath.Join(lt.IncludeDirs[1], "torch", "version.h")
	v, err := headerVersion(vh)
	if err != nil {
		return fmt.Errorf("%w: headers missing or unreadable (%v): install libtorch-dev, or use a libtorch folder that has include/", ErrNotFound, err)
	}
	lt.Version = v
	abi, err := usesCXX11ABI(filepath.Join(lt.LibDir, "libc10.so"))
	if err != nil {
		return fmt.Errorf("detect the C++ ABI of libtorch: %w", err)
	}
	lt.CXX11ABI = abi
	lt.CUDA = exists(filepath.Join(lt.LibDir, "libtorch_cuda.so"))
	if lt.CUDA {
		lt.CUDAIncludeDirs = cudaIncludeDirs(lt.Root)
	}
	return nil
}

var versionMacro = regexp.MustCompile(`#define\s+TORCH_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)`)

// headerVersion reads torch/version.h.
func headerVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	parts := map[string]string{}
	for _, m := range versionMacro.FindAllStringSubmatch(string(b), -1) {
		parts[m[1]] = m[2]
	}
	if len(parts) != 3 {
		return "", fmt.Errorf("%s: no TORCH_VERSION_MAJOR/MINOR/PATCH", path)
	}
	return parts["MAJOR"] + "." + parts["MINOR"] + "." + parts["PATCH"], nil
}

// debianVersion is the upstream version of the installed libtorch-dev
// package, which is more precise than the headers (1.13.1 ships headers
// saying 1.13.0).
func debianVersion() string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "libtorch-dev").Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(out))
	if i := strings.IndexByte(v, ':'); i >= 0 { // epoch
		v = v[i+1:]
	}
	if i := strings.IndexAny(v, "+-~"); i >= 0 {
		v = v[:i]
	}
	return v
}

// usesCXX11ABI reports whether lib exports symbols of the new libstdc++
// string ABI. Official "pre-cxx11" libtorch builds do not; Debian's and the
// "cxx11-abi" builds do.
func usesCXX11ABI(lib string) (bool, error) {
	f, err := elf.Open(lib)
	if err != nil {
		return false, err
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return false, fmt.Errorf("%s: %w", lib, err)
	}
	for _, s := range syms {
		if strings.Contains(s.Name, "__cxx11") {
			return true, nil
		}
	}
	return false, nil
}

// Fingerprint identifies this libtorch for the build cache: it changes when
// the libtorch is replaced, upgraded or moved.
func (lt *Libtorch) Fingerprint() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%v\n%s\n%v\n%v\n", lt.Root, lt.IncludeDirs, lt.LibDir, lt.CXX11ABI, lt.CUDA)
	for _, name := range []string{
		filepath.Join(lt.IncludeDirs[1], "torch", "version.h"),
		filepath.Join(lt.LibDir, "libtorch_cpu.so"),
		filepath.Join(lt.LibDir, "libc10.so"),
	} {
		fi, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	fmt.Fprintf(h, "%s\n", lt.Version)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// firstLine returns the first line of r, for compiler version strings.
func firstLine(r io.Reader) string {
	s := bufio.NewScanner(r)
	if s.Scan() {
		return s.Text()
	}
	return ""
}
