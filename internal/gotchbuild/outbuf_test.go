package gotchbuild

import (
	"strings"
	"testing"
)

func TestRewriteOutBuffers(t *testing.T) {
	tests := []struct {
		name, src, want string
		n               int
		err             bool
	}{{
		name: "one output",
		src: "func(ts *Tensor) Abs(del bool)(retVal *Tensor, err error) {\n" +
			"  ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n  \n    lib.AtgAbs(ptr, ts.ctensor)\n",
		want: "func(ts *Tensor) Abs(del bool)(retVal *Tensor, err error) {\n" +
			"  ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n  defer C.free(unsafe.Pointer(ptr))\n  \n    lib.AtgAbs(ptr, ts.ctensor)\n",
		n: 1,
	}, {
		name: "three outputs",
		src: "\tctensorPtr0 := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n" +
			"\tctensorPtr1 := (*lib.Ctensor)(unsafe.Pointer(uintptr(unsafe.Pointer(ctensorPtr0)) + unsafe.Sizeof(ctensorPtr0)))\n" +
			"\tctensorPtr2 := (*lib.Ctensor)(unsafe.Pointer(uintptr(unsafe.Pointer(ctensorPtr1)) + unsafe.Sizeof(ctensorPtr0)))\n",
		want: "\tctensorPtr0 := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n\tdefer C.free(unsafe.Pointer(ctensorPtr0))\n" +
			"\tctensorPtr1 := (*lib.Ctensor)(unsafe.Pointer(uintptr(unsafe.Pointer(ctensorPtr0)) + unsafe.Sizeof(ctensorPtr0)))\n" +
			"\tctensorPtr2 := (*lib.Ctensor)(unsafe.Pointer(uintptr(unsafe.Pointer(ctensorPtr1)) + unsafe.Sizeof(ctensorPtr0)))\n",
		n: 1,
	}, {
		name: "already freed",
		src:  "\t\toutputPtr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n\t\tdefer C.free(unsafe.Pointer(outputPtr))\n",
		want: "\t\toutputPtr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n\t\tdefer C.free(unsafe.Pointer(outputPtr))\n",
		n:    1,
	}, {
		name: "other buffers untouched",
		src:  "\tptr1 := (*lib.Civalue)(unsafe.Pointer(C.malloc(0)))\n\t// ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n",
		want: "\tptr1 := (*lib.Civalue)(unsafe.Pointer(C.malloc(0)))\n\t// ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n",
	}, {
		name: "more outputs than the buffer holds",
		src:  strings.Repeat("x", 3) + "\n  ctensorPtr8 := (*lib.Ctensor)(unsafe.Pointer(uintptr(unsafe.Pointer(ctensorPtr7)) + 8))\n",
		err:  true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := rewriteOutBuffers([]byte(tt.src))
			if tt.err {
				if err == nil {
					t.Fatalf("no error for %q", tt.src)
				}
				return
			}
			if err != nil || n != tt.n || string(got) != tt.want {
				t.Errorf("got %d rewrites, %v:\n%s\nwant %d:\n%s", n, err, got, tt.n, tt.want)
			}
		})
	}
}
