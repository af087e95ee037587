package autodropout

import (
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
)

func TestRenderMasks(t *testing.T) {
	// The deterministic 8×8 mask of the package example: rows and columns
	// 2 and 5 kept, the rest dropped in 2×2 tiles.
	p := Pattern{Size: 2, Stride: 1, Repeat: 3}
	m, err := p.Mask(2, 3, 8, 8, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.MustDrop()
	path := filepath.Join(t.TempDir(), "masks.png")
	if err := RenderMasks(m, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 48/8 = 6 pixels a cell, maps 48 pixels across, 2-pixel gaps: 3
	// columns and 2 rows of maps.
	const cell, mapPx = 6, 48
	b := img.Bounds()
	if b.Dx() != 3*(mapPx+renderGap)+renderGap || b.Dy() != 2*(mapPx+renderGap)+renderGap {
		t.Fatalf("image %v, want 3×2 maps of %d pixels with %d-pixel gaps", b, mapPx, renderGap)
	}
	gray := func(x, y int) uint8 { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y }
	for s := 0; s < 2; s++ {
		for c := 0; c < 3; c++ {
			x0, y0 := renderGap+c*(mapPx+renderGap), renderGap+s*(mapPx+renderGap)
			for _, tc := range []struct {
				y, x int
				want uint8
			}{{0, 0, 0}, {0, 2, 255}, {2, 0, 255}, {7, 7, 0}, {5, 5, 255}, {4, 3, 0}} {
				px, py := x0+tc.x*cell+cell/2, y0+tc.y*cell+cell/2
				if got := gray(px, py); got != tc.want {
					t.Errorf("map (%d,%d) cell (%d,%d): grey %d, want %d", s, c, tc.y, tc.x, got, tc.want)
				}
			}
		}
	}
	if gray(0, 0) != gapColour.Y {
		t.Errorf("corner grey %d, want the gap colour %d", gray(0, 0), gapColour.Y)
	}
}

func TestMasksImageShapes(t *testing.T) {
	seed(t, 30)
	d := &DropBlock{P: 0.2, BlockSize: 3}
	m, err := d.Mask(20, 30, 5, 7, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.MustDrop()
	img, err := MasksImage(m, RenderOptions{Cell: 1, MaxSamples: 4, MaxChannels: 5})
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 5*(7+renderGap)+renderGap || b.Dy() != 4*(5+renderGap)+renderGap {
		t.Errorf("capped grid: image %v, want 5 columns and 4 rows of 5×7 maps", b)
	}
	// A shared mask (N×1×H×W) and a single plane (H×W) draw too.
	shared, err := Pattern{Size: 2, Stride: 1, Repeat: 2, ShareC: true}.Mask(3, 4, 6, 6, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.MustDrop()
	if img, err := MasksImage(shared, RenderOptions{Cell: 2}); err != nil || img.Bounds().Dx() != 12+2*renderGap || img.Bounds().Dy() != 3*(12+renderGap)+renderGap {
		t.Errorf("shared mask: %v, %v", img.Bounds(), err)
	}
	plane := ones(t, 4, 9)
	defer plane.MustDrop()
	if img, err := MasksImage(plane, RenderOptions{Cell: 1}); err != nil || img.Bounds().Dx() != 9+2*renderGap {
		t.Errorf("2-D mask: %v", err)
	}
	five := ones(t, 1, 1, 1, 2, 2)
	defer five.MustDrop()
	if _, err := MasksImage(five, RenderOptions{}); err == nil {
		t.Error("a 5-D tensor rendered without error")
	}
}
