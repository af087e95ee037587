package gotchbuild

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `#include "torch_api.h"
// a comment with { braces }
thread_local char *x = nullptr;

void atg_ok(tensor *out__, tensor self) {
  PROTECT(
    auto outputs__ = torch::abs(*self);
    out__[0] = new torch::Tensor(outputs__);
  )
}

int64_t atg_count(tensor self) {
  PROTECT(return self->numel();)
  return 0;
}

c10::List<c10::optional<torch::Tensor>> of_list(torch::Tensor **vs,
                                                 int len) {
  const char *s = "} not a brace {";
  return {};
}

tensor *atg_chunk(tensor self, int64_t chunks) {
  PROTECT(return nullptr;)
  return nullptr;
}
`

func TestFunctions(t *testing.T) {
	fns := Functions(sample)
	var got []string
	for _, f := range fns {
		got = append(got, f.Name+"|"+f.ReturnType)
	}
	want := []string{"atg_ok|void", "atg_count|int64_t", "of_list|c10::List<c10::optional<torch::Tensor>>", "atg_chunk|tensor *"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("functions = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		line int
		want string
	}{{5, "atg_ok"}, {8, "atg_ok"}, {14, "atg_count"}, {18, "of_list"}, {20, "of_list"}, {3, ""}, {11, ""}} {
		f, ok := Enclosing(fns, tc.line)
		if (tc.want == "") == ok || (ok && f.Name != tc.want) {
			t.Errorf("Enclosing(line %d) = %q, %v; want %q", tc.line, f.Name, ok, tc.want)
		}
	}
}

func TestReplaceFunctions(t *testing.T) {
	fns := Functions(sample)
	out := ReplaceFunctions(sample, fns, map[string]bool{"atg_count": true, "atg_ok": true},
		func(n string) string { return n + " is gone" })
	if strings.Count(out, "\n") != strings.Count(sample, "\n") {
		t.Errorf("line count changed: %d -> %d", strings.Count(sample, "\n"), strings.Count(out, "\n"))
	}
	for _, want := range []string{
		"void atg_ok(tensor *out__, tensor self) { // replaced",
		`torch_last_err = strdup("atg_ok is gone");` + "\n}",
		`torch_last_err = strdup("atg_count is gone"); return {};` + "\n}",
		"PROTECT(return nullptr;)", // atg_chunk untouched
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "torch::abs") || strings.Contains(out, "numel") {
		t.Errorf("replaced bodies survive:\n%s", out)
	}
	// The result still parses into the same functions.
	if n := len(Functions(out)); n != len(fns) {
		t.Errorf("after replacement %d functions, want %d", n, len(fns))
	}
}

func TestParseDiagnostics(t *testing.T) {
	out := `In file included from torch_api.cpp:1079:
torch_api_generated.cpp.h: In function 'void atg__cslt_compress(tensor*, tensor)':
torch_api_generated.cpp.h:626:29: error: '_cslt_compress' is not a member of 'torch'
/usr/include/c++/12/tuple: In instantiation of 'constexpr ...':
torch_api_generated.cpp.h:1465:45:   required from here
/usr/include/c++/12/tuple:1357:25: error: static assertion failed: tuple index must be in range
/usr/include/ATen/Functions.h:99:1: note: candidate: 'at::Tensor at::foo()'
torch_api_generated.cpp.h:700:1: note: in expansion of macro 'PROTECT'
/work/x/torch_api.cpp:40:3: error: 'bar' was not declared in this scope
`
	got := ParseDiagnostics(out, []string{generatedFile, apiFile})
	want := []Diagnostic{
		{generatedFile, 626, "error: '_cslt_compress' is not a member of 'torch'"},
		{generatedFile, 1465, "required from here"},
		{apiFile, 40, "error: 'bar' was not declared in this scope"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDiagnostics =\n%+v\nwant\n%+v", got, want)
	}
}

func TestUndefinedInFunctions(t *testing.T) {
	out := "/usr/bin/ld: check.o: in function `atg__foo':\n" +
		"torch_api.cpp:(.text+0x1a): undefined reference to `at::_foo(at::Tensor const&)'\n" +
		"/usr/bin/ld: check.o: in function `atg_bar':\n" +
		"torch_api.cpp:(.text+0x2a): undefined reference to `at::bar()'\n" +
		"/usr/bin/ld: check.o: in function `atg__foo':\n" +
		"torch_api.cpp:(.text+0x3a): undefined reference to `at::_foo2()'\n" +
		"collect2: error: ld returned 1 exit status\n"
	got := UndefinedInFunctions(out)
	if want := []string{"atg__foo", "atg_bar"}; !reflect.DeepEqual(got, want) {
		t.Errorf("UndefinedInFunctions = %q, want %q", got, want)
	}
}
