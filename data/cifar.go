package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The folders that the binary versions of CIFAR-10 and CIFAR-100 unpack to.
const (
	CIFAR10Folder  = "cifar-10-batches-bin"
	CIFAR100Folder = "cifar-100-binary"
)

// cifarURL is where the datasets are published.
const cifarURL = "https://www.cs.toronto.edu/~kriz/cifar.html"

// Per-channel statistics of the CIFAR training sets (RGB, 0..1 scale), as
// commonly used for normalization.
var (
	cifar10Mean  = []float32{0.4914, 0.4822, 0.4465}
	cifar10Std   = []float32{0.2470, 0.2435, 0.2616}
	cifar100Mean = []float32{0.5071, 0.4865, 0.4409}
	cifar100Std  = []float32{0.2673, 0.2564, 0.2762}
)

// cifarPixels is the size of one CIFAR image: 3 planes (R, G, B) of 32×32
// bytes, each row-major, which is already the C×H×W order of Images.
const cifarPixels = 3 * 32 * 32

// cifarFormat describes one of the two record layouts.
type cifarFormat struct {
	name       string   // "CIFAR-10" or "CIFAR-100"
	folder     string   // the folder the archive unpacks to
	labelBytes int      // label bytes before the pixels of a record
	labelNames []string // what each label byte is called in errors
	use        int      // which label byte becomes the label
	classes    []int    // number of classes of each label byte
}

var (
	cifar10Format  = cifarFormat{name: "CIFAR-10", folder: CIFAR10Folder, labelBytes: 1, labelNames: []string{"label"}, classes: []int{10}}
	cifar100Format = cifarFormat{name: "CIFAR-100", folder: CIFAR100Folder, labelBytes: 2, labelNames: []string{"coarse label", "fine label"}, use: 1, classes: []int{20, 100}}
)

// LoadCIFAR10 reads the training set (data_batch_1.bin … data_batch_5.bin,
// 50,000 images) or the test set (test_batch.bin, 10,000 images) of the
// binary version of CIFAR-10. dir is the cifar-10-batches-bin folder or the
// folder that holds it. Each record of a file is one label byte (0..9) and
// 3072 pixel bytes: the 32×32 red plane, then green, then blue, rows top to
// bottom. Class names come from batches.meta.txt when it is there.
//
// Mean and Std are CIFAR-10's usual statistics, (0.4914, 0.4822, 0.4465)
// and (0.2470, 0.2435, 0.2616).
func LoadCIFAR10(dir string, train bool) (*Images, error) {
	files := []string{"test_batch.bin"}
	if train {
		files = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	}
	dir = cifarDir(dir, cifar10Format.folder, files[0])
	im, err := loadCIFAR(dir, files, cifar10Format)
	if err != nil {
		return nil, err
	}
	im.Name = "cifar10/" + splitName(train)
	im.Mean, im.Std = cifar10Mean, cifar10Std
	im.ClassNames = readNames(filepath.Join(dir, "batches.meta.txt"), 10)
	return im, nil
}

// LoadCIFAR100 reads the training set (train.bin, 50,000 images) or the
// test set (test.bin, 10,000 images) of the binary version of CIFAR-100.
// dir is the cifar-100-binary folder or the folder that holds it. Each
// record is a coarse label byte (0..19), a fine label byte (0..99) and
// 3072 pixel bytes laid out as in CIFAR-10. The labels are the 100 fine
// classes, or the 20 coarse superclasses when coarse is set. Class names
// come from fine_label_names.txt or coarse_label_names.txt when present.
//
// Mean and Std are CIFAR-100's usual statistics, (0.5071, 0.4865, 0.4409)
// and (0.2673, 0.2564, 0.2762).
func LoadCIFAR100(dir string, train, coarse bool) (*Images, error) {
	files := []string{"test.bin"}
	if train {
		files = []string{"train.bin"}
	}
	dir = cifarDir(dir, cifar100Format.folder, files[0])
	format, kind := cifar100Format, "fine"
	if coarse {
		format.use, kind = 0, "coarse"
	}
	im, err := loadCIFAR(dir, files, format)
	if err != nil {
		return nil, err
	}
	im.Name = "cifar100-" + kind + "/" + splitName(train)
	im.Mean, im.Std = cifar100Mean, cifar100Std
	im.ClassNames = readNames(filepath.Join(dir, kind+"_label_names.txt"), im.Classes)
	return im, nil
}

func splitName(train bool) string {
	if train {
		return "train"
	}
	return "test"
}

// cifarDir returns dir/folder when dir lacks probe but dir/folder has it,
// so that callers may name either the data folder or its parent.
func cifarDir(dir, folder, probe string) string {
	if _, err := os.Stat(filepath.Join(dir, probe)); err == nil {
		return dir
	}
	if _, err := os.Stat(filepath.Join(dir, folder, probe)); err == nil {
		return filepath.Join(dir, folder)
	}
	return dir
}

// loadCIFAR reads and concatenates the record files of one split.
func loadCIFAR(dir string, files []string, f cifarFormat) (*Images, error) {
	rec := f.labelBytes + cifarPixels
	n := 0
	paths := make([]string, len(files))
	for i, name := range files {
		paths[i] = filepath.Join(dir, name)
		st, err := os.Stat(paths[i])
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				where := dir
				if filepath.Base(dir) != f.folder {
					where += " or " + filepath.Join(dir, f.folder)
				}
				return nil, fmt.Errorf("load %s: %s not found in %s (download the \"binary version\" from %s and unpack it)", f.name, name, where, cifarURL)
			}
			return nil, fmt.Errorf("load %s: %w", f.name, err)
		}
		if err := checkCIFARSize(st.Size(), rec); err != nil {
			return nil, fmt.Errorf("load %s %s: %w", f.name, paths[i], err)
		}
		n += int(st.Size()) / rec
	}
	im := &Images{
		N: n, C: 3, H: 32, W: 32,
		Pixels:  make([]uint8, n*cifarPixels),
		Labels:  make([]int64, n),
		Classes: f.classes[f.use],
	}
	at := 0
	for _, p := range paths {
		k, err := readCIFARFile(p, f, im.Pixels[at*cifarPixels:], im.Labels[at:])
		if err != nil {
			return nil, fmt.Errorf("load %s %s: %w", f.name, p, err)
		}
		at += k
	}
	if at != n {
		return nil, fmt.Errorf("load %s: files in %s changed while being read", f.name, dir)
	}
	return im, nil
}

func checkCIFARSize(size int64, rec int) error {
	switch {
	case size == 0:
		return fmt.Errorf("empty file")
	case size%int64(rec) != 0:
		return fmt.Errorf("truncated: %d bytes is not a whole number of %d-byte records", size, rec)
	}
	return nil
}

// readCIFARFile decodes the records of one file into pixels and labels and
// returns how many it read.
func readCIFARFile(path string, f cifarFormat, pixels []uint8, labels []int64) (int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	rec := f.labelBytes + cifarPixels
	if err := checkCIFARSize(st.Size(), rec); err != nil {
		return 0, err
	}
	n := int(st.Size()) / rec
	if n > len(labels) {
		return 0, fmt.Errorf("grew to %d records while being read", n)
	}
	r := bufio.NewReaderSize(fh, 1<<20)
	lab := make([]byte, f.labelBytes)
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, lab); err != nil {
			return i, fmt.Errorf("record %d: %w", i, unexpected(err))
		}
		for j, l := range lab {
			if int(l) >= f.classes[j] {
				return i, fmt.Errorf("record %d: %s %d is outside 0..%d", i, f.labelNames[j], l, f.classes[j]-1)
			}
		}
		labels[i] = int64(lab[f.use])
		if _, err := io.ReadFull(r, pixels[i*cifarPixels:(i+1)*cifarPixels]); err != nil {
			return i, fmt.Errorf("record %d: %w", i, unexpected(err))
		}
	}
	return n, nil
}

// readNames reads a file of class names, one a line (blank lines ignored),
// and returns them if there are exactly want of them; otherwise nil.
func readNames(path string, want int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			names = append(names, line)
		}
	}
	if len(names) != want {
		return nil
	}
	return names
}
