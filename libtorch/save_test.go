package libtorch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestEncodeDecodeTensors(t *testing.T) {
	if !HaveBufferIO() {
		t.Fatal("gotch's C layer lacks save.cpp's functions: gotchbuild did not compile internal/gotchbuild/extra/save.cpp")
	}
	a := ts.MustOfSlice([]float32{1, 2, 3, 4, 5, 6}).MustView([]int64{2, 3}, true)
	b := ts.MustOfSlice([]int64{7, -8})
	defer a.MustDrop()
	defer b.MustDrop()
	buf, err := EncodeTensors([]string{"layer.0.weight", "bn.running_mean"}, []*ts.Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTensors(buf, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"layer.0.weight": "[1 2 3 4 5 6]", "bn.running_mean": "[7 -8]"}
	if len(got) != len(want) {
		t.Fatalf("decoded %d tensors, want %d", len(got), len(want))
	}
	for _, nt := range got {
		vals := fmt.Sprint(nt.Tensor.Float64Values())
		if nt.Name == "bn.running_mean" {
			vals = fmt.Sprint(nt.Tensor.Int64Values())
		}
		if want[nt.Name] != vals {
			t.Errorf("%s = %s, want %s", nt.Name, vals, want[nt.Name])
		}
		nt.Tensor.MustDrop()
	}
	// gotch's file loader reads the same bytes: the formats agree.
	path := filepath.Join(t.TempDir(), "x.ot")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	named, err := ts.LoadMultiWithDevice(path, gotch.CPU)
	if err != nil || len(named) != 2 {
		t.Fatalf("gotch's LoadMulti of EncodeTensors' bytes: %d tensors, %v", len(named), err)
	}
}

func TestDecodeTensorsBadInput(t *testing.T) {
	a := ts.MustOfSlice([]float32{1, 2, 3})
	defer a.MustDrop()
	good, err := EncodeTensors([]string{"a"}, []*ts.Tensor{a})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)/2]},
		{"not an archive", []byte("hello, world")},
		{"zip without a model", good[:30]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTensors(tc.b, gotch.CPU)
			if err == nil || !strings.HasPrefix(err.Error(), "decode tensors: ") {
				t.Fatalf("err = %v, want a decode tensors error", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q: want one line, without libtorch's backtrace", err)
			}
		})
	}
}

func TestEncodeTensorsArguments(t *testing.T) {
	if _, err := EncodeTensors([]string{"a", "b"}, []*ts.Tensor{nil}); err == nil {
		t.Error("2 names for 1 tensor: no error")
	}
	if _, err := EncodeTensors([]string{"a"}, []*ts.Tensor{nil}); err == nil || !strings.Contains(err.Error(), "a is nil") {
		t.Errorf("nil tensor: %v", err)
	}
}
