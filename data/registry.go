package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Datasets lists the names Open accepts.
var Datasets = []string{"fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet"}

// OpenOptions tune Open for the datasets that need it.
type OpenOptions struct {
	ImageSize int       // imagenet: crop side (default 224)
	PerClass  int       // imagenet: images per class from train/ (0: all)
	Seed      int64     // imagenet: which images PerClass picks
	Progress  io.Writer // imagenet: loading progress
}

// Open loads the training and test splits of a named dataset from dir
// (empty dir: the Debian location for Fashion-MNIST, the working
// directory for the others, and an error that asks for --data-dir when
// their files are not there). For "imagenet", dir
// holds train/ and val/ folders of class folders.
func Open(name, dir string, opts OpenOptions) (train, test *Images, err error) {
	key := strings.ToLower(name)
	given := dir
	if dir, err = DatasetDir(name, dir); err != nil {
		return nil, nil, err
	}
	switch key {
	case "fashion-mnist", "mnist":
		if train, err = LoadMNIST(dir, "train"); err != nil {
			return nil, nil, err
		}
		if test, err = LoadMNIST(dir, "t10k"); err != nil {
			return nil, nil, err
		}
		if key == "mnist" { // MNIST's own statistics
			for _, im := range []*Images{train, test} {
				im.Mean, im.Std = []float32{0.1307}, []float32{0.3081}
			}
		}
	case "cifar10":
		if train, err = LoadCIFAR10(dir, true); err == nil {
			test, err = LoadCIFAR10(dir, false)
		}
	case "cifar100":
		if train, err = LoadCIFAR100(dir, true, false); err == nil {
			test, err = LoadCIFAR100(dir, false, false)
		}
	case "imagenet":
		size := opts.ImageSize
		if size == 0 {
			size = 224
		}
		fo := FolderOptions{PerClass: opts.PerClass, Seed: opts.Seed, Progress: opts.Progress}
		if train, err = LoadImageFolder(filepath.Join(dir, "train"), size, fo); err == nil {
			fo.PerClass, fo.Classes = 0, train.ClassNames // the same labels as train
			test, err = LoadImageFolder(filepath.Join(dir, "val"), size, fo)
		}
		switch {
		case err != nil && given == "":
			err = fmt.Errorf("dataset imagenet: %w (no --data-dir, so the working directory was read: pass --data-dir ROOT, the folder that holds train/ and val/, each of <class>/<image>.jpg)", err)
		case err != nil:
			err = fmt.Errorf("dataset imagenet: %w (--data-dir %s must hold train/ and val/, each of <class>/<image>.jpg)", err, dir)
		}
	default:
		return nil, nil, fmt.Errorf("unknown dataset %q: want one of %s", name, strings.Join(Datasets, ", "))
	}
	return train, test, err
}

// DatasetDir is the folder Open reads a named dataset from when dir is
// empty: Fashion-MNIST's Debian location, or the working directory (".")
// when the dataset's first file is there; otherwise an error that asks for
// --data-dir. A non-empty dir is returned as it is.
func DatasetDir(name, dir string) (string, error) {
	key := strings.ToLower(name)
	switch {
	case dir != "" || !slices.Contains(Datasets, key):
		return dir, nil
	case key == "fashion-mnist":
		return FashionMNISTDir, nil
	case !inWorkingDir(key):
		return "", noDir(key)
	}
	return ".", nil
}

// inWorkingDir reports whether the working directory, which an empty dir
// names, holds the dataset's first file.
func inWorkingDir(key string) bool {
	var files []string
	switch key {
	case "imagenet": // both, as a source tree may have a train/ folder
		return isDir("train") && isDir("val")
	case "mnist":
		files = []string{"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"}
	case "cifar10":
		files = []string{"data_batch_1.bin", filepath.Join(CIFAR10Folder, "data_batch_1.bin")}
	case "cifar100":
		files = []string{"train.bin", filepath.Join(CIFAR100Folder, "train.bin")}
	}
	for _, p := range files {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// noDir is the error for a dataset that has no default folder and whose
// files are not in the working directory either.
func noDir(name string) error {
	what := map[string]string{
		"mnist":    "the folder of train-images-idx3-ubyte and the other IDX files",
		"cifar10":  `the folder of data_batch_1.bin … test_batch.bin (the "binary version" from ` + cifarURL + `)`,
		"cifar100": `the folder of train.bin and test.bin (the "binary version" from ` + cifarURL + `)`,
		"imagenet": "the folder that holds train/ and val/, each of <class>/<image>.jpg",
	}[name]
	return fmt.Errorf("dataset %s has no default folder and is not in the working directory: pass --data-dir DIR, %s", name, what)
}
