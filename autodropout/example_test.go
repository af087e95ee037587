package autodropout_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
)

// printMask prints a pattern's base mask as rows of 0 (dropped) and 1
// (kept). Masks drawn in training are cyclic shifts of it.
func printMask(p autodropout.Pattern, h, w int64) {
	v, err := p.BaseMask(h, w)
	if err != nil {
		log.Fatal(err)
	}
	for y := int64(0); y < h; y++ {
		row := make([]string, w)
		for x := range row {
			row[x] = fmt.Sprint(v[y*w+int64(x)])
		}
		fmt.Println(strings.Join(row, " "))
	}
}

// A 2×2 tile repeated 3 times along each axis with 1 kept cell between
// tiles spans 3·2+2·1 = 8 cells: exactly an 8×8 map. The base mask is
// the picture centred on the map; each drawn mask shifts it cyclically.
func ExamplePattern_Mask() {
	printMask(autodropout.Pattern{Size: 2, Stride: 1, Repeat: 3}, 8, 8)
	// Output:
	// 0 0 1 0 0 1 0 0
	// 0 0 1 0 0 1 0 0
	// 1 1 1 1 1 1 1 1
	// 0 0 1 0 0 1 0 0
	// 0 0 1 0 0 1 0 0
	// 1 1 1 1 1 1 1 1
	// 0 0 1 0 0 1 0 0
	// 0 0 1 0 0 1 0 0
}

// The same tiling turned by 45° about the map's centre, sampled at the
// nearest cell.
func ExamplePattern_Mask_rotated() {
	printMask(autodropout.Pattern{Size: 2, Stride: 1, Repeat: 3, Rotate: 45}, 8, 8)
	// Output:
	// 1 1 1 0 0 1 1 1
	// 1 0 0 1 1 0 0 1
	// 1 0 0 1 1 0 0 1
	// 0 1 1 0 0 1 1 0
	// 0 1 1 0 0 1 1 0
	// 1 0 0 1 1 0 0 1
	// 1 0 0 1 1 0 0 1
	// 1 1 1 0 0 1 1 1
}

// A search space file may add the off token, which leaves a site
// unregularized; the default space keeps the paper's eight tokens. A
// journal's proposal is a pattern file, which ParsePatterns reads.
func ExampleSearchSpace_Tokens_off() {
	space := autodropout.DefaultSearchSpace()
	space.Off = []bool{false, true}
	toks := space.Tokens()
	fmt.Println(len(autodropout.DefaultSearchSpace().Tokens()), len(toks), toks[len(toks)-1].Name)

	ps, err := autodropout.ParsePatterns([]byte(`{"patterns": [
		{"site": "bn1", "pattern": {"size": 3, "stride": 1, "repeat": 2, "rotate": 0, "shear_x": 0, "shear_y": 0, "share_c": false, "residual": false}},
		{"site": "bn2", "pattern": {"size": 3, "stride": 1, "repeat": 2, "rotate": 0, "shear_x": 0, "shear_y": 0, "share_c": false, "residual": false, "off": true}}]}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, sp := range ps {
		kept, _ := sp.Pattern.KeptFraction(8, 8)
		fmt.Printf("%s drops %.0f%% of an 8×8 map\n", sp.Site, 100*(1-kept))
	}
	// Output:
	// 8 9 off
	// bn1 drops 56% of an 8×8 map
	// bn2 drops 0% of an 8×8 map
}
