package gotchbuild

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SourceFiles are the files of gotch's libtch folder that the library is
// built from (ExportSources copies them for a machine without Go).
var SourceFiles = []string{
	apiFile, generatedFile, "torch_api.h", "torch_api_generated.h",
	"stb_image.h", "stb_image_write.h", "stb_image_resize.h",
}

// LibConfig says which library to build, from what, and where.
type LibConfig struct {
	SrcDir   string    // gotch's C++ sources: a gotch libtch folder or an ExportSources folder
	OutDir   string    // where LibraryName and its LibraryName+".json" go
	Libtorch *Libtorch // the libtorch to build against
	CXX      string    // C++ compiler, "g++" when empty
	Jobs     int       // parallel compiler runs, the number of CPUs when 0
	Log      io.Writer // progress messages
	Force    bool      // rebuild even when the stamp matches
	CacheDir string    // compiled objects by content; ObjectCacheDir(OutDir) when empty

	extra fs.FS // autodropout's C++ (extra/*.cpp); the embedded files when nil
}

// LibInfo is the library's identity, compiled into it (ad_library_info)
// and written next to it as LibraryName+".json".
type LibInfo struct {
	Library  string   `json:"library"`
	ABI      string   `json:"abi"`
	Libtorch string   `json:"libtorch"`
	Kind     string   `json:"kind"` // "CPU" or "CUDA"
	Root     string   `json:"root"`
	LibDir   string   `json:"lib_dir"`
	CXX11ABI bool     `json:"cxx11_abi"`
	Compiler string   `json:"compiler"`
	Replaced []string `json:"replaced"` // bindings replaced by error stubs, sorted
	Missing  []string `json:"missing"`  // declared by gotch's headers but defined nowhere: stubs too
}

// LibResult reports what BuildLibrary did.
type LibResult struct {
	Path    string
	Info    LibInfo
	Cached  bool
	Rounds  int
	Elapsed time.Duration
}

const libStampName = ".libautodropout_torch.stamp"

// replaceableMarker starts the extra C++ files whose functions may be
// replaced when they do not compile; they include torch_api.h.
const replaceableMarker = "// autodropout: replaceable"

// BuildLibrary compiles gotch's C layer and autodropout's (extra/*.cpp)
// into one shared library, OutDir/LibraryName, linked against
// cfg.Libtorch: the generated bindings are split into files compiled in
// parallel; each binding the compiler rejects, or whose symbols the
// libtorch lacks, is replaced by one with the same C signature that reports
// "<op> is not available in libtorch <version>"; the library records its C
// ABI hash and its libtorch. Cached by a stamp like Build.
func BuildLibrary(cfg LibConfig) (*LibResult, error) {
	start := time.Now()
	if cfg.CXX == "" {
		cfg.CXX = "g++"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = runtime.NumCPU()
	}
	if cfg.extra == nil {
		cfg.extra = extra
	}
	// The compiler runs in a scratch folder: every path it gets is absolute.
	var err error
	if cfg.OutDir, err = filepath.Abs(cfg.OutDir); err != nil {
		return nil, err
	}
	if cfg.SrcDir, err = filepath.Abs(cfg.SrcDir); err != nil {
		return nil, err
	}
	abi, err := readABI(cfg.SrcDir, cfg.extra)
	if err != nil {
		return nil, err
	}
	stamp, compiler, err := libStamp(cfg, abi)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.OutDir, LibraryName)
	if !cfg.Force {
		if old, err := os.ReadFile(filepath.Join(cfg.OutDir, libStampName)); err == nil && string(old) == stamp {
			if info, err := ReadLibInfo(path + ".json"); err == nil {
				return &LibResult{Path: path, Info: *info, Cached: true, Elapsed: time.Since(start)}, nil
			}
		}
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(cfg.OutDir, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(cfg.Log, "library: building %s for libtorch %s at %s with %d jobs (first time takes a few minutes)\n", LibraryName, cfg.Libtorch.Version, cfg.Libtorch.Root, cfg.Jobs)
	if cfg.CacheDir == "" {
		cfg.CacheDir = ObjectCacheDir(cfg.OutDir)
	}
	b := &libBuild{cfg: cfg, abi: abi, work: work, replaced: map[string]bool{}, cache: cfg.CacheDir, used: map[string]bool{}}
	fp, _ := cfg.Libtorch.Fingerprint() // libStamp succeeded with it
	b.cacheSalt = patchVersion + "\n" + fp + "\n" + compiler
	if err := b.prepare(); err != nil {
		return nil, err
	}
	rounds, err := b.compileUntilItLinks()
	if err != nil {
		return nil, err
	}
	info := b.info(compiler)
	if err := b.finish(info, path); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.OutDir, libStampName), []byte(stamp), 0o644); err != nil {
		return nil, err
	}
	b.pruneCache()
	return &LibResult{Path: path, Info: info, Rounds: rounds, Elapsed: time.Since(start)}, nil
}

// libStamp hashes what the library depends on: this step's version, the
// sources, the extra C++, the libtorch and the compiler.
func libStamp(cfg LibConfig, abi *ABI) (stamp, compiler string, err error) {
	fp, err := cfg.Libtorch.Fingerprint()
	if err != nil {
		return "", "", fmt.Errorf("fingerprint libtorch: %w", err)
	}
	out, err := runCmd("", cfg.CXX, "--version")
	if err != nil {
		return "", "", fmt.Errorf("%s not found: install g++ (apt-get install g++): %w", cfg.CXX, err)
	}
	compiler = firstLine(strings.NewReader(out))
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n", patchVersion, abi.Hash, fp, compiler)
	for _, f := range SourceFiles {
		b, err := os.ReadFile(filepath.Join(cfg.SrcDir, f))
		if err != nil {
			return "", "", fmt.Errorf("gotch's C++ sources: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	err = fs.WalkDir(cfg.extra, "extra", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(cfg.extra, p)
		fmt.Fprintf(h, "\n%s %d\n", p, len(b))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), compiler, err
}

// A libBuild is one library build in a scratch folder.
type libBuild struct {
	cfg      LibConfig
	abi      *ABI
	work     string
	units    []string        // translation units, file names in work
	stubbed  map[string]bool // units whose failures may be replaced (gotch's, and replaceable extras)
	whole    map[string]bool // replaceable extras: a failure replaces every function of the file
	replaced map[string]bool
	missing  []string

	// The compiler's results by unit content (see compile): a rebuild
	// after a change recompiles only the units that changed.
	cache     string          // folder of <key>.o and <key>.err
	cacheSalt string          // what every key depends on besides the unit
	used      map[string]bool // keys this build used, kept by pruneCache
	mu        sync.Mutex
}

// prepare writes the translation units: torch_api.cpp without the
// generated bindings, which are split into chunk files, the extra C++, and
// stubs for declared functions that nothing defines.
func (b *libBuild) prepare() error {
	b.stubbed = map[string]bool{}
	for _, f := range SourceFiles {
		src, err := os.ReadFile(filepath.Join(b.cfg.SrcDir, f))
		if err != nil {
			return fmt.Errorf("gotch's C++ sources: %w", err)
		}
		if f == "torch_api.h" {
			// The header defines gotch's error variable; with several
			// units it must only declare it (torch_api.cpp defines it).
			src = bytes.Replace(src, []byte("thread_local char *torch_last_err = nullptr;"), []byte("extern thread_local char *torch_last_err;"), 1)
		}
		if err := os.WriteFile(filepath.Join(b.work, f), src, 0o644); err != nil {
			return err
		}
	}
	api, err := os.ReadFile(filepath.Join(b.work, apiFile))
	if err != nil {
		return err
	}
	apiSrc := strings.Replace(string(api), "#include \""+generatedFile+"\"", "", 1)
	apiSrc = strings.Replace(apiSrc, "#include \"torch_api.h\"", "#include \"torch_api.h\"\nthread_local char *torch_last_err = nullptr;", 1)
	if err := b.addUnit(apiFile, apiSrc, true); err != nil {
		return err
	}
	gen, err := os.ReadFile(filepath.Join(b.work, generatedFile))
	if err != nil {
		return err
	}
	if err := b.splitGenerated(string(gen), includeLines(apiSrc)); err != nil {
		return err
	}
	files, err := fs.Glob(b.cfg.extra, "extra/*.cpp")
	if err != nil {
		return err
	}
	for _, f := range files {
		src, err := fs.ReadFile(b.cfg.extra, f)
		if err != nil {
			return err
		}
		// Our own C++ must compile, except a file that marks itself
		// replaceable (its functions then become error stubs like a
		// binding's; see extra/cuda_memory.cpp).
		replaceable := strings.HasPrefix(string(src), replaceableMarker)
		if err := b.addUnit(filepath.Base(f), string(src), replaceable); err != nil {
			return err
		}
		if replaceable {
			if b.whole == nil {
				b.whole = map[string]bool{}
			}
			b.whole[filepath.Base(f)] = true
		}
	}
	return b.stubMissing()
}

func (b *libBuild) addUnit(name, src string, stubbable bool) error {
	b.units = append(b.units, name)
	b.stubbed[name] = stubbable
	return os.WriteFile(filepath.Join(b.work, name), []byte(src), 0o644)
}

// includeLines returns the #include lines of torch_api.cpp that chunks of
// bindings need (not stb's implementations, which only torch_api.cpp has).
func includeLines(src string) string {
	var b strings.Builder
	for _, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#include") && !strings.Contains(t, "stb_image") {
			b.WriteString(t + "\n")
		}
	}
	return b.String() + "using namespace std;\n"
}

// splitGenerated writes the generated bindings as chunk files of whole
// functions, about two per job, so a round of compiling runs in parallel
// and a failing binding costs a recompile of its chunk only.
func (b *libBuild) splitGenerated(gen, includes string) error {
	fns := Functions(gen)
	if len(fns) == 0 {
		return fmt.Errorf("%s: no bindings found", generatedFile)
	}
	n := max(4, 2*b.cfg.Jobs)
	n = min(n, len(fns))
	per := (len(fns) + n - 1) / n
	for i, c := 0, 0; i < len(fns); i, c = i+per, c+1 {
		// Chunks cut between functions and together cover the whole file.
		j := min(i+per, len(fns))
		from, to := fns[i].Start, len(gen)
		if i == 0 {
			from = 0
		}
		if j < len(fns) {
			to = fns[j].Start
		}
		src := "// Part of " + generatedFile + " (bindings " + fmt.Sprint(i) + " to " + fmt.Sprint(j-1) + ").\n" +
			includes + gen[from:to] + "\n"
		if err := b.addUnit(fmt.Sprintf("gen_%02d.cpp", c), src, true); err != nil {
			return err
		}
	}
	return nil
}

// stubMissing adds ad_missing.cpp with an error stub for each function the
// headers declare and no source defines, so the library exports the whole
// C ABI.
func (b *libBuild) stubMissing() error {
	defined := map[string]bool{}
	for _, u := range b.units {
		src, err := os.ReadFile(filepath.Join(b.work, u))
		if err != nil {
			return err
		}
		for _, f := range Functions(string(src)) {
			defined[f.Name] = true
		}
		for _, d := range ExternCFuncs(string(src)) {
			defined[d.Name] = true
		}
	}
	for _, d := range infoFuncs {
		defined[d.Name] = true
	}
	var stubs strings.Builder
	stubs.WriteString("#include \"torch_api.h\"\n#include <cstring>\n")
	for _, d := range b.abi.Decls {
		if defined[d.Name] {
			continue
		}
		b.missing = append(b.missing, d.Name)
		msg := d.Name + " is declared by gotch's C headers but defined nowhere"
		stubs.WriteString(Stub(Function{Name: d.Name, ReturnType: d.Ret, Header: d.Text}, msg) + "\n")
	}
	if len(b.missing) == 0 {
		return nil
	}
	return b.addUnit("ad_missing.cpp", stubs.String(), false)
}

// compileUntilItLinks compiles every unit, replaces the bindings the
// compiler rejects and recompiles their units, then links and does the
// same for bindings whose symbols the libtorch lacks. It returns the
// number of compile rounds.
func (b *libBuild) compileUntilItLinks() (int, error) {
	pending := append([]string(nil), b.units...)
	for round := 1; ; round++ {
		if round > 12 {
			return round, fmt.Errorf("the C++ library still fails to build after %d rounds of replacing bindings", round-1)
		}
		fmt.Fprintf(b.cfg.Log, "library: compiling %d files (round %d)...\n", len(pending), round)
		outs := b.compile(pending)
		var again []string
		for _, u := range pending {
			out, failed := outs[u]
			if !failed {
				continue
			}
			n, err := b.stubDiagnosed(u, out)
			if err != nil {
				return round, err
			}
			fmt.Fprintf(b.cfg.Log, "library: %s: %d bindings do not compile against libtorch %s; replacing them\n", u, n, b.cfg.Libtorch.Version)
			again = append(again, u)
		}
		if len(again) > 0 {
			pending = again
			continue
		}
		out, err := runCmd(b.work, b.cfg.CXX, b.linkArgs("check.so")...)
		if err == nil {
			return round, nil
		}
		pending, err = b.stubUndefined(out)
		if err != nil {
			return round, err
		}
	}
}

// compile runs the compiler on units in parallel and returns the output of
// those that failed.
func (b *libBuild) compile(units []string) map[string]string {
	failed := map[string]string{}
	var mu sync.Mutex
	sem := make(chan struct{}, b.cfg.Jobs)
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Add(1)
		sem <- struct{}{}
		go func(u string) {
			defer wg.Done()
			defer func() { <-sem }()
			if out, ok := b.compileOne(u); !ok {
				mu.Lock()
				failed[u] = out
				mu.Unlock()
			}
		}(u)
	}
	wg.Wait()
	return failed
}

// compileOne compiles unit into its object, or takes the object (or the
// errors) from the cache when the same source was compiled before with
// the same compiler, flags and libtorch.
func (b *libBuild) compileOne(u string) (out string, ok bool) {
	args := append(compileArgs(b.cfg.Libtorch), "-O1", "-fPIC", "-c", u, "-o", objName(u))
	src, err := os.ReadFile(filepath.Join(b.work, u))
	if err != nil {
		return err.Error(), false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", b.cacheSalt, args)
	h.Write(src)
	key := filepath.Join(b.cache, hex.EncodeToString(h.Sum(nil))[:32])
	b.mu.Lock()
	b.used[filepath.Base(key)] = true
	b.mu.Unlock()
	obj := filepath.Join(b.work, objName(u))
	if e, err := os.ReadFile(key + ".err"); err == nil {
		return string(e), false
	}
	if o, err := os.ReadFile(key + ".o"); err == nil && os.WriteFile(obj, o, 0o644) == nil {
		return "", true
	}
	out, err = runCmd(b.work, b.cfg.CXX, args...)
	if os.MkdirAll(b.cache, 0o755) == nil {
		if err != nil {
			_ = os.WriteFile(key+".err", []byte(out+"\n"+err.Error()), 0o644)
		} else if o, rerr := os.ReadFile(obj); rerr == nil {
			_ = os.WriteFile(key+".o.tmp", o, 0o644)
			_ = os.Rename(key+".o.tmp", key+".o")
		}
	}
	if err != nil {
		return out + "\n" + err.Error(), false
	}
	return out, true
}

// ObjectCacheDir is where compiled objects are kept: the user's cache
// folder, shared by every checkout on the machine (a fresh clone then
// builds its library in seconds), or outDir/.cache without one.
func ObjectCacheDir(outDir string) string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "autodropout", "torchlib-objects")
	}
	return filepath.Join(outDir, ".cache")
}

// cacheKeepFor is how long an entry no build used stays in the cache:
// other checkouts and other libtorches share it.
const cacheKeepFor = 30 * 24 * time.Hour

// pruneCache marks the entries this build used as fresh and removes those
// no build used for cacheKeepFor.
func (b *libBuild) pruneCache() {
	entries, _ := os.ReadDir(b.cache)
	now := time.Now()
	for _, e := range entries {
		path := filepath.Join(b.cache, e.Name())
		name := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".o"), ".err")
		if b.used[name] {
			_ = os.Chtimes(path, now, now)
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > cacheKeepFor {
			os.Remove(path)
		}
	}
}

func objName(unit string) string { return strings.TrimSuffix(unit, ".cpp") + ".o" }

func (b *libBuild) linkArgs(out string) []string {
	lt := b.cfg.Libtorch
	args := []string{"-shared", "-o", out, "-Wl,-soname," + LibraryName}
	for _, u := range b.units {
		args = append(args, objName(u))
	}
	args = append(args, "-L"+lt.LibDir, "-Wl,-rpath,"+lt.LibDir, "-Wl,--no-undefined")
	args = append(args, libs(lt)...)
	return append(args, "-lstdc++")
}

// stubDiagnosed replaces the bindings of unit that the compiler output
// blames. Units that are not gotch's (the extra C++) cannot be replaced:
// their errors end the build.
func (b *libBuild) stubDiagnosed(unit, out string) (int, error) {
	if !b.stubbed[unit] {
		return 0, fmt.Errorf("%s (autodropout's own C++) does not compile against libtorch %s:\n%s", unit, b.cfg.Libtorch.Version, tail(out, 4000))
	}
	if b.whole[unit] {
		return b.stubWholeUnit(unit)
	}
	diags := ParseDiagnostics(out, []string{unit})
	if len(diags) == 0 {
		return 0, fmt.Errorf("%s failed to compile outside any binding:\n%s", unit, tail(out, 4000))
	}
	names := map[string]bool{}
	src, err := os.ReadFile(filepath.Join(b.work, unit))
	if err != nil {
		return 0, err
	}
	fns := Functions(string(src))
	for _, d := range diags {
		f, ok := Enclosing(fns, d.Line)
		if !ok || !b.isABI(f.Name) {
			return 0, fmt.Errorf("%s:%d: %s (not inside a binding this step can replace)\n%s", unit, d.Line, d.Text, tail(out, 4000))
		}
		if b.replaced[f.Name] {
			return 0, fmt.Errorf("%s:%d: the replacement of %s does not compile: %s", unit, d.Line, f.Name, d.Text)
		}
		names[f.Name] = true
	}
	return len(names), b.replace(unit, string(src), fns, names)
}

// stubWholeUnit replaces a replaceable extra file that does not compile by
// error stubs of all its extern "C" functions: its C++ may fail anywhere
// (a header the libtorch lacks, a changed class), not only inside them.
// A stub with an error out-parameter named err (char **err, the convention
// of extra/*.cpp) fills it and returns NULL or -1, as those functions do
// on failure.
func (b *libBuild) stubWholeUnit(unit string) (int, error) {
	src, err := os.ReadFile(filepath.Join(b.work, unit))
	if err != nil {
		return 0, err
	}
	fns := ExternCFuncs(string(src))
	var out strings.Builder
	out.WriteString(replaceableMarker + " (replaced: it does not compile against this libtorch)\n#include \"torch_api.h\"\n#include <cstring>\n")
	for _, f := range fns {
		if b.replaced[f.Name] {
			return 0, fmt.Errorf("%s: the replacement of %s does not compile", unit, f.Name)
		}
		msg := unavailable(f.Name, b.cfg.Libtorch.Version)
		stub := Stub(Function{Name: f.Name, ReturnType: f.Ret, Header: f.Text}, msg)
		if errOut.MatchString(f.Text) {
			// The convention of a function that reports through err:
			// NULL or -1 on failure.
			stub = strings.Replace(stub, "\n", fmt.Sprintf("\n  if (err) *err = strdup(%s);", strconv.Quote(msg)), 1)
			if !strings.Contains(f.Ret, "*") {
				stub = strings.Replace(stub, "return {};", "return -1;", 1)
			}
		}
		out.WriteString("extern \"C\" " + stub + "\n")
		b.replaced[f.Name] = true
	}
	return len(fns), os.WriteFile(filepath.Join(b.work, unit), []byte(out.String()), 0o644)
}

// errOut matches the error out-parameter of the extra C++'s functions.
var errOut = regexp.MustCompile(`char\s*\*\s*\*\s*err\s*[,)]`)

func (b *libBuild) isABI(name string) bool {
	i := sort.Search(len(b.abi.Decls), func(i int) bool { return b.abi.Decls[i].Name >= name })
	return i < len(b.abi.Decls) && b.abi.Decls[i].Name == name
}

func (b *libBuild) replace(unit, src string, fns []Function, names map[string]bool) error {
	v := b.cfg.Libtorch.Version
	src = ReplaceFunctions(src, fns, names, func(name string) string { return unavailable(name, v) })
	for n := range names {
		b.replaced[n] = true
	}
	return os.WriteFile(filepath.Join(b.work, unit), []byte(src), 0o644)
}

// stubUndefined replaces the bindings that the linker found to need
// symbols the libtorch lacks, and returns the units to recompile.
func (b *libBuild) stubUndefined(out string) ([]string, error) {
	names := UndefinedInFunctions(out)
	if len(names) == 0 {
		return nil, fmt.Errorf("linking the C++ library failed and no binding could be blamed:\n%s", tail(out, 4000))
	}
	left := map[string]bool{}
	for _, n := range names {
		if b.replaced[n] || !b.isABI(n) {
			return nil, fmt.Errorf("%s needs symbols libtorch %s lacks and cannot be replaced:\n%s", n, b.cfg.Libtorch.Version, tail(out, 4000))
		}
		left[n] = true
	}
	var units []string
	for _, u := range b.units {
		if !b.stubbed[u] {
			continue
		}
		src, err := os.ReadFile(filepath.Join(b.work, u))
		if err != nil {
			return nil, err
		}
		fns := Functions(string(src))
		here := map[string]bool{}
		for _, f := range fns {
			if left[f.Name] {
				here[f.Name] = true
				delete(left, f.Name)
			}
		}
		if len(here) > 0 {
			units = append(units, u)
			if err := b.replace(u, string(src), fns, here); err != nil {
				return nil, err
			}
		}
	}
	if len(left) > 0 {
		return nil, fmt.Errorf("undefined references in functions this step cannot replace: %v", keys(left))
	}
	fmt.Fprintf(b.cfg.Log, "library: %d bindings need symbols libtorch %s lacks; replacing them\n", len(names), b.cfg.Libtorch.Version)
	return units, nil
}

func (b *libBuild) info(compiler string) LibInfo {
	lt := b.cfg.Libtorch
	kind := "CPU"
	if lt.CUDA {
		kind = "CUDA"
	}
	info := LibInfo{
		Library: LibraryName, ABI: b.abi.Hash, Libtorch: lt.Version, Kind: kind,
		Root: lt.Root, LibDir: lt.LibDir, CXX11ABI: lt.CXX11ABI, Compiler: compiler,
		Replaced: keys(b.replaced), Missing: b.missing,
	}
	if info.Replaced == nil {
		info.Replaced = []string{}
	}
	if info.Missing == nil {
		info.Missing = []string{}
	}
	return info
}

// finish compiles the library's identity, links the library, checks that
// it exports the whole C ABI and moves it into place with its JSON.
func (b *libBuild) finish(info LibInfo, path string) error {
	js, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := b.addUnit("ad_info.cpp", libraryInfoSource(info, string(js)), false); err != nil {
		return err
	}
	if outs := b.compile([]string{"ad_info.cpp"}); len(outs) > 0 {
		return fmt.Errorf("ad_info.cpp: %s", outs["ad_info.cpp"])
	}
	tmp := path + ".tmp"
	if out, err := runCmd(b.work, b.cfg.CXX, b.linkArgs(tmp)...); err != nil {
		return fmt.Errorf("link %s: %v\n%s", LibraryName, err, tail(out, 4000))
	}
	if err := checkExports(tmp, b.abi); err != nil {
		os.Remove(tmp)
		return err
	}
	js, _ = json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(path+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// libraryInfoSource is the C++ of the library's identity functions.
func libraryInfoSource(info LibInfo, js string) string {
	return fmt.Sprintf(`// Generated by autodropout's library build (internal/gotchbuild).
extern "C" const char *ad_libtorch_version(void) { return %s; }
extern "C" const char *ad_libtorch_kind(void) { return %s; }
extern "C" const char *ad_library_abi(void) { return %s; }
extern "C" const char *ad_library_info(void) { return %s; }
`, cQuote(info.Libtorch), cQuote(info.Kind), cQuote(info.ABI), cQuote(js))
}

// cQuote writes s as a C string literal.
func cQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// checkExports verifies that the library defines every function of abi.
func checkExports(lib string, abi *ABI) error {
	f, err := elf.Open(lib)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return fmt.Errorf("%s: %w", lib, err)
	}
	have := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF {
			have[s.Name] = true
		}
	}
	var lack []string
	for _, n := range abi.Names() {
		if !have[n] {
			lack = append(lack, n)
		}
	}
	if len(lack) > 0 {
		return fmt.Errorf("%s lacks %d functions of the C ABI (first: %s); this is a bug in the build step", LibraryName, len(lack), lack[0])
	}
	return nil
}

// ReadLibInfo reads a library's JSON identity (LibraryName+".json").
func ReadLibInfo(path string) (*LibInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var info LibInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &info, nil
}

// ExportSources copies the library's C++ sources from gotch's libtch
// folder into dir, for BuildLibrary on a machine without Go (where the
// module cache is missing; the extra C++ travels inside gotchsetup).
func ExportSources(libtch, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range SourceFiles {
		b, err := os.ReadFile(filepath.Join(libtch, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runCmd(dir, name string, args ...string) (string, error) { return run(dir, name, args...) }
