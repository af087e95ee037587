//go:build !noturbojpeg

package data

/*
#cgo LDFLAGS: -lturbojpeg
#include <turbojpeg.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// turboAvailable says that JPEGs decode with libjpeg-turbo (the default
// build; the build tag noturbojpeg selects Go's image/jpeg instead).
const turboAvailable = true

// turboDecoder is one libjpeg-turbo decompressor; a worker owns one.
type turboDecoder struct{ h C.tjhandle }

func newTurboDecoder() (*turboDecoder, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("libjpeg-turbo: cannot create a decompressor")
	}
	return &turboDecoder{h}, nil
}

func (d *turboDecoder) close() {
	if d != nil && d.h != nil {
		C.tjDestroy(d.h)
		d.h = nil
	}
}

// jpegColor says how a JPEG stores its colours, as far as decoding cares.
type jpegColor int

const (
	jpegRGBLike jpegColor = iota // YCbCr, RGB or grayscale: libjpeg converts to RGB
	jpegCMYK                     // CMYK or YCCK: converted in Go, as Pillow does
)

// header reads a JPEG's size and colour space without decoding it.
func (d *turboDecoder) header(buf []byte) (w, h int, cs jpegColor, err error) {
	if d.h == nil {
		return 0, 0, 0, errors.New("libjpeg-turbo: no decompressor")
	}
	var cw, ch, sub, space C.int
	if C.tjDecompressHeader3(d.h, (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)), &cw, &ch, &sub, &space) != 0 {
		err := fmt.Errorf("jpeg header: %s", d.message())
		d.reset()
		return 0, 0, 0, err
	}
	if space == C.TJCS_CMYK || space == C.TJCS_YCCK {
		cs = jpegCMYK
	}
	return int(cw), int(ch), cs, nil
}

// decode decodes buf scaled by num/8 (libjpeg's DCT-domain scaling; 8 is
// full size) into dst as interleaved RGB and returns the decoded size.
// dst must hold scaledSize(w, num)·scaledSize(h, num)·3 bytes. libjpeg's
// defaults are kept (accurate integer IDCT, smooth chroma upsampling), as
// Pillow keeps them. A warning that the data ended early (a truncated
// file) is an error, as it is for Pillow; other warnings, such as stray
// bytes before a marker, are not.
func (d *turboDecoder) decode(buf []byte, w, h, num int, dst []byte) error {
	sw, sh := scaledSize(w, num), scaledSize(h, num)
	if len(dst) < sw*sh*3 {
		return fmt.Errorf("jpeg decode: buffer of %d bytes for %d×%d pixels", len(dst), sw, sh)
	}
	const flags = C.TJFLAG_LIMITSCANS
	r := C.tjDecompress2(d.h, (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)),
		(*C.uchar)(unsafe.Pointer(&dst[0])), C.int(sw), 0, C.int(sh), C.TJPF_RGB, flags)
	if r == 0 {
		return nil
	}
	msg := d.message()
	warning := C.tjGetErrorCode(d.h) == C.TJERR_WARNING
	d.reset()
	if warning && !strings.Contains(msg, "Premature end") {
		return nil
	}
	return fmt.Errorf("jpeg decode: %s", msg)
}

// reset replaces the decompressor after an error: libjpeg-turbo 2.1 leaves
// a failed handle in a state in which the next image fails too.
func (d *turboDecoder) reset() {
	C.tjDestroy(d.h)
	d.h = C.tjInitDecompress() // nil only when out of memory: the next call fails
}

func (d *turboDecoder) message() string {
	return C.GoString(C.tjGetErrorStr2(d.h))
}

// scaledSize is libjpeg's size of a dimension scaled by num/8 (rounded up).
func scaledSize(n, num int) int { return (n*num + 7) / 8 }
