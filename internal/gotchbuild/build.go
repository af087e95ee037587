package gotchbuild

import (
	"bytes"
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
	"text/template"
	"time"
)

// patchVersion changes whenever this package's output changes, so that the
// cache is rebuilt after an upgrade of the build step itself.
const patchVersion = "7"

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
	Libtorch *Libtorch // the libtorch to build against
	CXX      string    // C++ compiler, "g++" when empty
	Log      io.Writer // progress messages
	Force    bool      // rebuild even when the stamp matches
}

// Result reports what Build did.
type Result struct {
	Cached     bool     // nothing changed; the earlier build was kept
	Replaced   []string // bindings replaced by error stubs, sorted
	Rounds     int      // compiler runs
	OutBuffers int      // leaking output buffers made freed (see fixOutBuffers)
	KeptAlive  int      // runtime.KeepAlive calls added after C calls (see fixKeepAlive)
	Elapsed    time.Duration
}

// The manifest lists the replaced bindings, one per line, in OutDir.
const manifestName = "REPLACED_BINDINGS.txt"
const stampName = ".autodropout-stamp"

// Build makes OutDir a copy of gotch that compiles against cfg.Libtorch.
// It is cached: when the stamp in OutDir matches the libtorch, the compiler
// and this step's version, it returns at once.
func Build(cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.CXX == "" {
		cfg.CXX = "g++"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	stamp, err := stampFor(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.Force {
		if old, err := os.ReadFile(filepath.Join(cfg.OutDir, stampName)); err == nil && string(old) == stamp {
			replaced, _ := readManifest(cfg.OutDir)
			return &Result{Cached: true, Replaced: replaced, Elapsed: time.Since(start)}, nil
		}
	}

	fmt.Fprintf(cfg.Log, "gotch: building a copy for libtorch %s at %s (first time takes a few minutes)\n", cfg.Libtorch.Version, cfg.Libtorch.Root)
	tmp := cfg.OutDir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // left only by a failed build; renamed away on success
	if err := copyTree(cfg.GotchDir, tmp); err != nil {
		return nil, fmt.Errorf("copy gotch from %s: %w", cfg.GotchDir, err)
	}
	libtch := filepath.Join(tmp, "libtch")
	if err := os.WriteFile(filepath.Join(libtch, "lib.go"), []byte(LibGo(cfg.Libtorch)), 0o644); err != nil {
		return nil, err
	}
	if err := copyExtra(libtch); err != nil {
		return nil, err
	}
	if err := writeVersionFile(libtch, cfg.Libtorch); err != nil {
		return nil, err
	}
	res := &Result{}
	if res.OutBuffers, err = fixOutBuffers(filepath.Join(tmp, "ts")); err != nil {
		return nil, fmt.Errorf("gotch output buffers: %w", err)
	}
	if res.KeptAlive, err = fixKeepAlive(tmp); err != nil {
		return nil, fmt.Errorf("gotch keep-alive patch: %w", err)
	}
	if err := patchUntilItCompiles(cfg, libtch, res); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), []byte(strings.Join(res.Replaced, "\n")+"\n"), 0o644); err != nil {
		return nil, err
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

func stampFor(cfg Config) (string, error) {
	fp, err := cfg.Libtorch.Fingerprint()
	if err != nil {
		return "", fmt.Errorf("fingerprint libtorch: %w", err)
	}
	out, err := exec.Command(cfg.CXX, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s not found: install g++ (apt-get install g++): %w", cfg.CXX, err)
	}
	h := sha256.New()
	h.Write([]byte(strings.Join([]string{patchVersion, cfg.GotchDir, fp, firstLine(bytes.NewReader(out))}, "\n")))
	err = fs.WalkDir(extra, "extra", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := extra.ReadFile(path)
		fmt.Fprintf(h, "\n%s %d\n", path, len(b))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeVersionFile records the libtorch version this step found (Debian's
// package version where the header lags, see Find) in the C layer, so that
// every tool reports the same one (libtorch.Version).
func writeVersionFile(libtch string, lt *Libtorch) error {
	kind := "CPU"
	if lt.CUDA {
		kind = "CUDA"
	}
	src := fmt.Sprintf(`// Generated by autodropout's gotch build step (internal/gotchbuild).
extern "C" const char *ad_libtorch_version(void) { return %q; }
extern "C" const char *ad_libtorch_kind(void) { return %q; }
`, lt.Version, kind)
	return os.WriteFile(filepath.Join(libtch, "autodropout_version.cpp"), []byte(src), 0o644)
}

// copyExtra writes the extra C++ files into libtch, where cgo compiles them.
func copyExtra(libtch string) error {
	files, err := fs.Glob(extra, "extra/*.cpp")
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := extra.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(libtch, filepath.Base(f)), b, 0o644); err != nil {
			return fmt.Errorf("gotch extra C++ %s: %w", f, err)
		}
	}
	return nil
}

// compileArgs are the flags for checking libtch's C++ the way cgo will
// compile it.
func compileArgs(lt *Libtorch) []string {
	args := []string{"-std=c++17", "-w", "-I."}
	for _, d := range lt.IncludeDirs {
		args = append(args, "-I"+d)
	}
	return append(args, fmt.Sprintf("-D_GLIBCXX_USE_CXX11_ABI=%d", b2i(lt.CXX11ABI)))
}

// patchUntilItCompiles compiles libtch's C++ layer, replaces each binding
// the compiler rejects, and repeats; then links it to find bindings whose
// symbols the libtorch lacks, and repeats again.
func patchUntilItCompiles(cfg Config, libtch string, res *Result) error {
	replaced := map[string]bool{}
	obj, err := filepath.Abs(filepath.Join(libtch, "check.o"))
	if err != nil {
		return err
	}
	defer os.Remove(obj)
	defer os.Remove(obj + ".so")
	for round := 1; ; round++ {
		if round > 12 {
			return fmt.Errorf("gotch's C++ layer still fails to compile after %d rounds of replacing bindings", round-1)
		}
		res.Rounds = round
		fmt.Fprintf(cfg.Log, "gotch: compiling the C++ layer (round %d)...\n", round)
		args := append(compileArgs(cfg.Libtorch), "-O0", "-fPIC", "-c", apiFile, "-o", obj)
		out, err := run(libtch, cfg.CXX, args...)
		if err == nil {
			out, err = run(libtch, cfg.CXX, linkArgs(cfg.Libtorch, obj)...)
			if err == nil {
				break
			}
			names := UndefinedInFunctions(out)
			if len(names) == 0 {
				return fmt.Errorf("link check of gotch's C++ layer failed and no binding could be blamed:\n%s", tail(out, 4000))
			}
			if err := stubByName(libtch, names, cfg.Libtorch.Version, replaced); err != nil {
				return fmt.Errorf("%w\nlinker output:\n%s", err, tail(out, 4000))
			}
			fmt.Fprintf(cfg.Log, "gotch: %d bindings need symbols this libtorch lacks; replacing them\n", len(names))
			continue
		}
		n, perr := stubDiagnosed(libtch, out, cfg.Libtorch.Version, replaced)
		if perr != nil {
			return fmt.Errorf("%w\ncompiler output:\n%s", perr, tail(out, 4000))
		}
		fmt.Fprintf(cfg.Log, "gotch: %d bindings do not compile against libtorch %s; replacing them\n", n, cfg.Libtorch.Version)
	}
	for name := range replaced {
		res.Replaced = append(res.Replaced, name)
	}
	sort.Strings(res.Replaced)
	return nil
}

func linkArgs(lt *Libtorch, obj string) []string {
	args := []string{"-shared", "-o", obj + ".so", obj, "-L" + lt.LibDir, "-Wl,--no-undefined"}
	args = append(args, libs(lt)...)
	return append(args, "-lstdc++")
}

// stubDiagnosed replaces every function that the compiler output blames.
func stubDiagnosed(libtch, out, version string, replaced map[string]bool) (int, error) {
	diags := ParseDiagnostics(out, []string{generatedFile, apiFile})
	if len(diags) == 0 {
		return 0, fmt.Errorf("gotch's C++ layer failed to compile outside any binding")
	}
	n := 0
	for _, file := range []string{generatedFile, apiFile} {
		path := filepath.Join(libtch, file)
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		src := string(b)
		fns := Functions(src)
		names := map[string]bool{}
		for _, d := range diags {
			if d.File != file {
				continue
			}
			f, ok := Enclosing(fns, d.Line)
			if !ok {
				return 0, fmt.Errorf("%s:%d: %s (not inside a function this step can replace)", file, d.Line, d.Text)
			}
			if replaced[f.Name] {
				return 0, fmt.Errorf("%s:%d: the replacement of %s does not compile: %s", file, d.Line, f.Name, d.Text)
			}
			names[f.Name] = true
		}
		if len(names) == 0 {
			continue
		}
		src = ReplaceFunctions(src, fns, names, func(name string) string { return unavailable(name, version) })
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return 0, err
		}
		for name := range names {
			replaced[name] = true
		}
		n += len(names)
	}
	return n, nil
}

// stubByName replaces the named functions wherever they are defined.
func stubByName(libtch string, names []string, version string, replaced map[string]bool) error {
	left := map[string]bool{}
	for _, n := range names {
		if replaced[n] {
			return fmt.Errorf("the replacement of %s still needs missing symbols", n)
		}
		left[n] = true
	}
	for _, file := range []string{generatedFile, apiFile} {
		path := filepath.Join(libtch, file)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fns := Functions(string(b))
		here := map[string]bool{}
		for _, f := range fns {
			if left[f.Name] {
				here[f.Name] = true
				delete(left, f.Name)
			}
		}
		if len(here) == 0 {
			continue
		}
		src := ReplaceFunctions(string(b), fns, here, func(name string) string { return unavailable(name, version) })
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return err
		}
		for n := range here {
			replaced[n] = true
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("undefined references in functions this step cannot replace: %v", keys(left))
	}
	return nil
}

// unavailable is the error text of a replaced binding, e.g.
// "_cslt_compress is not available in libtorch 1.13.1".
func unavailable(binding, version string) string {
	op := strings.TrimPrefix(strings.TrimPrefix(binding, "atg_"), "at_")
	return fmt.Sprintf("%s is not available in libtorch %s (gotch binding %s was replaced at build time)", op, version, binding)
}

// ReadManifest returns the bindings replaced in the gotch copy at dir.
func readManifest(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

var libGoTemplate = template.Must(template.New("lib.go").Parse(`// Code generated by autodropout's gotch build (internal/gotchbuild); DO NOT EDIT.
// libtorch {{.Version}} at {{.Root}}{{if .CUDA}} (CUDA){{end}}

package libtch

// #cgo CPPFLAGS: -I${SRCDIR}{{range .IncludeDirs}} -I{{.}}{{end}} -D_GLIBCXX_USE_CXX11_ABI={{.ABI}}
// #cgo CFLAGS: -O1 -w
// #cgo CXXFLAGS: -std=c++17 -O1 -w
// #cgo LDFLAGS: -L{{.LibDir}} -Wl,-rpath,{{.LibDir}}{{range .Libs}} {{.}}{{end}} -lstdc++
import "C"
`))

// LibGo renders gotch's libtch/lib.go for lt.
func LibGo(lt *Libtorch) string {
	var b strings.Builder
	err := libGoTemplate.Execute(&b, struct {
		*Libtorch
		ABI  int
		Libs []string
	}{lt, b2i(lt.CXX11ABI), libs(lt)})
	if err != nil {
		panic(err) // the template is fixed; a failure is a bug here
	}
	return b.String()
}

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
