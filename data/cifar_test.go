package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// cifarPixel is the test pattern: the value of channel c at (y, x) of
// image i. Swapping channels, rows or columns changes it.
func cifarPixel(i, c, y, x int) byte {
	return byte(i*37 + c*85 + y*5 + x*3)
}

// cifarRecords encodes records in the binary CIFAR format: the label bytes
// of record i (labels[i]), then its R, G and B planes. first numbers the
// images for cifarPixel.
func cifarRecords(first int, labels [][]byte) []byte {
	var b []byte
	for i, l := range labels {
		b = append(b, l...)
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					b = append(b, cifarPixel(first+i, c, y, x))
				}
			}
		}
	}
	return b
}

// cifarLabels returns n label records of width bytes; byte j of record i
// is (i*(j+3)+j) mod classes[j].
func cifarLabels(n int, classes ...int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		for j, k := range classes {
			out[i] = append(out[i], byte((i*(j+3)+j)%k))
		}
	}
	return out
}

// writeCIFAR10 writes the five training batches (with the given record
// counts) and a test batch of 7 records into dir.
func writeCIFAR10(t *testing.T, dir string, counts [5]int) {
	t.Helper()
	first := 0
	for b, n := range counts {
		name := filepath.Join(dir, "data_batch_"+string(rune('1'+b))+".bin")
		if err := os.WriteFile(name, cifarRecords(first, cifarLabels(n, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		first += n
	}
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarRecords(0, cifarLabels(7, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCIFAR checks that im holds n images of the test pattern with
// labels want.
func checkCIFAR(t *testing.T, im *Images, want []int64) {
	t.Helper()
	n := len(want)
	if im.N != n || im.C != 3 || im.H != 32 || im.W != 32 || len(im.Pixels) != n*3072 {
		t.Fatalf("N×C×H×W = %d×%d×%d×%d with %d bytes, want %d×3×32×32", im.N, im.C, im.H, im.W, len(im.Pixels), n)
	}
	if !reflect.DeepEqual(im.Labels, want) {
		t.Errorf("labels %v, want %v", im.Labels, want)
	}
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					if got, w := im.Pixels[((i*3+c)*32+y)*32+x], cifarPixel(i, c, y, x); got != w {
						t.Fatalf("image %d channel %d (%d,%d) = %d, want %d", i, c, y, x, got, w)
					}
				}
			}
		}
	}
}

// labelColumn extracts byte j of each label record.
func labelColumn(l [][]byte, j int) []int64 {
	out := make([]int64, len(l))
	for i, r := range l {
		out[i] = int64(r[j])
	}
	return out
}

func TestLoadCIFAR10(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, CIFAR10Folder)
	os.Mkdir(dir, 0o755)
	counts := [5]int{7, 3, 1, 2, 4}
	writeCIFAR10(t, dir, counts)
	os.WriteFile(filepath.Join(dir, "batches.meta.txt"), []byte("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"), 0o644)

	var trainLabels []int64
	for _, n := range counts {
		trainLabels = append(trainLabels, labelColumn(cifarLabels(n, 10), 0)...)
	}
	for _, tc := range []struct {
		name  string
		dir   string
		train bool
		want  []int64
	}{
		{"train", dir, true, trainLabels},
		{"test", dir, false, labelColumn(cifarLabels(7, 10), 0)},
		{"parent folder", root, false, labelColumn(cifarLabels(7, 10), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := LoadCIFAR10(tc.dir, tc.train)
			if err != nil {
				t.Fatal(err)
			}
			checkCIFAR(t, im, tc.want)
			if im.Classes != 10 || len(im.Mean) != 3 || im.Mean[0] != 0.4914 || im.Std[2] != 0.2616 {
				t.Errorf("classes %d mean %v std %v", im.Classes, im.Mean, im.Std)
			}
			if len(im.ClassNames) != 10 || im.ClassNames[9] != "truck" {
				t.Errorf("class names %q", im.ClassNames)
			}
			if _, err := NewLoader(im, LoaderConfig{BatchSize: 4}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLoadCIFAR100(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, CIFAR100Folder)
	os.Mkdir(dir, 0o755)
	train, test := cifarLabels(9, 20, 100), cifarLabels(7, 20, 100)
	os.WriteFile(filepath.Join(dir, "train.bin"), cifarRecords(0, train), 0o644)
	os.WriteFile(filepath.Join(dir, "test.bin"), cifarRecords(0, test), 0o644)
	for _, tc := range []struct {
		name          string
		dir           string
		train, coarse bool
		want          []int64
		classes       int
	}{
		{"train fine", dir, true, false, labelColumn(train, 1), 100},
		{"train coarse", dir, true, true, labelColumn(train, 0), 20},
		{"test fine", dir, false, false, labelColumn(test, 1), 100},
		{"test coarse, parent folder", root, false, true, labelColumn(test, 0), 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := LoadCIFAR100(tc.dir, tc.train, tc.coarse)
			if err != nil {
				t.Fatal(err)
			}
			checkCIFAR(t, im, tc.want)
			if im.Classes != tc.classes || im.Mean[0] != 0.5071 || im.Std[2] != 0.2762 {
				t.Errorf("classes %d mean %v std %v", im.Classes, im.Mean, im.Std)
			}
		})
	}
	// The fine labels are not all below 20, or the test could not tell
	// fine from coarse.
	if l := labelColumn(train, 1); l[8] < 20 {
		t.Fatalf("test pattern too weak: fine labels %v", l)
	}
}

func TestCIFARErrors(t *testing.T) {
	good10 := cifarRecords(0, cifarLabels(7, 10))
	good100 := cifarRecords(0, cifarLabels(7, 20, 100))
	badLabel10 := cifarLabels(7, 10)
	badLabel10[3][0] = 10
	badFine := cifarLabels(7, 20, 100)
	badFine[5][1] = 100
	badCoarse := cifarLabels(7, 20, 100)
	badCoarse[2][0] = 20
	for _, tc := range []struct {
		name    string
		cifar10 bool
		file    string // the file to write as content ("" for none)
		content []byte
		err     string // what the error says besides naming file
	}{
		{"truncated", true, "test_batch.bin", cifarRecords(0, cifarLabels(10, 10))[:30729],
			"truncated: 30729 bytes is not a whole number of 3073-byte records"},
		{"truncated 100", false, "test.bin", good100[:len(good100)-1],
			"is not a whole number of 3074-byte records"},
		{"empty", true, "test_batch.bin", []byte{}, "empty file"},
		{"label out of range", true, "test_batch.bin", cifarRecords(0, badLabel10), "record 3: label 10 is outside 0..9"},
		{"fine label out of range", false, "test.bin", cifarRecords(0, badFine), "record 5: fine label 100 is outside 0..99"},
		{"coarse label out of range", false, "test.bin", cifarRecords(0, badCoarse), "record 2: coarse label 20 is outside 0..19"},
		{"CIFAR-10 missing", true, "", nil, `test_batch.bin not found`},
		{"CIFAR-100 missing", false, "", nil, `test.bin not found`},
		{"CIFAR-10 file given CIFAR-100", false, "test.bin", good10, "is not a whole number of 3074-byte records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if tc.file != "" {
				os.WriteFile(path, tc.content, 0o644)
			}
			var err error
			if tc.cifar10 {
				_, err = LoadCIFAR10(dir, false)
			} else {
				_, err = LoadCIFAR100(dir, false, false)
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one saying %q", err, tc.err)
			}
			if tc.file != "" && !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want it to name %s", err, path)
			}
			if tc.file == "" && !strings.Contains(err.Error(), `"binary version"`) {
				t.Errorf("err = %v, want it to say where to get the data", err)
			}
		})
	}
}

func TestCIFAR10MissingBatch(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, [5]int{1, 1, 1, 1, 1})
	os.Remove(filepath.Join(dir, "data_batch_3.bin"))
	_, err := LoadCIFAR10(dir, true)
	if err == nil || !strings.Contains(err.Error(), "data_batch_3.bin not found in "+dir) || !strings.Contains(err.Error(), "cifar.html") {
		t.Fatalf("err = %v, want it to name data_batch_3.bin and the CIFAR page", err)
	}
	// The test set is still there.
	if im, err := LoadCIFAR10(dir, false); err != nil || im.N != 7 {
		t.Fatalf("test set: %v", err)
	}
}
