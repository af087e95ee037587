package data

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// idxBytes encodes an unsigned-byte IDX array.
func idxBytes(shape []int, data []byte) []byte {
	b := []byte{0, 0, 0x08, byte(len(shape))}
	for _, d := range shape {
		b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(b, data...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestReadIDX(t *testing.T) {
	good := idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	for _, tc := range []struct {
		name    string
		content []byte
		err     string
	}{
		{"plain", good, ""},
		{"gzipped", gz(good), ""},
		{"truncated data", good[:len(good)-2], "truncated: shape [2 3] needs 6 bytes of data, found 4"},
		{"truncated gz", gz(good)[:20], "read IDX"},
		{"truncated header", good[:6], "dimensions"},
		{"bad magic", append([]byte{1, 2}, good[2:]...), "not an IDX file"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), "only unsigned bytes"},
		{"extra bytes", append(append([]byte{}, good...), 9, 9), "2 bytes after the data"},
		{"empty", nil, "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x-idx")
			os.WriteFile(path, tc.content, 0o644)
			x, err := ReadIDX(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(x.Shape) != 2 || x.Shape[0] != 2 || x.Shape[1] != 3 || !bytes.Equal(x.Data, []byte{1, 2, 3, 4, 5, 6}) {
				t.Errorf("got %+v", x)
			}
		})
	}
}

// writeMNIST writes a tiny MNIST-format split into dir.
func writeMNIST(t *testing.T, dir, split string, n int, gzipped bool) {
	t.Helper()
	pix := make([]byte, n*28*28)
	lbl := make([]byte, n)
	for i := 0; i < n; i++ {
		lbl[i] = byte(i % 10)
		for j := 0; j < 28*28; j++ {
			pix[i*784+j] = byte((i*7 + j) % 256)
		}
	}
	img, lab := idxBytes([]int{n, 28, 28}, pix), idxBytes([]int{n}, lbl)
	suffix := ""
	if gzipped {
		img, lab, suffix = gz(img), gz(lab), ".gz"
	}
	os.WriteFile(filepath.Join(dir, split+"-images-idx3-ubyte"+suffix), img, 0o644)
	os.WriteFile(filepath.Join(dir, split+"-labels-idx1-ubyte"+suffix), lab, 0o644)
}

func TestLoadMNIST(t *testing.T) {
	dir := t.TempDir()
	writeMNIST(t, dir, "train", 30, true)
	writeMNIST(t, dir, "t10k", 10, false)
	tr, err := LoadMNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 30 || tr.C != 1 || tr.H != 28 || tr.Classes != 10 || tr.Labels[13] != 3 {
		t.Errorf("train = N %d C %d H %d classes %d", tr.N, tr.C, tr.H, tr.Classes)
	}
	if te, err := LoadMNIST(dir, "t10k"); err != nil || te.N != 10 {
		t.Errorf("t10k: %v", err)
	}
	if _, err := LoadMNIST(t.TempDir(), "train"); err == nil || !strings.Contains(err.Error(), "dataset-fashion-mnist") {
		t.Errorf("missing files: %v", err)
	}
	// Labels that do not match the images are an error naming the file.
	os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gz(idxBytes([]int{29}, make([]byte, 29))), 0o644)
	if _, err := LoadMNIST(dir, "train"); err == nil || !strings.Contains(err.Error(), "does not match 30 images") {
		t.Errorf("mismatched labels: %v", err)
	}
}

func TestFashionMNISTInstalled(t *testing.T) {
	if _, err := os.Stat(FashionMNISTDir); err != nil {
		t.Skip("Debian's dataset-fashion-mnist is not installed")
	}
	tr, err := LoadMNIST(FashionMNISTDir, "train")
	if err != nil {
		t.Fatal(err)
	}
	te, err := LoadMNIST(FashionMNISTDir, "t10k")
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 60000 || te.N != 10000 {
		t.Errorf("Fashion-MNIST sizes %d/%d, want 60000/10000", tr.N, te.N)
	}
	var sum float64
	for _, p := range tr.Pixels {
		sum += float64(p)
	}
	if mean := sum / float64(len(tr.Pixels)) / 255; mean < 0.28 || mean > 0.29 {
		t.Errorf("pixel mean %.4f, want Fashion-MNIST's 0.2860", mean)
	}
}

// TestReadIDXForgedShape gives headers whose shape the file does not back
// with data: the error must come from what is there, without allocating
// what the header claims, and a product that overflows must not wrap.
func TestReadIDXForgedShape(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		err   string
	}{
		{"4 GiB claimed, 10 bytes there", []int{1 << 16, 1 << 16}, "truncated: shape [65536 65536] needs 4294967296 bytes of data, found 10"},
		{"overflowing product", []int{1 << 16, 1 << 16, 1<<32 - 1}, "implausibly large"},
		{"too large", []int{1 << 17, 1 << 16}, "implausibly large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x-idx")
			os.WriteFile(path, idxBytes(tc.shape, make([]byte, 10)), 0o644)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDX(path)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
				t.Errorf("allocated %d MiB for a %d-byte file", got>>20, 10)
			}
		})
	}
}
