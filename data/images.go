package data

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
)

// Images is an in-memory image classification dataset of 8-bit pixels in
// N×C×H×W order.
type Images struct {
	Name       string
	N, C, H, W int
	Pixels     []uint8
	Labels     []int64
	Classes    int
	Mean, Std  []float32 // per-channel normalization, on the 0..1 scale
	// ClassNames names the classes by label (len Classes) where the
	// dataset says; nil when it does not.
	ClassNames []string
}

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the data.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Fashion-MNIST's per-channel statistics over its training set.
var fashionMean, fashionStd = []float32{0.2860}, []float32{0.3530}

// LoadMNIST reads an MNIST-format split ("train" or "t10k") from dir: the
// files <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, gzipped or
// not. It serves Fashion-MNIST and MNIST alike.
func LoadMNIST(dir, split string) (*Images, error) {
	if split != "train" && split != "t10k" {
		return nil, fmt.Errorf("MNIST split %q: want train or t10k", split)
	}
	imgPath, err := findFile(dir, split+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := findFile(dir, split+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	img, err := ReadIDX(imgPath)
	if err != nil {
		return nil, err
	}
	lbl, err := ReadIDX(lblPath)
	if err != nil {
		return nil, err
	}
	if len(img.Shape) != 3 {
		return nil, fmt.Errorf("%s: shape %v, want N×H×W images", imgPath, img.Shape)
	}
	if len(lbl.Shape) != 1 || lbl.Shape[0] != img.Shape[0] {
		return nil, fmt.Errorf("%s: shape %v does not match %d images in %s", lblPath, lbl.Shape, img.Shape[0], imgPath)
	}
	labels := make([]int64, len(lbl.Data))
	for i, l := range lbl.Data {
		if l > 9 {
			return nil, fmt.Errorf("%s: label %d of example %d is outside 0..9", lblPath, l, i)
		}
		labels[i] = int64(l)
	}
	return &Images{
		Name: filepath.Base(dir) + "/" + split,
		N:    img.Shape[0], C: 1, H: img.Shape[1], W: img.Shape[2],
		Pixels: img.Data, Labels: labels, Classes: 10,
		Mean: fashionMean, Std: fashionStd,
	}, nil
}

// findFile returns dir/name or dir/name.gz, whichever exists.
func findFile(dir, name string) (string, error) {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+".gz")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: neither %s nor %s.gz found (for Fashion-MNIST: apt-get install dataset-fashion-mnist)", dir, name, name)
}

// Subset returns the examples at idx, in that order (pixels are copied).
func (im *Images) Subset(idx []int) *Images {
	sz := im.C * im.H * im.W
	out := *im
	out.N = len(idx)
	out.Pixels = make([]uint8, len(idx)*sz)
	out.Labels = make([]int64, len(idx))
	for j, i := range idx {
		copy(out.Pixels[j*sz:(j+1)*sz], im.Pixels[i*sz:(i+1)*sz])
		out.Labels[j] = im.Labels[i]
	}
	return &out
}

// Split shuffles 0..n-1 with seed and holds out round(valFrac*n) indices
// for validation; the same seed always gives the same split.
func Split(n int, valFrac float64, seed int64) (train, val []int, err error) {
	if valFrac < 0 || valFrac >= 1 {
		return nil, nil, fmt.Errorf("validation fraction %g: want 0 <= f < 1", valFrac)
	}
	perm := rand.New(rand.NewSource(seed)).Perm(n)
	nv := int(valFrac*float64(n) + 0.5)
	return perm[nv:], perm[:nv], nil
}
