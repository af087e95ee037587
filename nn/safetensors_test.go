package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// stEntry is one tensor for safetensorsFile: its header entry and bytes.
type stEntry struct {
	name, dtype string
	shape       []int64
	data        []byte
}

// safetensorsFile writes entries one after another, as the format does.
func safetensorsFile(entries ...stEntry) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, e := range entries {
		header[e.name] = map[string]any{"dtype": e.dtype, "shape": e.shape,
			"data_offsets": []int{len(data), len(data) + len(e.data)}}
		data = append(data, e.data...)
	}
	js, _ := json.Marshal(header)
	return rawSafetensors(string(js), data)
}

// rawSafetensors frames a header text and data.
func rawSafetensors(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32Bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func TestReadSafetensorsDTypes(t *testing.T) {
	bf16 := []byte{0x80, 0x3f, 0x00, 0xc0} // 1, -2 in bfloat16
	f16 := []byte{0x00, 0x3c, 0x00, 0x42}  // 1, 3 in float16
	i64 := binary.LittleEndian.AppendUint64(nil, uint64(1<<40))
	b := safetensorsFile(
		stEntry{"w", "F32", []int64{2, 2}, f32Bytes(1, 2, 3, 4)},
		stEntry{"h", "F16", []int64{2}, f16},
		stEntry{"b", "BF16", []int64{2}, bf16},
		stEntry{"n", "I64", []int64{}, i64},
		stEntry{"m", "BOOL", []int64{3}, []byte{1, 0, 1}},
		stEntry{"e", "F32", []int64{0, 3}, nil},
		stEntry{"head.fc.weight", "F64", []int64{1}, binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.5))},
	)
	path := writeTemp(t, "x.safetensors", b)
	got, err := ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(got)
	want := map[string]struct {
		dtype gotch.DType
		shape []int64
		vals  []float64
	}{
		"w":         {gotch.Float, []int64{2, 2}, []float64{1, 2, 3, 4}},
		"h":         {gotch.Half, []int64{2}, []float64{1, 3}},
		"b":         {gotch.BFloat16, []int64{2}, []float64{1, -2}},
		"n":         {gotch.Int64, []int64{}, []float64{1 << 40}},
		"m":         {gotch.Bool, []int64{3}, []float64{1, 0, 1}},
		"e":         {gotch.Float, []int64{0, 3}, []float64{}},
		"fc.weight": {gotch.Double, []int64{1}, []float64{0.5}}, // timm's head.fc
	}
	if len(got) != len(want) {
		t.Fatalf("read %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		x, ok := got[name]
		if !ok {
			t.Errorf("tensor %s missing", name)
			continue
		}
		if x.DType() != w.dtype || !reflect.DeepEqual(sizeOf(x), w.shape) {
			t.Errorf("%s: %v %v, want %v %v", name, x.DType(), sizeOf(x), w.dtype, w.shape)
		}
		if len(w.vals) == 0 {
			continue // gotch cannot copy out an empty tensor
		}
		d := x.MustTotype(gotch.Double, false)
		if vals := d.MustFlatten(0, -1, true).Float64Values(); !reflect.DeepEqual(vals, w.vals) {
			t.Errorf("%s: values %v, want %v", name, vals, w.vals)
		}
	}
}

func TestSafetensorsRefused(t *testing.T) {
	ok := stEntry{"a", "F32", []int64{2}, f32Bytes(1, 2)}
	good := safetensorsFile(ok)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header length past the end", binary.LittleEndian.AppendUint64(nil, 1000), "reaches past the end"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds"},
		{"not an object", rawSafetensors(`[1,2]`, nil), "does not start with '{'"},
		{"malformed JSON", rawSafetensors(`{"a":{"dtype":"F32",`, nil), "malformed header"},
		{"trailing bytes", rawSafetensors(`{} x`, nil), "after the JSON object"},
		{"unknown dtype", safetensorsFile(stEntry{"conv.w", "F8_E4M3", []int64{2}, []byte{1, 2}}), `"conv.w": dtype "F8_E4M3"`},
		{"unknown field", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, f32Bytes(1)), `"a": json: unknown field`},
		{"missing offsets", rawSafetensors(`{"a":{"dtype":"F32","shape":[1]}}`, f32Bytes(1)), `"a": the entry needs`},
		{"duplicate name", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1)), `"a" is listed twice`},
		{"shape and dtype disagree with the bytes", safetensorsFile(stEntry{"fc.bias", "F32", []int64{3}, f32Bytes(1, 2)}), `"fc.bias": dtype F32 and shape [3] need 12 bytes`},
		{"negative dimension", rawSafetensors(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32Bytes(1)), `"a": shape [-1]`},
		{"overflowing shape", rawSafetensors(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}`, f32Bytes(1)), `"a": shape`},
		{"offsets reversed", rawSafetensors(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, f32Bytes(1)), `"a": data_offsets [4 0]`},
		{"offset outside the file", good[:len(good)-1], `"a": data_offsets [0, 8] reach past the end`},
		{"overlap", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32Bytes(1, 2)), `overlap`},
		{"hole", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32Bytes(1, 2)), `"a": data_offsets [4, 8] leave bytes 0..4`},
		{"bytes after the last tensor", append(append([]byte{}, good...), 0, 0), "2 bytes of data after the last tensor"},
		{"metadata not strings", rawSafetensors(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	} {
		path := writeTemp(t, "bad.safetensors", tc.file)
		m, err := ReadStateDict(path)
		if err == nil {
			dropAll(m)
			t.Errorf("%s: read without error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q, want it to name the file and say %q", tc.name, err, tc.want)
		}
	}
}

// TestSafetensorsDTypeMismatch: integer values are not loaded into a float
// parameter (copy_ would convert them silently).
func TestSafetensorsDTypeMismatch(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	vs.Root().MustZeros("w", []int64{2})
	i32 := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 1), 2)
	path := writeTemp(t, "m.safetensors", safetensorsFile(stEntry{"w", "I32", []int64{2}, i32}))
	_, err := LoadStateDict(vs, path, nil)
	if err == nil || !strings.Contains(err.Error(), "tensor w") || !strings.Contains(err.Error(), "Int") {
		t.Fatalf("load of int32 into a float parameter: %v, want an error naming w", err)
	}
}

// TestSafetensorsResNet50 writes a randomly initialized torchvision
// ResNet-50 as .pth and as .safetensors (classifier named timm's way,
// head.fc) with scripts/write_safetensors.py and checks that both load
// into our ResNet-50 strictly and give the same values.
func TestSafetensorsResNet50(t *testing.T) {
	if testing.Short() {
		t.Skip("writes two 100 MB files")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision").Run(); err != nil {
		t.Skipf("python3-torch and python3-torchvision are not installed: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(py, "../scripts/write_safetensors.py", "--model", "resnet50", "--timm-head", "--out", dir)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write_safetensors.py: %v\n%s", err, out)
	}
	load := func(file string) *gnn.VarStore {
		cfg, err := ResNetDepth(50, 1000)
		if err != nil {
			t.Fatal(err)
		}
		vs := gnn.NewVarStore(gotch.CPU)
		if _, err := NewResNet(vs.Root(), cfg); err != nil {
			t.Fatal(err)
		}
		rep, err := LoadStateDict(vs, filepath.Join(dir, file), nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !rep.Complete() || len(rep.Loaded) != 267 {
			t.Fatalf("%s: %s", file, rep)
		}
		return vs
	}
	a, b := load("resnet50.pth"), load("resnet50.safetensors")
	defer a.Destroy()
	defer b.Destroy()
	bv := Variables(b)
	for name, x := range Variables(a) {
		y := bv[name]
		if !x.MustEqual(y, false) {
			t.Errorf("%s differs between the .pth and the .safetensors load", name)
		}
	}
}

// FuzzSafetensors feeds arbitrary files to the safetensors reader: it must
// return tensors or an error, never panic, and a file it accepts must
// have a header whose ranges tile the data.
func FuzzSafetensors(f *testing.F) {
	f.Add(safetensorsFile(stEntry{"a", "F32", []int64{2}, f32Bytes(1, 2)}, stEntry{"b", "BF16", []int64{1}, []byte{0x80, 0x3f}}))
	f.Add(safetensorsFile())
	f.Add(rawSafetensors(`{"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32Bytes(1, 2)))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			at := h.DataStart
			for _, e := range h.Tensors {
				if e.Begin != at || e.End < e.Begin {
					t.Fatalf("accepted tensor %q at [%d, %d), want it to start at %d", e.Name, e.Begin, e.End, at)
				}
				at = e.End
			}
			if at != int64(len(b)) {
				t.Fatalf("accepted a header that indexes %d of %d bytes", at, len(b))
			}
		}
		if len(b) > 1<<16 {
			return // keep libtorch allocations small
		}
		path := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, rerr := ReadSafetensors(path)
		if rerr != nil && err == nil && strings.Contains(rerr.Error(), "after mapping timm's names") {
			return // head.fc.x and fc.x both present: refused after parsing
		}
		if (rerr == nil) != (err == nil) {
			t.Fatalf("header parse error %v but read error %v", err, rerr)
		}
		dropAll(m)
	})
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
