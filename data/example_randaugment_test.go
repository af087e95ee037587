package data_test

import (
	"fmt"
	"math/rand"

	"github.com/autodropout/autodropout/data"
)

// RandAugment with torchvision's defaults (2 ops at magnitude 9 of 31)
// transforms one 8-bit C×H×W image in place, drawing from a seeded
// generator; a Loader applies it to every training image through
// Augment.RandAugment.
func ExampleRandAugment() {
	img := data.Image8{C: 3, H: 32, W: 32, Pix: make([]uint8, 3*32*32)}
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 251)
	}
	ra := data.RandAugment{}
	fmt.Println(ra)
	for _, s := range ra.Draw(img.H, img.W, rand.New(rand.NewSource(1))) {
		fmt.Printf("%v %.4f\n", s.Op, s.Magnitude)
	}
	if err := ra.Apply(img, rand.New(rand.NewSource(1))); err != nil {
		fmt.Println(err)
	}
	fmt.Println("rotation magnitudes, bins 0..3:", ra.Magnitudes(data.RARotate, 32, 32)[:4])

	// For a loader: data.LoaderConfig{..., Augment: data.Augment{CropPad: 4, Flip: true,
	// RandAugment: &data.RandAugment{Ops: 2, Magnitude: 9}}}

	// Output:
	// randaugment(ops=2 magnitude=9 bins=31 fill=[])
	// Equalize 0.0000
	// Sharpness -0.2700
	// rotation magnitudes, bins 0..3: [0 1 2 3]
}
