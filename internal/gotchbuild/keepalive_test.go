package gotchbuild

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// kaHeader declares what gotch's ts package has: Tensor and Scalar get
// finalizers (one through a named function, one through a literal),
// CIValue holds a handle but nothing frees it behind the program's back.
const kaHeader = `package ts

// #include <stdlib.h>
import "C"

import (
	"runtime"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

type Tensor struct{ ctensor lib.Ctensor }
type Scalar struct{ cscalar lib.Cscalar }
type CIValue struct{ civalue lib.Civalue }
type Named struct{ Tensor *Tensor }

func freeTensor(t *Tensor) {}

func setFinalizers(x *Tensor, s *Scalar) {
	runtime.SetFinalizer(x, freeTensor)
	runtime.SetFinalizer(s, func(*Scalar) {})
}
`

// rewriteSnippet rewrites kaHeader+body as a package of one file, with
// the C handle fields found in it and every lib.X call a C call except
// lib.Ctensor, a type.
func rewriteSnippet(t *testing.T, src string) (string, int, error) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("snippet does not parse: %v", err)
	}
	funcs := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && isIdent(sel.X, "lib") && sel.Sel.Name != "Ctensor" {
			funcs[sel.Sel.Name] = true
		}
		return true
	})
	out, n, err := rewriteKeepAlive([]byte(src), cAPI{fields: handleFields([]*ast.File{f}), funcs: funcs})
	return string(out), n, err
}

func TestRewriteKeepAlive(t *testing.T) {
	cases := []struct {
		name, body, want string
		added            int
	}{{
		name:  "generated wrapper keeps every tensor argument",
		body:  "func BatchNorm(input, weight *Tensor, eps float64) {\n\tptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n\tlib.AtgBatchNorm(ptr, input.ctensor, weight.ctensor, eps)\n}\n",
		want:  "func BatchNorm(input, weight *Tensor, eps float64) {\n\tptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n\tlib.AtgBatchNorm(ptr, input.ctensor, weight.ctensor, eps); runtime.KeepAlive(input); runtime.KeepAlive(weight)\n}\n",
		added: 2,
	}, {
		name:  "in-place method keeps its receiver and a scalar",
		body:  "func (ts *Tensor) AddScalar_(s *Scalar) {\n\tlib.AtgAddScalar_(ptr, ts.ctensor, s.cscalar)\n\tts.ctensor = *ptr\n}\n",
		want:  "func (ts *Tensor) AddScalar_(s *Scalar) {\n\tlib.AtgAddScalar_(ptr, ts.ctensor, s.cscalar); runtime.KeepAlive(s); runtime.KeepAlive(ts)\n\tts.ctensor = *ptr\n}\n",
		added: 2,
	}, {
		name:  "a C array built in a loop keeps the tensor slice",
		body:  "func Cat(tensors []*Tensor, dim int64) {\n\tvar ctensors []lib.Ctensor\n\tfor _, t := range tensors {ctensors = append(ctensors, t.ctensor)}\n\tlib.AtgCat(ptr, ctensors, len(ctensors), dim)\n}\n",
		want:  "func Cat(tensors []*Tensor, dim int64) {\n\tvar ctensors []lib.Ctensor\n\tfor _, t := range tensors {ctensors = append(ctensors, t.ctensor)}\n\tlib.AtgCat(ptr, ctensors, len(ctensors), dim); runtime.KeepAlive(tensors)\n}\n",
		added: 1,
	}, {
		name:  "a struct holding the tensor, through a range variable",
		body:  "func Save(named []Named) {\n\tvar cs []lib.Ctensor\n\tfor _, nt := range named {\n\t\tcs = append(cs, nt.Tensor.ctensor)\n\t}\n\tlib.AtSave(cs)\n}\n",
		want:  "func Save(named []Named) {\n\tvar cs []lib.Ctensor\n\tfor _, nt := range named {\n\t\tcs = append(cs, nt.Tensor.ctensor)\n\t}\n\tlib.AtSave(cs); runtime.KeepAlive(named)\n}\n",
		added: 1,
	}, {
		name:  "a local out of scope is followed to what it was assigned from",
		body:  "func Stack(xs []*Tensor) {\n\tvar cs []lib.Ctensor\n\tfor i := range xs {\n\t\tx := xs[i]\n\t\tcs = append(cs, x.ctensor)\n\t}\n\tlib.AtgStack(ptr, cs)\n}\n",
		want:  "func Stack(xs []*Tensor) {\n\tvar cs []lib.Ctensor\n\tfor i := range xs {\n\t\tx := xs[i]\n\t\tcs = append(cs, x.ctensor)\n\t}\n\tlib.AtgStack(ptr, cs); runtime.KeepAlive(xs)\n}\n",
		added: 1,
	}, {
		name:  "a pointer to a copied handle keeps its slice; a conversion is no C call",
		body:  "func Run(tensors []*Tensor) {\n\tc := tensors[0].ctensor\n\tp := lib.Ctensor(unsafe.Pointer(&c))\n\tlib.AtRun(p, len(tensors))\n}\n",
		want:  "func Run(tensors []*Tensor) {\n\tc := tensors[0].ctensor\n\tp := lib.Ctensor(unsafe.Pointer(&c))\n\tlib.AtRun(p, len(tensors)); runtime.KeepAlive(tensors)\n}\n",
		added: 1,
	}, {
		name:  "a C call inside a loop keeps the whole range",
		body:  "func Free(ts []*Tensor) {\n\tfor _, t := range ts {\n\t\tlib.AtFree(t.ctensor)\n\t}\n}\n",
		want:  "func Free(ts []*Tensor) {\n\tfor _, t := range ts {\n\t\tlib.AtFree(t.ctensor); runtime.KeepAlive(ts)\n\t}\n}\n",
		added: 1,
	}, {
		name:  "values derived from a C call's result need nothing",
		body:  "func (ts *Tensor) Size() {\n\tdim := lib.AtDim(ts.ctensor)\n\tp := C.malloc(C.size_t(dim))\n\tdefer C.free(p)\n\tlib.AtShape(ts.ctensor, p)\n}\n",
		want:  "func (ts *Tensor) Size() {\n\tdim := lib.AtDim(ts.ctensor); runtime.KeepAlive(ts)\n\tp := C.malloc(C.size_t(dim))\n\tdefer C.free(p)\n\tlib.AtShape(ts.ctensor, p); runtime.KeepAlive(ts)\n}\n",
		added: 2,
	}, {
		name:  "a handle of a type without finalizer needs nothing",
		body:  "func (iv *CIValue) Free() {\n\tlib.AtiFree(iv.civalue)\n}\n",
		want:  "func (iv *CIValue) Free() {\n\tlib.AtiFree(iv.civalue)\n}\n",
		added: 0,
	}, {
		name:  "a call in an if condition, a return or a defer gets a deferred KeepAlive",
		body:  "func (ts *Tensor) F(o *Tensor) bool {\n\tdefer lib.AtFree(o.ctensor)\n\tif lib.AtDefined(ts.ctensor) {\n\t\treturn true\n\t}\n\treturn lib.AtIsSparse(o.ctensor)\n}\n",
		want:  "func (ts *Tensor) F(o *Tensor) bool {\n\tdefer runtime.KeepAlive(o); defer lib.AtFree(o.ctensor)\n\tdefer runtime.KeepAlive(ts); if lib.AtDefined(ts.ctensor) {\n\t\treturn true\n\t}\n\tdefer runtime.KeepAlive(o); return lib.AtIsSparse(o.ctensor)\n}\n",
		added: 3,
	}, {
		name:  "closures and case bodies are statement lists too",
		body:  "func (ts *Tensor) G(k int) {\n\tf := func() { lib.AtPrint(ts.ctensor) }\n\tswitch k {\n\tcase 1:\n\t\tlib.AtBackward(ts.ctensor)\n\t}\n\tf()\n}\n",
		want:  "func (ts *Tensor) G(k int) {\n\tf := func() { lib.AtPrint(ts.ctensor); runtime.KeepAlive(ts) }\n\tswitch k {\n\tcase 1:\n\t\tlib.AtBackward(ts.ctensor); runtime.KeepAlive(ts)\n\t}\n\tf()\n}\n",
		added: 2,
	}, {
		name:  "an interface holding the tensor",
		body:  "func (iv *IValue) C() {\n\tc := lib.AtiTensor(iv.value.(*Tensor).ctensor)\n\t_ = c\n}\n",
		want:  "func (iv *IValue) C() {\n\tc := lib.AtiTensor(iv.value.(*Tensor).ctensor); runtime.KeepAlive(iv)\n\t_ = c\n}\n",
		added: 1,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, n, err := rewriteSnippet(t, kaHeader+c.body)
			if err != nil {
				t.Fatal(err)
			}
			if body := strings.TrimPrefix(got, kaHeader); body != c.want {
				t.Errorf("got\n%s\nwant\n%s", body, c.want)
			}
			if n != c.added {
				t.Errorf("added %d KeepAlive calls, want %d", n, c.added)
			}
			again, n, err := rewriteSnippet(t, got)
			if err != nil || n != 0 || again != got {
				t.Errorf("second rewrite: added %d, err %v, changed %v; want an unchanged source", n, err, again != got)
			}
		})
	}
}

func TestRewriteKeepAliveRefuses(t *testing.T) {
	cases := []struct{ name, body, wantErr string }{{
		name:    "a temporary's handle",
		body:    "func F(x *Tensor) {\n\tlib.AtPrint(clone(x).ctensor)\n}\n",
		wantErr: "value no variable holds",
	}, {
		name:    "a shadowed holder",
		body:    "func F(t, u *Tensor) {\n\tc := t.ctensor\n\t{\n\t\tt := u\n\t\tlib.AtCopy(c, t.ctensor)\n\t}\n}\n",
		wantErr: "t is not in scope",
	}, {
		name:    "a go statement",
		body:    "func F(t *Tensor) {\n\tgo lib.AtPrint(t.ctensor)\n}\n",
		wantErr: "go statement",
	}, {
		name:    "a local variable called runtime",
		body:    "func F(t *Tensor) {\n\truntime := 1\n\t_ = runtime\n\tlib.AtPrint(t.ctensor)\n}\n",
		wantErr: "hides package runtime",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := rewriteSnippet(t, kaHeader+c.body)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestHandleFields(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "", kaHeader, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := handleFields([]*ast.File{f})
	if want := map[string]bool{"ctensor": true, "cscalar": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("handle fields %v, want %v (CIValue has no finalizer)", got, want)
	}
}

// TestRewriteKeepAliveImport adds the runtime import without moving a line.
func TestRewriteKeepAliveImport(t *testing.T) {
	api := cAPI{fields: map[string]bool{"ctensor": true}}
	cases := []struct{ name, src, want string }{{
		name: "import list",
		src:  "package ts\n\nimport (\n\tlib \"github.com/sugarme/gotch/libtch\"\n)\n\nfunc F(t *T) {\n\tlib.AtPrint(t.ctensor)\n}\n",
		want: "package ts\n\nimport (\"runtime\"; \n\tlib \"github.com/sugarme/gotch/libtch\"\n)\n\nfunc F(t *T) {\n\tlib.AtPrint(t.ctensor); runtime.KeepAlive(t)\n}\n",
	}, {
		name: "single imports",
		src:  "package ts\n\nimport \"C\"\nimport \"github.com/sugarme/gotch/libtch\"\n\nfunc F(t *T) {\n\tlibtch.AtPrint(t.ctensor)\n}\n",
		want: "package ts\n\nimport \"C\"\nimport \"github.com/sugarme/gotch/libtch\"; import \"runtime\"\n\nfunc F(t *T) {\n\tlibtch.AtPrint(t.ctensor); runtime.KeepAlive(t)\n}\n",
	}, {
		name: "runtime under another name",
		src:  "package ts\n\nimport (\n\trt \"runtime\"\n\tlib \"github.com/sugarme/gotch/libtch\"\n)\n\nfunc F(t *T) {\n\tlib.AtPrint(t.ctensor)\n\trt.GC()\n}\n",
		want: "package ts\n\nimport (\n\trt \"runtime\"\n\tlib \"github.com/sugarme/gotch/libtch\"\n)\n\nfunc F(t *T) {\n\tlib.AtPrint(t.ctensor); rt.KeepAlive(t)\n\trt.GC()\n}\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, n, err := rewriteKeepAlive([]byte(c.src), api)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want || n != 1 {
				t.Errorf("added %d, got\n%s\nwant\n%s", n, got, c.want)
			}
		})
	}
}

// TestFixKeepAlive rewrites a small module tree the way Build does: the
// type is declared in one file and used in another, libtch's own functions
// say which lib.X calls are C calls, and packages without finalized types
// are left alone.
func TestFixKeepAlive(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"libtch/lib.go": "package libtch\n\ntype Ctensor uintptr\n\nfunc AtPrint(c Ctensor) {}\n",
		"ts/tensor.go": "package ts\n\nimport (\n\t\"runtime\"\n\n\tlib \"github.com/sugarme/gotch/libtch\"\n)\n\n" +
			"type Tensor struct{ ctensor lib.Ctensor }\n\nfunc New(c lib.Ctensor) *Tensor {\n\tx := &Tensor{c}\n\truntime.SetFinalizer(x, free)\n\treturn x\n}\n\nfunc free(x *Tensor) {}\n",
		"ts/print.go":      "package ts\n\nimport lib \"github.com/sugarme/gotch/libtch\"\n\nfunc (x *Tensor) Print() {\n\tc := lib.Ctensor(x.ctensor)\n\tlib.AtPrint(c)\n}\n",
		"ts/print_test.go": "package ts\n\nimport lib \"github.com/sugarme/gotch/libtch\"\n\nfunc p(x *Tensor) { lib.AtPrint(x.ctensor) }\n",
		"device.go":        "package gotch\n\nimport lib \"github.com/sugarme/gotch/libtch\"\n\nfunc Print() { lib.AtPrint(0) }\n",
	}
	for name, src := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := fixKeepAlive(root)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("added %d KeepAlive calls, want 1", n)
	}
	want := map[string]string{
		"ts/print.go": "package ts\n\nimport lib \"github.com/sugarme/gotch/libtch\"; import \"runtime\"\n\nfunc (x *Tensor) Print() {\n\tc := lib.Ctensor(x.ctensor)\n\tlib.AtPrint(c); runtime.KeepAlive(x)\n}\n",
	}
	for name, src := range files {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[name]
		if !ok {
			w = src
		}
		if string(b) != w {
			t.Errorf("%s:\n%s\nwant\n%s", name, b, w)
		}
	}
}
