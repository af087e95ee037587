package data

import (
	"fmt"
	"io"
	"path/filepath"
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
// (empty dir: the Debian location for Fashion-MNIST). For "imagenet", dir
// holds train/ and val/ folders of class folders.
func Open(name, dir string, opts OpenOptions) (train, test *Images, err error) {
	switch strings.ToLower(name) {
	case "fashion-mnist", "mnist":
		if dir == "" {
			if name != "fashion-mnist" {
				return nil, nil, fmt.Errorf("dataset %s: give its folder (--data-dir)", name)
			}
			dir = FashionMNISTDir
		}
		if train, err = LoadMNIST(dir, "train"); err != nil {
			return nil, nil, err
		}
		if test, err = LoadMNIST(dir, "t10k"); err != nil {
			return nil, nil, err
		}
		if name == "mnist" { // MNIST's own statistics
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
	default:
		return nil, nil, fmt.Errorf("unknown dataset %q: want one of %s", name, strings.Join(Datasets, ", "))
	}
	return train, test, err
}
