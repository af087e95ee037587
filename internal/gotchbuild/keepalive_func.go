package gotchbuild

import (
	"fmt"
	"go/ast"
	"go/token"
	"sort"
	"strings"
)

// funcInfo is one function's analysis for rewriteKeepAlive: where each
// local variable is declared, what it is assigned from, and the edits
// that keep the values of its C calls alive.
type funcInfo struct {
	fd  *ast.FuncDecl
	lib string // libtch's import name
	rt  string // runtime's import name
	api cAPI
	tf  *token.File

	scope   map[*ast.Object]ast.Node   // innermost scope of each local
	byName  map[string][]*ast.Object   // locals by name, for shadowing
	sources map[*ast.Object][]ast.Expr // what each local is assigned from
	rangeOf map[*ast.Object]ast.Expr   // range variables: the range expression

	edits  []edit
	added  int
	errPos token.Pos
}

func newFuncInfo(fd *ast.FuncDecl, lib string, api cAPI, rt string, tf *token.File) *funcInfo {
	fn := &funcInfo{fd: fd, lib: lib, rt: rt, api: api, tf: tf,
		scope: map[*ast.Object]ast.Node{}, byName: map[string][]*ast.Object{},
		sources: map[*ast.Object][]ast.Expr{}, rangeOf: map[*ast.Object]ast.Expr{}}
	fn.index()
	return fn
}

// isScope reports whether n opens a scope for the names declared in it.
func isScope(n ast.Node) bool {
	switch n.(type) {
	case *ast.FuncDecl, *ast.FuncLit, *ast.BlockStmt, *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt,
		*ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.CaseClause, *ast.CommClause:
		return true
	}
	return false
}

// index records the scope of each local and the expressions assigned to it.
func (fn *funcInfo) index() {
	var stack []ast.Node
	ast.Inspect(fn.fd, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		switch x := n.(type) {
		case *ast.Ident:
			if x.Obj != nil && x.Obj.Kind == ast.Var && x.Pos() == x.Obj.Pos() {
				for i := len(stack) - 1; i >= 0; i-- {
					if isScope(stack[i]) {
						fn.scope[x.Obj] = stack[i]
						fn.byName[x.Name] = append(fn.byName[x.Name], x.Obj)
						break
					}
				}
			}
		case *ast.AssignStmt:
			fn.assign(x.Lhs, x.Rhs)
		case *ast.ValueSpec:
			lhs := make([]ast.Expr, len(x.Names))
			for i, name := range x.Names {
				lhs[i] = name
			}
			fn.assign(lhs, x.Values)
		case *ast.RangeStmt:
			for _, e := range []ast.Expr{x.Key, x.Value} {
				if r := rootOf(e); r != nil && r.Obj != nil {
					fn.sources[r.Obj] = append(fn.sources[r.Obj], x.X)
					if x.Tok == token.DEFINE {
						fn.rangeOf[r.Obj] = x.X
					}
				}
			}
		}
		stack = append(stack, n)
		return true
	})
}

// assign records that each of lhs is assigned from its rhs (from all of
// rhs when one call returns several values).
func (fn *funcInfo) assign(lhs, rhs []ast.Expr) {
	for i, l := range lhs {
		r := rootOf(l)
		if r == nil || r.Obj == nil {
			continue
		}
		if len(lhs) == len(rhs) {
			fn.sources[r.Obj] = append(fn.sources[r.Obj], rhs[i])
		} else {
			fn.sources[r.Obj] = append(fn.sources[r.Obj], rhs...)
		}
	}
}

// rootOf returns the variable an expression such as t, t.Tensor,
// ts[0] or *p reads from, or nil for a value that no variable holds
// (a call's result, a literal).
func rootOf(e ast.Expr) *ast.Ident {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x
		case *ast.SelectorExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.SliceExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.TypeAssertExpr:
			e = x.X
		case *ast.UnaryExpr:
			if x.Op != token.AND {
				return nil
			}
			e = x.X
		default:
			return nil
		}
	}
}

// rewrite adds the KeepAlive calls to every statement list of the function.
func (fn *funcInfo) rewrite() error {
	var err error
	ast.Inspect(fn.fd.Body, func(n ast.Node) bool {
		if err != nil {
			return false
		}
		switch x := n.(type) {
		case *ast.BlockStmt:
			err = fn.list(x.List)
		case *ast.CaseClause:
			err = fn.list(x.Body)
		case *ast.CommClause:
			err = fn.list(x.Body)
		}
		return true
	})
	return err
}

// list handles the statements of one list: a statement that calls C gets
// the KeepAlive calls after it, or deferred ones before it when it is not
// a simple statement.
func (fn *funcInfo) list(stmts []ast.Stmt) error {
	for i, s := range stmts {
		inner := s
		for {
			l, ok := inner.(*ast.LabeledStmt)
			if !ok {
				break
			}
			inner = l.Stmt
		}
		if clause, err := fn.clause(inner); clause || err != nil {
			if err != nil {
				return err
			}
			continue
		}
		if !fn.callsC(inner) {
			continue
		}
		fn.errPos = inner.Pos()
		switch inner.(type) {
		case *ast.GoStmt:
			return fmt.Errorf("a C call started by a go statement is not supported")
		}
		simple := isSimple(inner)
		at := s.Pos()
		if simple {
			at = s.End()
		}
		roots, err := fn.roots(inner, at)
		if err != nil {
			return err
		}
		have := fn.kept(stmts, i, simple)
		var b strings.Builder
		for _, name := range roots {
			if have[name] {
				continue
			}
			if simple {
				fmt.Fprintf(&b, "; %s.KeepAlive(%s)", fn.rt, name)
			} else {
				fmt.Fprintf(&b, "defer %s.KeepAlive(%s); ", fn.rt, name)
			}
			fn.added++
		}
		if b.Len() > 0 {
			fn.edits = append(fn.edits, edit{fn.tf.Offset(at), b.String()})
		}
	}
	return nil
}

// clause reports whether s is a case of a switch or select, whose body
// is a statement list of its own; a C call in its case expressions is an
// error, as no statement of the function can keep its values alive.
func (fn *funcInfo) clause(s ast.Stmt) (bool, error) {
	switch c := s.(type) {
	case *ast.CaseClause:
		for _, e := range c.List {
			if fn.callsC(&ast.ExprStmt{X: e}) {
				fn.errPos = e.Pos()
				return true, fmt.Errorf("a C call in a case expression is not supported")
			}
		}
		return true, nil
	case *ast.CommClause:
		if c.Comm != nil && fn.callsC(c.Comm) {
			fn.errPos = c.Pos()
			return true, fmt.Errorf("a C call in a select case is not supported")
		}
		return true, nil
	}
	return false, nil
}

func isSimple(s ast.Stmt) bool {
	switch s.(type) {
	case *ast.ExprStmt, *ast.AssignStmt, *ast.DeclStmt, *ast.IncDecStmt, *ast.SendStmt:
		return true
	}
	return false
}

// header visits the parts of s that run before its nested blocks (the
// whole of a simple statement; an if's init and condition, ...), leaving
// out function literals, which are handled as functions of their own.
func header(s ast.Stmt, visit func(ast.Node) bool) {
	ast.Inspect(s, func(n ast.Node) bool {
		if n == nil {
			return true
		}
		if n != ast.Node(s) {
			switch n.(type) {
			case *ast.BlockStmt, *ast.FuncLit, *ast.CaseClause, *ast.CommClause:
				return false
			}
		}
		return visit(n)
	})
}

// callsC reports whether s calls into libtch or cgo outside its nested blocks.
func (fn *funcInfo) callsC(s ast.Stmt) bool {
	found := false
	header(s, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && fn.isCCall(c) {
			found = true
		}
		return !found
	})
	return found
}

// isCCall reports whether c calls a libtch function or goes through cgo
// (C.x, conversions such as C.int included).
func (fn *funcInfo) isCCall(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok || pkg.Obj != nil {
		return false
	}
	return pkg.Name == "C" || pkg.Name == fn.lib && (fn.api.funcs == nil || fn.api.funcs[sel.Sel.Name])
}

// valueOnly reports whether c's result depends only on the values of its
// arguments, not on their memory staying alive: a C call (it has returned
// by the time its result is used), len, cap, unsafe.Sizeof.
func (fn *funcInfo) valueOnly(c *ast.CallExpr) bool {
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Obj == nil && (f.Name == "len" || f.Name == "cap")
	case *ast.SelectorExpr:
		return fn.isCCall(c) || isIdent(f.X, "unsafe") && f.Sel.Name != "Pointer" && f.Sel.Name != "Add" && f.Sel.Name != "Slice"
	}
	return false
}

// kept returns the names that KeepAlive calls next to stmts[i] already
// keep: after it for a simple statement, deferred before it otherwise.
func (fn *funcInfo) kept(stmts []ast.Stmt, i int, simple bool) map[string]bool {
	have := map[string]bool{}
	if simple {
		for j := i + 1; j < len(stmts); j++ {
			es, ok := stmts[j].(*ast.ExprStmt)
			if !ok || fn.keepAliveArg(es.X) == "" {
				break
			}
			have[fn.keepAliveArg(es.X)] = true
		}
		return have
	}
	for j := i - 1; j >= 0; j-- {
		ds, ok := stmts[j].(*ast.DeferStmt)
		if !ok || fn.keepAliveArg(ds.Call) == "" {
			break
		}
		have[fn.keepAliveArg(ds.Call)] = true
	}
	return have
}

// keepAliveArg returns v for the expression runtime.KeepAlive(v), else "".
func (fn *funcInfo) keepAliveArg(e ast.Expr) string {
	c, ok := e.(*ast.CallExpr)
	if !ok || len(c.Args) != 1 {
		return ""
	}
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || !isIdent(sel.X, fn.rt) || sel.Sel.Name != "KeepAlive" {
		return ""
	}
	if id, ok := c.Args[0].(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// roots returns the sorted names of the variables to keep alive at the
// position at for the C calls of statement s.
func (fn *funcInfo) roots(s ast.Stmt, at token.Pos) ([]string, error) {
	w := &rootWalk{fn: fn, at: at, traced: map[*ast.Object]bool{}, keep: map[*ast.Object]bool{}}
	header(s, w.visit)
	if w.err != nil {
		return nil, w.err
	}
	var names []string
	for obj := range w.keep {
		names = append(names, obj.Name)
	}
	sort.Strings(names)
	return names, nil
}

// rootWalk collects the variables whose handle fields a statement reads,
// directly or through the local variables it uses.
type rootWalk struct {
	fn     *funcInfo
	at     token.Pos
	traced map[*ast.Object]bool
	keep   map[*ast.Object]bool
	err    error
}

func (w *rootWalk) visit(n ast.Node) bool {
	if w.err != nil {
		return false
	}
	switch x := n.(type) {
	case *ast.FuncLit:
		return false
	case *ast.SelectorExpr:
		if !w.fn.api.fields[x.Sel.Name] {
			return true
		}
		r := rootOf(x.X)
		if r == nil {
			w.fn.errPos = x.Pos()
			w.err = fmt.Errorf("the C handle .%s of a value no variable holds cannot be kept alive", x.Sel.Name)
			return false
		}
		objs, err := w.fn.keepable(r, w.at, map[*ast.Object]bool{})
		if err != nil {
			w.fn.errPos = x.Pos()
			w.err = err
			return false
		}
		for _, o := range objs {
			w.keep[o] = true
		}
		return false
	case *ast.Ident:
		w.trace(x.Obj)
	}
	return true
}

// trace follows a local variable the statement uses (a []lib.Ctensor, an
// optional handle) to the expressions assigned to it.
func (w *rootWalk) trace(obj *ast.Object) {
	if obj == nil || obj.Kind != ast.Var || w.fn.scope[obj] == nil || w.traced[obj] {
		return
	}
	w.traced[obj] = true
	for _, src := range w.fn.sources[obj] {
		ast.Inspect(src, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok && w.fn.valueOnly(c) {
				return false
			}
			return w.visit(n)
		})
	}
}

// keepable returns the variables to keep alive at the position at so that
// the value the variable id names stays reachable: id itself where it is
// in scope; for a range variable, what it ranges over; else what id was
// assigned from. Package-level variables need nothing.
func (fn *funcInfo) keepable(id *ast.Ident, at token.Pos, seen map[*ast.Object]bool) ([]*ast.Object, error) {
	obj := id.Obj
	if obj == nil || fn.scope[obj] == nil || seen[obj] {
		return nil, nil
	}
	seen[obj] = true
	if x, ok := fn.rangeOf[obj]; ok {
		if r := rootOf(x); r != nil {
			if objs, err := fn.keepable(r, at, seen); err == nil {
				return objs, nil
			}
		}
	}
	if fn.visible(obj, at) {
		return []*ast.Object{obj}, nil
	}
	srcs := fn.sources[obj]
	if len(srcs) == 0 {
		return nil, fmt.Errorf("%s is not in scope where it must be kept alive", obj.Name)
	}
	var out []*ast.Object
	for _, src := range srcs {
		r := rootOf(src)
		if r == nil {
			return nil, fmt.Errorf("%s is out of scope where it must be kept alive, and no variable holds the value it was assigned", obj.Name)
		}
		objs, err := fn.keepable(r, at, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// visible reports whether obj's name refers to obj at the position at.
func (fn *funcInfo) visible(obj *ast.Object, at token.Pos) bool {
	sc := fn.scope[obj]
	if !contains(sc, at) || obj.Pos() >= at {
		return false
	}
	for _, o := range fn.byName[obj.Name] {
		osc := fn.scope[o]
		if o == obj || !contains(osc, at) || o.Pos() >= at {
			continue
		}
		inner := osc.Pos() >= sc.Pos() && osc.End() <= sc.End()
		if inner && (osc != sc || o.Pos() > obj.Pos()) {
			return false
		}
	}
	return true
}

func contains(n ast.Node, at token.Pos) bool {
	return n.Pos() <= at && at <= n.End()
}
