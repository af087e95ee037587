package gotchbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// elfLibtorch is fakeLibtorch with real (empty) shared objects to link
// against, so that g++ can build a library from fakeGotch's C layer.
func elfLibtorch(t *testing.T, version string) *Libtorch {
	t.Helper()
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not installed")
	}
	root := fakeLibtorch(t, version, true, false)
	src := filepath.Join(root, "empty.c")
	os.WriteFile(src, []byte("int fake_libtorch_symbol;\n"), 0o644)
	for _, l := range []string{"libtorch.so", "libtorch_cpu.so"} {
		if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", filepath.Join(root, "lib", l), src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
	}
	lt, err := Find(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

// fakeExtra stands in for extra/*.cpp: one function of autodropout's own.
var fakeExtra = fstest.MapFS{"extra/own.cpp": {Data: []byte(`extern "C" {
int ad_own(int x) { return x; }
} // extern "C"
`)}}

func TestBuildLibrary(t *testing.T) {
	lt := elfLibtorch(t, "1.13.0")
	t.Chdir(t.TempDir()) // a relative output folder, as make setup gives
	out := "lib"
	cfg := LibConfig{SrcDir: filepath.Join(fakeGotch(t), "libtch"), OutDir: out, CacheDir: t.TempDir(), Libtorch: lt, Jobs: 2, extra: fakeExtra}
	res, err := BuildLibrary(cfg)
	if err != nil {
		t.Fatal(err)
	}
	i := res.Info
	if res.Cached || strings.Join(i.Replaced, ",") != "atg_broken,atg_nolink" || strings.Join(i.Missing, ",") != "atg_declared_only" {
		t.Fatalf("first build: %+v", res)
	}
	if i.Libtorch != "1.13.0" || i.Kind != "CPU" || i.LibDir != lt.LibDir || len(i.ABI) != 16 {
		t.Errorf("identity = %+v", i)
	}
	// Every function of the C ABI is exported, extras and identity included.
	abi, err := readABI(cfg.SrcDir, fakeExtra)
	if err != nil {
		t.Fatal(err)
	}
	if abi.Hash != i.ABI {
		t.Errorf("library ABI %s, headers say %s", i.ABI, abi.Hash)
	}
	if err := checkExports(res.Path, abi); err != nil {
		t.Error(err)
	}
	for _, n := range []string{"ad_own", "ad_library_abi", "at_fine", "atg_ok"} {
		if !strings.Contains(strings.Join(abi.Names(), " "), n) {
			t.Errorf("ABI lacks %s", n)
		}
	}
	if info, err := ReadLibInfo(res.Path + ".json"); err != nil || len(info.Replaced) != 2 {
		t.Errorf("%s.json: %+v, %v", res.Path, info, err)
	}
	if res, err = BuildLibrary(cfg); err != nil || !res.Cached || len(res.Info.Replaced) != 2 {
		t.Fatalf("second build should come from the cache: %+v, %v", res, err)
	}
	// A new libtorch version rebuilds, and the stubs say the new version.
	writeVersion(t, lt.Root, "1.13.1")
	if cfg.Libtorch, err = Find(lt.Root, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = BuildLibrary(cfg); err != nil || res.Cached || res.Info.Libtorch != "1.13.1" {
		t.Fatalf("build after a libtorch change: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(res.Path); !strings.Contains(string(b), "broken is not available in libtorch 1.13.1") {
		t.Errorf("the replaced binding's message does not name the new version")
	}
	left, _ := filepath.Glob(filepath.Join(out, ".build-*"))
	if len(left) > 0 {
		t.Errorf("scratch folders left: %v", left)
	}
}

func TestBuildLibraryRefuses(t *testing.T) {
	lt := elfLibtorch(t, "1.13.0")
	tests := []struct {
		name, file, src string
		extra           fstest.MapFS
		want            string
	}{
		{"error outside a binding", generatedFile, "int atg_ok(int x) { return x; }\nint BROKEN = no_such;\n", fakeExtra, "not inside a binding"},
		{"helper fails", apiFile, "#include \"torch_api.h\"\nint helper(int x) { return no_such(x); }\n", fakeExtra, "helper"},
		{"own C++ fails", "", "", fstest.MapFS{"extra/own.cpp": {Data: []byte("extern \"C\" {\nint ad_own(int x) { return no_such(x); }\n}\n")}}, "autodropout's own C++"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(fakeGotch(t), "libtch")
			if tc.file != "" {
				os.Chmod(filepath.Join(src, tc.file), 0o644)
				os.WriteFile(filepath.Join(src, tc.file), []byte(tc.src), 0o644)
			}
			out := t.TempDir()
			_, err := BuildLibrary(LibConfig{SrcDir: src, OutDir: out, CacheDir: t.TempDir(), Libtorch: lt, Jobs: 2, extra: tc.extra})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, LibraryName)); !os.IsNotExist(err) {
				t.Errorf("a failed build left a library")
			}
		})
	}
}

func TestHeaderDecls(t *testing.T) {
	ds := HeaderDecls(fakeHeader + "\nvoid at_cb(tensor, void (*f)(void *, char *, tensor));\n")
	var got []string
	for _, d := range ds {
		got = append(got, d.Name+"="+d.Ret)
	}
	want := "get_and_reset_last_err=char *,at_fine=int,at_cb=void"
	if strings.Join(got, ",") != want {
		t.Errorf("HeaderDecls = %v, want %s", got, want)
	}
}

// A replaceable extra file that does not compile, outside its functions
// too, becomes error stubs of all its extern "C" functions; one with an
// error out-parameter reports there as well.
func TestBuildLibraryReplacesReplaceableExtra(t *testing.T) {
	lt := elfLibtorch(t, "1.13.0")
	extra := fstest.MapFS{"extra/opt.cpp": {Data: []byte(replaceableMarker + `
#include <no_such_header.h>
extern "C" {
int ad_opt(int x, char **err) { return x; }
void *ad_opt_new(void) { return nullptr; }
}
`)}}
	res, err := BuildLibrary(LibConfig{SrcDir: filepath.Join(fakeGotch(t), "libtch"), OutDir: t.TempDir(), CacheDir: t.TempDir(), Libtorch: lt, Jobs: 2, extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(res.Info.Replaced, ",")
	if got != "ad_opt,ad_opt_new,atg_broken,atg_nolink" {
		t.Errorf("replaced %s", got)
	}
	b, _ := os.ReadFile(res.Path)
	if !strings.Contains(string(b), "ad_opt is not available in libtorch 1.13.0") {
		t.Error("the stubs' message is not in the library")
	}
}

func TestStubWholeUnit(t *testing.T) {
	b := &libBuild{work: t.TempDir(), replaced: map[string]bool{}, cfg: LibConfig{Libtorch: &Libtorch{Version: "2.11.0"}}}
	os.WriteFile(filepath.Join(b.work, "x.cpp"), []byte("extern \"C\" {\nint ad_a(int x, char **err) { return x; }\nvoid *ad_b(char** err) { return 0; }\nint ad_c(void) { return 1; }\n}\n"), 0o644)
	n, err := b.stubWholeUnit("x.cpp")
	if err != nil || n != 3 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
	src, _ := os.ReadFile(filepath.Join(b.work, "x.cpp"))
	for _, want := range []string{
		"int ad_a(int x, char **err) {", "if (err) *err = strdup(\"ad_a is not available in libtorch 2.11.0", "return -1;",
		"void *ad_b(char** err) {", "return {};", "int ad_c(void) {",
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("stubs lack %q:\n%s", want, src)
		}
	}
	if strings.Count(string(src), "return -1;") != 1 {
		t.Errorf("only ad_a reports through err with an int:\n%s", src)
	}
}
