package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets below feed arbitrary bytes to the dataset readers. The
// seeds (f.Add and testdata/fuzz/<target>) run as ordinary tests in every
// `go test`; `go test -fuzz=FuzzReadIDX ./data/` explores beyond them. A
// reader may refuse its input, but must not panic, hang or allocate
// memory in proportion to a length field the file does not back with
// data, and an error must name the file.

// writeTemp writes b to a file called name in a fresh temporary folder
// and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func FuzzReadIDX(f *testing.F) {
	good := idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	f.Add(good)
	f.Add(gz(good))
	f.Add(idxBytes([]int{3, 2, 2}, make([]byte, 12)))
	f.Add(idxBytes([]int{1 << 16, 1 << 16, 1 << 16}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := writeTemp(t, "x-idx", b)
		x, err := ReadIDX(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		n := 1
		for _, d := range x.Shape {
			if d < 0 {
				t.Fatalf("negative dimension in %v", x.Shape)
			}
			n *= d
		}
		if len(x.Shape) == 0 || n != len(x.Data) {
			t.Fatalf("shape %v with %d bytes of data", x.Shape, len(x.Data))
		}
	})
}

func FuzzCIFAR(f *testing.F) {
	f.Add(cifarRecords(0, cifarLabels(2, 10)), false)
	f.Add(cifarRecords(0, cifarLabels(2, 20, 100)), true)
	f.Add(cifarRecords(0, cifarLabels(1, 10))[:100], false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, b []byte, hundred bool) {
		name := "test_batch.bin"
		if hundred {
			name = "test.bin"
		}
		path := writeTemp(t, name, b)
		var im *Images
		var err error
		if hundred {
			im, err = LoadCIFAR100(filepath.Dir(path), false, false)
		} else {
			im, err = LoadCIFAR10(filepath.Dir(path), false)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if im.N < 1 || len(im.Pixels) != im.N*cifarPixels || len(im.Labels) != im.N {
			t.Fatalf("%d images with %d pixel bytes and %d labels", im.N, len(im.Pixels), len(im.Labels))
		}
		for i, l := range im.Labels {
			if l < 0 || l >= int64(im.Classes) {
				t.Fatalf("label %d of image %d is outside 0..%d", l, i, im.Classes-1)
			}
		}
	})
}

func FuzzReadTokenFiles(f *testing.F) {
	f.Add([]byte(" the cat sat on the <unk> \n a dog ran \n"), []byte(" the dog sat \n"), []byte(" a zebra ran \n"), false)
	f.Add([]byte(" \n = Valkyria = \n \n Senjō no <unk> 3 @-@ 1 \n"), []byte(" \n = Valkyria = \n"), []byte(" no \n"), true)
	f.Add([]byte("a b\r\nc\x00d\n"), []byte(""), []byte("\n"), false)
	f.Add([]byte("a"), []byte("b"), []byte("a"), false)
	f.Fuzz(func(t *testing.T, train, valid, test []byte, skipEmpty bool) {
		dir := t.TempDir()
		paths := make([]string, 3)
		for i, b := range [][]byte{train, valid, test} {
			paths[i] = filepath.Join(dir, []string{"train", "valid", "test"}[i]+".txt")
			if err := os.WriteFile(paths[i], b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ReadTokenFiles("fuzz", paths[0], paths[1], paths[2], TextOptions{SkipEmpty: skipEmpty})
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if c.Vocab.Len() == 0 || c.Vocab.Words[0] != EOS {
			t.Fatalf("vocabulary %v does not start with %s", c.Vocab.Words, EOS)
		}
		for i, split := range [][]int64{c.Train, c.Valid, c.Test} {
			if len(split) == 0 {
				t.Fatalf("split %d is empty but was accepted", i)
			}
			for _, id := range split {
				if id < 0 || id >= int64(c.Vocab.Len()) {
					t.Fatalf("id %d outside a vocabulary of %d", id, c.Vocab.Len())
				}
			}
		}
	})
}
