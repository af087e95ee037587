package libtorch

/*
#include <stdlib.h>

// Defined in internal/gotchbuild/extra/save.cpp, compiled into gotch's C
// layer by gotchbuild; weak, as in libtorch.go, so that a build against an
// official gotch links and reports them absent.
extern char *ad_save_multi_to_buffer(void **tensors, char **names, int n, size_t *size, char **err) __attribute__((weak));
extern int ad_load_multi_from_buffer(const char *data, size_t size, int device, char ***names, void ***tensors, char **err) __attribute__((weak));

static int have_buffer_io(void) {
	return ad_save_multi_to_buffer != 0 && ad_load_multi_from_buffer != 0;
}

static char *name_at(char **names, int i) { return names[i]; }
static void *tensor_at(void **tensors, int i) { return tensors[i]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// ErrNoBufferIO is returned by EncodeTensors and DecodeTensors when gotch's
// C layer lacks autodropout's extra functions (a gotch not built by
// internal/gotchbuild).
var ErrNoBufferIO = errors.New("libtorch: in-memory tensor serialization not found in gotch's C layer (rebuild gotch with make setup)")

// HaveBufferIO reports whether EncodeTensors and DecodeTensors are
// available.
func HaveBufferIO() bool { return C.have_buffer_io() != 0 }

// EncodeTensors serializes named tensors into the bytes gotch's
// VarStore.Save would write to a file (libtorch's archive format), in
// memory. It never touches the file system: the caller writes the bytes
// and gets an ordinary Go error for a full disk, where libtorch's own file
// writer aborts the process. names and tensors have the same length.
func EncodeTensors(names []string, tensors []*ts.Tensor) ([]byte, error) {
	if len(names) != len(tensors) {
		return nil, fmt.Errorf("encode tensors: %d names for %d tensors", len(names), len(tensors))
	}
	if !HaveBufferIO() {
		return nil, ErrNoBufferIO
	}
	n := len(names)
	// C arrays: Go memory may not hold the C pointers cgo passes on.
	cnames := (**C.char)(C.calloc(C.size_t(max(n, 1)), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(cnames))
	ctensors := (*unsafe.Pointer)(C.calloc(C.size_t(max(n, 1)), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(ctensors))
	nameSlice := unsafe.Slice(cnames, max(n, 1))
	tensorSlice := unsafe.Slice(ctensors, max(n, 1))
	for i := range names {
		if tensors[i] == nil {
			return nil, fmt.Errorf("encode tensors: %s is nil", names[i])
		}
		nameSlice[i] = C.CString(names[i])
		defer C.free(unsafe.Pointer(nameSlice[i]))
		tensorSlice[i] = tensors[i].Ctensor()
	}
	var size C.size_t
	var cerr *C.char
	buf := C.ad_save_multi_to_buffer(ctensors, cnames, C.int(n), &size, &cerr)
	runtime.KeepAlive(tensors) // C read the handles copied out of them
	if buf == nil {
		return nil, fmt.Errorf("encode tensors: %s", takeCString(cerr))
	}
	defer C.free(unsafe.Pointer(buf))
	return C.GoBytes(unsafe.Pointer(buf), C.int(size)), nil
}

// DecodeTensors parses bytes written by EncodeTensors (or a file written
// by gotch's VarStore.Save) into tensors on dev, in the file's order. A
// malformed or truncated archive is an error, never a crash.
func DecodeTensors(b []byte, dev gotch.Device) ([]ts.NamedTensor, error) {
	if !HaveBufferIO() {
		return nil, ErrNoBufferIO
	}
	if len(b) == 0 {
		return nil, errors.New("decode tensors: empty archive")
	}
	data := C.CBytes(b)
	defer C.free(data)
	var cnames **C.char
	var ctensors *unsafe.Pointer
	var cerr *C.char
	n := int(C.ad_load_multi_from_buffer((*C.char)(data), C.size_t(len(b)), C.int(dev.CInt()), &cnames, &ctensors, &cerr))
	if n < 0 {
		return nil, fmt.Errorf("decode tensors: %s", takeCString(cerr))
	}
	defer C.free(unsafe.Pointer(cnames))
	defer C.free(unsafe.Pointer(ctensors))
	out := make([]ts.NamedTensor, n)
	for i := 0; i < n; i++ {
		cname := C.name_at(cnames, C.int(i))
		out[i] = ts.NamedTensor{
			Name:   C.GoString(cname),
			Tensor: ts.New(lib.Ctensor(C.tensor_at(ctensors, C.int(i)))),
		}
		C.free(unsafe.Pointer(cname))
	}
	return out, nil
}

// takeCString returns a malloc'd C string's text, an error message of
// libtorch's without its C++ backtrace, and frees it.
func takeCString(s *C.char) string {
	if s == nil {
		return "unknown libtorch error"
	}
	defer C.free(unsafe.Pointer(s))
	return withoutBacktrace(C.GoString(s))
}

// withoutBacktrace cuts a c10::Error's what() before the backtrace it
// carries ("Exception raised from … (most recent call first):" and a
// frame a line), which says nothing to a user.
func withoutBacktrace(msg string) string {
	msg, _, _ = strings.Cut(msg, "\nException raised from ")
	return strings.TrimSpace(msg)
}
