package gotchbuild

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// gotch frees a tensor's C memory from a Go finalizer (ts.newTensor calls
// runtime.SetFinalizer), and its wrappers read the C handle out of the Go
// value before they call C:
//
//	lib.AtgBatchNorm(ptr, input.ctensor, weight.ctensor, ...)
//
// Once the handle is read, nothing keeps input reachable, so a garbage
// collection during the C call may run its finalizer and free the tensor
// that C is still using. An unnamed temporary, as in
// bn.ForwardT(conv.ForwardT(x, train), train), has no other reference at
// all: it crashed programs with "SmallVector unable to grow" or a SIGSEGV
// inside the C call. fixKeepAlive makes every such call keep the Go values
// whose handles it uses alive until it returns, by adding
// runtime.KeepAlive(v) after the statement that calls C.
//
// Nothing is listed by hand. A package's C handle fields are the fields
// of a libtch type in the types it sets finalizers on (Tensor.ctensor and
// Scalar.cscalar in gotch v0.9.1). A C call is a call of a libtch function
// or of cgo's C. The values a call uses are the roots of the handle fields
// it reads, followed through the local variables it passes (a
// []lib.Ctensor built from a []*Tensor in a loop keeps that []*Tensor
// alive, a range variable its range expression). A call in a statement
// that has no place after it (an if condition, a return, a defer) gets a
// "defer runtime.KeepAlive(v)" just before that statement instead. The
// insertions never add a line, so gotch's line numbers in stack traces
// stay right. A handle the rewrite cannot follow to a variable (one read
// from a call's result, a shadowed name) stops the build with its position
// rather than being left unprotected.

const (
	libtchPath  = "github.com/sugarme/gotch/libtch"
	runtimePath = "runtime"
)

// cAPI is what rewriteKeepAlive knows of a package: its C handle fields
// and the functions of libtch (a call of lib.X that is not among them,
// such as lib.Ctensor(p), is a conversion, not a C call; nil funcs makes
// every lib.X call a C call).
type cAPI struct {
	fields map[string]bool
	funcs  map[string]bool
}

// fixKeepAlive applies rewriteKeepAlive to every package under root (the
// gotch copy) that imports libtch, libtch itself excepted, and returns how
// many KeepAlive calls it added.
func fixKeepAlive(root string) (int, error) {
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	libDir := filepath.Join(root, "libtch")
	_, libFiles, err := parseFiles(dirs[libDir])
	if err != nil {
		return 0, err
	}
	funcs := funcNames(libFiles)
	total := 0
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if dir == libDir {
			continue
		}
		n, err := fixKeepAlivePackage(dirs[dir], funcs)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// fixKeepAlivePackage rewrites the files of one package in place.
func fixKeepAlivePackage(files []string, funcs map[string]bool) (int, error) {
	srcs, parsed, err := parseFiles(files)
	if err != nil {
		return 0, err
	}
	api := cAPI{fields: handleFields(parsed), funcs: funcs}
	if len(api.fields) > 0 && len(funcs) == 0 {
		return 0, fmt.Errorf("%s has C handles but no libtch functions were found to call C with", filepath.Dir(files[0]))
	}
	total := 0
	for i, f := range files {
		out, n, err := rewriteKeepAlive(srcs[i], api)
		if err != nil {
			return total, fmt.Errorf("%s: %w", f, err)
		}
		if n == 0 {
			continue
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func parseFiles(files []string) ([][]byte, []*ast.File, error) {
	var srcs [][]byte
	var parsed []*ast.File
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, b, parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, b)
		parsed = append(parsed, af)
	}
	return srcs, parsed, nil
}

// funcNames returns the names of the package-level functions of files.
func funcNames(files []*ast.File) map[string]bool {
	names := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				names[fd.Name.Name] = true
			}
		}
	}
	return names
}

// handleFields returns the names of the C handle fields of the package
// whose files are files: the fields of a libtch type (lib.Ctensor, ...) in
// the struct types whose values get a finalizer (runtime.SetFinalizer(x,
// freeCTensor) with func freeCTensor(ts *Tensor) makes Tensor's fields
// count). Values that nothing frees behind the program's back need no
// KeepAlive.
func handleFields(files []*ast.File) map[string]bool {
	finalized := finalizedTypes(files)
	fields := map[string]bool{}
	for _, f := range files {
		lib := importName(f, libtchPath)
		if lib == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !finalized[ts.Name.Name] {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				if sel, ok := fl.Type.(*ast.SelectorExpr); ok && isIdent(sel.X, lib) {
					for _, name := range fl.Names {
						fields[name.Name] = true
					}
				}
			}
			return true
		})
	}
	return fields
}

// finalizedTypes returns the names of the types T whose values the
// package gives a finalizer: the parameter type *T of the function
// passed to runtime.SetFinalizer.
func finalizedTypes(files []*ast.File) map[string]bool {
	funcs := map[string]bool{}
	var params []*ast.FieldList
	for _, f := range files {
		rt := importName(f, runtimePath)
		if rt == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) != 2 {
				return true
			}
			if sel, ok := c.Fun.(*ast.SelectorExpr); !ok || !isIdent(sel.X, rt) || sel.Sel.Name != "SetFinalizer" {
				return true
			}
			switch fin := c.Args[1].(type) {
			case *ast.Ident:
				funcs[fin.Name] = true
			case *ast.FuncLit:
				params = append(params, fin.Type.Params)
			}
			return true
		})
	}
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && funcs[fd.Name.Name] {
				params = append(params, fd.Type.Params)
			}
		}
	}
	types := map[string]bool{}
	for _, p := range params {
		if p == nil || len(p.List) == 0 {
			continue
		}
		if star, ok := p.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok {
				types[id.Name] = true
			}
		}
	}
	return types
}

// importName returns the name under which f imports path, or "".
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, "\"`") != path {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return path[strings.LastIndex(path, "/")+1:]
	}
	return ""
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// edit inserts text at a byte offset of the source.
type edit struct {
	off  int
	text string
}

// rewriteKeepAlive returns src with a runtime.KeepAlive after each C call
// for every value whose handle field (one of api.fields) the call uses, and
// how many it added. A KeepAlive already in place is not added again, so
// the rewrite of its own output changes nothing.
func rewriteKeepAlive(src []byte, api cAPI) ([]byte, int, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, 0)
	if err != nil {
		return nil, 0, err
	}
	lib := importName(f, libtchPath)
	if lib == "" || len(api.fields) == 0 {
		return src, 0, nil
	}
	rt := importName(f, runtimePath)
	var importEdit []edit
	if rt == "" {
		rt = "runtime"
		importEdit = []edit{addImport(fset, f, runtimePath)}
	}
	var edits []edit
	n := 0
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		fn := newFuncInfo(fd, lib, api, rt, fset.File(f.Pos()))
		if err := fn.rewrite(); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", fset.Position(fn.errPos), err)
		}
		edits = append(edits, fn.edits...)
		n += fn.added
	}
	if n == 0 {
		return src, 0, nil
	}
	if shadow := localNamed(f, rt); shadow != token.NoPos {
		return nil, 0, fmt.Errorf("%s: a local %s hides package %s", fset.Position(shadow), rt, runtimePath)
	}
	out := applyEdits(src, append(edits, importEdit...))
	if _, err := parser.ParseFile(token.NewFileSet(), "", out, parser.SkipObjectResolution); err != nil {
		return nil, 0, fmt.Errorf("the rewritten source does not parse: %w", err)
	}
	return out, n, nil
}

// addImport imports path without moving any line: into the first
// parenthesized import list, or after the last import declaration.
func addImport(fset *token.FileSet, f *ast.File, path string) edit {
	tf := fset.File(f.Pos())
	var last *ast.GenDecl
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.IMPORT {
			continue
		}
		if g.Lparen.IsValid() {
			return edit{tf.Offset(g.Lparen) + 1, fmt.Sprintf("%q; ", path)}
		}
		last = g
	}
	if last == nil { // a file that imports libtch has an import declaration
		return edit{tf.Offset(f.Name.End()), fmt.Sprintf("; import %q", path)}
	}
	return edit{tf.Offset(last.End()), fmt.Sprintf("; import %q", path)}
}

// localNamed returns where f declares a local variable called name, if
// it does.
func localNamed(f *ast.File, name string) token.Pos {
	pos := token.NoPos
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == name && id.Obj != nil && pos == token.NoPos {
			pos = id.Pos()
		}
		return pos == token.NoPos
	})
	return pos
}

func applyEdits(src []byte, edits []edit) []byte {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].off < edits[j].off })
	var out bytes.Buffer
	prev := 0
	for _, e := range edits {
		out.Write(src[prev:e.off])
		out.WriteString(e.text)
		prev = e.off
	}
	out.Write(src[prev:])
	return out.Bytes()
}
