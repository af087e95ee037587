package gotchbuild

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// gotch's Go bindings hand each C binding a buffer for its output tensor
// handles allocated as C.malloc(0) and never free it: 32 bytes of C heap
// leak on every tensor op (a WRN-10-1 training step leaked about 2 KB,
// long ImageNet runs would leak gigabytes), and ops that return four or
// more tensors write past the 24 usable bytes of the block. fixOutBuffers
// rewrites those allocations to outBufBytes (room for every binding's
// outputs) and frees them when the function returns; the handles are
// copied out before that (newTensor(*ptr)).
const outBufBytes = 64

// outBufLine matches a binding's output-buffer allocation; outBufIndex the
// handles computed from it (ctensorPtrN, N = 0, 1, ...).
var (
	outBufLine  = regexp.MustCompile(`(?m)^([ \t]*)(\w+) := \(\*lib\.Ctensor\)\(unsafe\.Pointer\(C\.malloc\(0\)\)\)[ \t]*$`)
	outBufIndex = regexp.MustCompile(`ctensorPtr(\d+) :=`)
)

// fixOutBuffers applies the rewrite to gotch's ts package in dir (jit.go,
// whose buffers hold other types, is left alone) and returns how many
// allocations it changed.
func fixOutBuffers(tsDir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(tsDir, "*.go"))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, f := range files {
		if filepath.Base(f) == "jit.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return total, err
		}
		out, n, err := rewriteOutBuffers(src)
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

// rewriteOutBuffers returns src with every output-buffer allocation sized
// and freed, and how many it rewrote. A line already followed by its free
// keeps that free and gains no second one.
func rewriteOutBuffers(src []byte) ([]byte, int, error) {
	for _, m := range outBufIndex.FindAllSubmatch(src, -1) {
		if i, _ := strconv.Atoi(string(m[1])); 8*(i+1) > outBufBytes {
			return nil, 0, fmt.Errorf("a binding returns %d tensors: raise outBufBytes above %d", i+1, outBufBytes)
		}
	}
	n := 0
	var out bytes.Buffer
	rest := src
	for {
		loc := outBufLine.FindSubmatchIndex(rest)
		if loc == nil {
			out.Write(rest)
			return out.Bytes(), n, nil
		}
		indent, name := rest[loc[2]:loc[3]], string(rest[loc[4]:loc[5]])
		out.Write(rest[:loc[0]])
		fmt.Fprintf(&out, "%s%s := (*lib.Ctensor)(unsafe.Pointer(C.malloc(%d)))", indent, name, outBufBytes)
		rest = rest[loc[1]:]
		free := fmt.Sprintf("defer C.free(unsafe.Pointer(%s))", name)
		if next := bytes.TrimLeft(rest, "\r\n \t"); !bytes.HasPrefix(next, []byte(free)) {
			fmt.Fprintf(&out, "\n%s%s", indent, free)
		}
		n++
	}
}
