package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// A safetensors file (https://github.com/huggingface/safetensors) is an
// 8-byte little-endian header length N, N bytes of JSON, and the tensors'
// raw little-endian bytes. The JSON maps each tensor name to its dtype,
// shape and [begin, end) byte offsets into the data that follows the
// header; the optional "__metadata__" entry maps strings to strings.

// maxSafetensorsHeader bounds the JSON header, as the reference reader
// does (100 MB), so a corrupt length cannot ask for gigabytes.
const maxSafetensorsHeader = 100 << 20

// SafetensorsTensor is one entry of a safetensors header.
type SafetensorsTensor struct {
	Name  string
	DType string // "F32", "BF16", "I64", … as the file writes it
	Shape []int64
	// Begin and End are byte offsets from the start of the file (the
	// header's data_offsets plus 8 and the header length).
	Begin, End int64
}

// SafetensorsHeader is a parsed and checked safetensors header.
type SafetensorsHeader struct {
	Tensors  []SafetensorsTensor // in the order of their data
	Metadata map[string]string   // the "__metadata__" entry; nil when absent
	// DataStart is the offset of the data buffer in the file.
	DataStart int64
}

// safetensorsDTypes maps the format's dtype names to libtorch's dtypes
// and element sizes. The unsigned types beyond U8 and the 8-bit floats
// have no libtorch 1.13 counterpart and are refused.
var safetensorsDTypes = map[string]struct {
	dtype gotch.DType
	size  int64
}{
	"BOOL": {gotch.Bool, 1}, "U8": {gotch.Uint8, 1}, "I8": {gotch.Int8, 1},
	"I16": {gotch.Int16, 2}, "I32": {gotch.Int, 4}, "I64": {gotch.Int64, 8},
	"F16": {gotch.Half, 2}, "BF16": {gotch.BFloat16, 2}, "F32": {gotch.Float, 4}, "F64": {gotch.Double, 8},
}

// ParseSafetensorsHeader reads and checks the header of a safetensors file
// of size bytes. It refuses, naming the tensor where there is one: a file
// too short for its header, a header that is not one JSON object of
// entries with exactly dtype, shape and data_offsets, a name given twice,
// an unknown dtype, a shape whose element count times the dtype's size is
// not the length of its byte range, a range that reaches outside the file,
// and ranges that overlap or leave holes in the data (the format requires
// the buffer to be covered exactly).
func ParseSafetensorsHeader(r io.ReaderAt, size int64) (*SafetensorsHeader, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, too short for the 8-byte header length", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader {
		return nil, fmt.Errorf("header length %d exceeds the format's limit of %d bytes", n, maxSafetensorsHeader)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("header length %d reaches past the end of the %d-byte file", n, size)
	}
	js := make([]byte, n)
	if _, err := r.ReadAt(js, 8); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	h := &SafetensorsHeader{DataStart: 8 + int64(n)}
	if err := h.decodeJSON(js); err != nil {
		return nil, fmt.Errorf("malformed header: %w", err)
	}
	if err := h.checkLayout(size - h.DataStart); err != nil {
		return nil, err
	}
	return h, nil
}

// safetensorsEntry is a tensor's JSON entry.
type safetensorsEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// decodeJSON parses the header object entry by entry, so that a name
// given twice is seen (encoding/json would keep the last silently).
func (h *SafetensorsHeader) decodeJSON(js []byte) error {
	if !bytes.HasPrefix(js, []byte("{")) {
		return errors.New("the header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	if _, err := dec.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string) // object keys are strings
		if seen[name] {
			return fmt.Errorf("tensor %q is listed twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		if name == "__metadata__" {
			if err := strictJSON(raw, &h.Metadata); err != nil {
				return fmt.Errorf("__metadata__ is not an object of strings: %w", err)
			}
			continue
		}
		t, err := parseEntry(name, raw)
		if err != nil {
			return err
		}
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if rest := bytes.TrimRight(js[dec.InputOffset():], " "); len(rest) > 0 {
		return fmt.Errorf("%d bytes after the JSON object (only space padding is allowed)", len(rest))
	}
	return nil
}

func strictJSON(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// parseEntry checks one tensor entry on its own: fields, dtype, shape,
// offsets and that the byte range holds exactly the shape's elements.
func parseEntry(name string, raw []byte) (SafetensorsTensor, error) {
	t := SafetensorsTensor{Name: name}
	var e safetensorsEntry
	if err := strictJSON(raw, &e); err != nil {
		return t, fmt.Errorf("tensor %q: %w", name, err)
	}
	dt, ok := safetensorsDTypes[e.DType]
	if !ok {
		return t, fmt.Errorf("tensor %q: dtype %q is not supported (want one of BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64)", name, e.DType)
	}
	if e.Shape == nil || e.DataOffsets == nil {
		return t, fmt.Errorf("tensor %q: the entry needs dtype, shape and data_offsets", name)
	}
	off := *e.DataOffsets
	if len(off) != 2 || off[0] < 0 || off[1] < off[0] {
		return t, fmt.Errorf("tensor %q: data_offsets %v: want [begin, end] with 0 <= begin <= end", name, off)
	}
	numel := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && numel > math.MaxInt64/dt.size/d) {
			return t, fmt.Errorf("tensor %q: shape %v is not a valid shape", name, e.Shape)
		}
		numel *= d
	}
	if got := off[1] - off[0]; got != numel*dt.size {
		return t, fmt.Errorf("tensor %q: dtype %s and shape %v need %d bytes, data_offsets %v hold %d", name, e.DType, e.Shape, numel*dt.size, off, got)
	}
	t.DType, t.Shape, t.Begin, t.End = e.DType, e.Shape, off[0], off[1]
	return t, nil
}

// checkLayout sorts the tensors by offset and checks that they tile the
// data buffer of dataLen bytes exactly, then makes offsets absolute.
func (h *SafetensorsHeader) checkLayout(dataLen int64) error {
	sort.SliceStable(h.Tensors, func(i, j int) bool { return h.Tensors[i].Begin < h.Tensors[j].Begin })
	var at int64
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if t.End > dataLen {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] reach past the end of the file (its data holds %d bytes): truncated?", t.Name, t.Begin, t.End, dataLen)
		}
		if t.Begin < at {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q's bytes", t.Name, t.Begin, t.End, h.Tensors[i-1].Name)
		}
		if t.Begin > at {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes %d..%d of the data unused", t.Name, t.Begin, t.End, at, t.Begin)
		}
		at = t.End
		t.Begin += h.DataStart
		t.End += h.DataStart
	}
	if at != dataLen {
		return fmt.Errorf("%d bytes of data after the last tensor (the header indexes %d of %d)", dataLen-at, at, dataLen)
	}
	return nil
}

// ReadSafetensors reads every tensor of a safetensors file onto the CPU,
// in the file's dtypes and shapes; the caller owns them. Key names are
// passed through TimmResNetName, so a timm ResNet's file has torchvision's
// names. The header is checked first (ParseSafetensorsHeader), so a
// malformed file allocates nothing for its tensors.
func ReadSafetensors(path string) (map[string]*ts.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read safetensors: %w", err)
	}
	h, err := ParseSafetensorsHeader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	out := make(map[string]*ts.Tensor, len(h.Tensors))
	for _, e := range h.Tensors {
		name := TimmResNetName(e.Name)
		if _, dup := out[name]; dup {
			dropAll(out)
			return nil, fmt.Errorf("read safetensors %s: two tensors are named %q after mapping timm's names", path, name)
		}
		t, err := readSafetensor(f, e)
		if err != nil {
			dropAll(out)
			return nil, fmt.Errorf("read safetensors %s: tensor %q: %w", path, e.Name, err)
		}
		out[name] = t
	}
	return out, nil
}

// readSafetensor reads one tensor's bytes and builds it. Half-precision
// bytes load as int16 and are reinterpreted (a view of the same storage).
func readSafetensor(r io.ReaderAt, e SafetensorsTensor) (*ts.Tensor, error) {
	b := make([]byte, e.End-e.Begin)
	if _, err := r.ReadAt(b, e.Begin); err != nil {
		return nil, err
	}
	dt := safetensorsDTypes[e.DType]
	numel := int64(len(b)) / dt.size
	if numel == 0 {
		return ts.Zeros(e.Shape, dt.dtype, gotch.CPU)
	}
	var data any
	switch e.DType {
	case "BOOL":
		v := make([]bool, numel)
		for i, x := range b {
			v[i] = x != 0
		}
		data = v
	case "U8":
		data = b
	case "I8":
		v := make([]int8, numel)
		for i, x := range b {
			v[i] = int8(x)
		}
		data = v
	case "I16", "F16", "BF16":
		v := make([]int16, numel)
		for i := range v {
			v[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		data = v
	case "I32":
		v := make([]int32, numel)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		data = v
	case "I64":
		v := make([]int64, numel)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		data = v
	case "F32":
		v := make([]float32, numel)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		data = v
	case "F64":
		v := make([]float64, numel)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		data = v
	}
	// Flat first: gotch cannot build a 0-dim tensor from data.
	t, err := ts.NewTensorFromData(data, []int64{numel})
	if err != nil {
		return nil, err
	}
	if e.DType == "F16" || e.DType == "BF16" {
		if t, err = t.ViewDtype(dt.dtype, true); err != nil {
			return nil, err
		}
	}
	if len(e.Shape) == 0 { // gotch cannot pass an empty shape either
		return t.Select(0, 0, true)
	}
	return t.Reshape(e.Shape, true)
}

// TimmResNetName maps a key of a timm ResNet state dict to torchvision's
// name. timm's ResNet (resnet50.a1_in1k and its kin on the Hugging Face
// hub) already uses torchvision's names — conv1, bn1, layer1…layer4 with
// downsample.0/.1, fc — so most keys pass through; timm models whose
// classifier sits in a head module write it as head.fc, which becomes fc.
// Any other key is returned unchanged.
func TimmResNetName(key string) string {
	if rest, ok := strings.CutPrefix(key, "head.fc."); ok {
		return "fc." + rest
	}
	return key
}

// isSafetensors reports whether path is a safetensors file: named
// .safetensors, or starting with a header length followed by '{'.
func isSafetensors(path string) bool {
	if strings.EqualFold(filepath.Ext(path), ".safetensors") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [9]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	n := binary.LittleEndian.Uint64(head[:8])
	return n > 1 && n <= maxSafetensorsHeader && head[8] == '{'
}
