package data_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/autodropout/autodropout/data"
)

// A CIFAR-10 test batch of two records, each a label byte and the red,
// green and blue 32×32 planes, loads as a 2×3×32×32 dataset.
func ExampleLoadCIFAR10() {
	dir, _ := os.MkdirTemp("", "cifar")
	defer os.RemoveAll(dir)
	folder := filepath.Join(dir, data.CIFAR10Folder)
	os.Mkdir(folder, 0o755)
	var batch []byte
	for label, green := range []byte{7, 200} {
		batch = append(batch, byte(label+3))
		for c := 0; c < 3; c++ {
			for i := 0; i < 32*32; i++ {
				batch = append(batch, []byte{0, green, 0}[c])
			}
		}
	}
	os.WriteFile(filepath.Join(folder, "test_batch.bin"), batch, 0o644)

	im, err := data.LoadCIFAR10(dir, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d×%d×%d×%d, labels %v\n", im.Name, im.N, im.C, im.H, im.W, im.Labels)
	fmt.Println("green plane of image 1 starts with", im.Pixels[3*32*32+32*32])

	// A record cut short is an error naming the file.
	os.WriteFile(filepath.Join(folder, "test_batch.bin"), batch[:len(batch)-1], 0o644)
	_, err = data.LoadCIFAR10(folder, false)
	fmt.Println(err != nil)
	// Output:
	// cifar10/test: 2×3×32×32, labels [3 4]
	// green plane of image 1 starts with 200
	// true
}
