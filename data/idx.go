package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// IDX is an array read from an IDX file (the format of MNIST and
// Fashion-MNIST): unsigned bytes with a shape.
type IDX struct {
	Shape []int
	Data  []uint8
}

// ReadIDX reads an IDX file of unsigned bytes, gzipped (by its magic bytes)
// or not. Truncated or malformed files get an error that names the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// size bounds the data of a plain file; a gzipped one can hold more.
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if head, _ := br.Peek(2); bytes.Equal(head, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read IDX %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
		size = -1
	}
	x, err := decodeIDX(r, size)
	if err != nil {
		return nil, fmt.Errorf("read IDX %s: %w", path, err)
	}
	return x, nil
}

// maxIDXElements bounds the allocation a corrupt header can ask for.
const maxIDXElements = 1 << 32

// idxChunk is the most ReadIDX allocates up front for the data; beyond it,
// memory grows only as data arrives.
const idxChunk = 1 << 26

// decodeIDX decodes an IDX array from r; size, when not negative, is the
// number of bytes r holds.
func decodeIDX(r io.Reader, size int64) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("header: %w", unexpected(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("bad magic %x: not an IDX file", magic)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("element type 0x%02x: only unsigned bytes (0x08) are supported", magic[2])
	}
	ndim := int(magic[3])
	if ndim == 0 {
		return nil, fmt.Errorf("zero dimensions")
	}
	dims := make([]uint32, ndim)
	if err := binary.Read(r, binary.BigEndian, dims); err != nil {
		return nil, fmt.Errorf("dimensions: %w", unexpected(err))
	}
	shape := make([]int, ndim)
	n := 1
	for i, d := range dims {
		shape[i] = int(d)
		// Divide rather than multiply, so that the check cannot overflow.
		if d != 0 && n > maxIDXElements/int(d) {
			return nil, fmt.Errorf("shape %v is implausibly large", dims)
		}
		n *= int(d)
	}
	// The header's shape is only a claim: grow the buffer with the data
	// actually read, so that a forged shape cannot make us allocate
	// gigabytes for a file of a few bytes.
	if header := int64(4 + 4*ndim); size >= 0 && int64(n) > size-header {
		return nil, fmt.Errorf("truncated: shape %v needs %d bytes of data, found %d", shape, n, size-header)
	}
	var data bytes.Buffer
	data.Grow(min(n, idxChunk))
	if got, err := data.ReadFrom(io.LimitReader(r, int64(n))); err != nil || got < int64(n) {
		if err == nil {
			return nil, fmt.Errorf("truncated: shape %v needs %d bytes of data, found %d", shape, n, got)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	buf := data.Bytes()
	// Count trailing bytes only up to a bound: a small gzip stream can
	// expand to gigabytes.
	if extra, _ := io.CopyN(io.Discard, r, idxChunk); extra > 0 {
		more := ""
		if extra == idxChunk {
			more = "at least "
		}
		return nil, fmt.Errorf("%s%d bytes after the data that shape %v describes", more, extra, shape)
	}
	return &IDX{Shape: shape, Data: buf}, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
