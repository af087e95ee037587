// Command funclen lists the functions of Go packages longer than a limit,
// longest first, so that a long function (the developers' guide asks for
// about 60 lines, and no more than about 80 in search and experiment) is
// found before review does. Test files are left out.
//
//	go run ./scripts/funclen -max 80 search experiment
//
// It exits 1 when it lists any.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	limit := flag.Int("max", 60, "longest function allowed, in lines from func to its closing brace")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./scripts/funclen [-max N] DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	type long struct {
		where string
		lines int
	}
	var found []long
	for _, dir := range flag.Args() {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			fmt.Fprintf(os.Stderr, "funclen: %s: no Go files\n", dir)
			os.Exit(2)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			fset := token.NewFileSet()
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "funclen: %v\n", err)
				os.Exit(2)
			}
			for _, d := range af.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				start := fset.Position(fd.Pos())
				if n := fset.Position(fd.End()).Line - start.Line + 1; n > *limit {
					found = append(found, long{fmt.Sprintf("%s:%d %s", f, start.Line, fd.Name.Name), n})
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].lines > found[j].lines })
	for _, l := range found {
		fmt.Printf("%4d %s\n", l.lines, l.where)
	}
	if len(found) > 0 {
		os.Exit(1)
	}
}
