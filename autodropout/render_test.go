package autodropout

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
)

func TestRenderMasks(t *testing.T) {
	// The 8×8 masks of the package example: rows and columns 2 and 5 of
	// the base kept, the rest dropped in 2×2 tiles, cyclically shifted.
	seed(t, 5)
	p := Pattern{Size: 2, Stride: 1, Repeat: 3}
	m, err := p.Mask(2, 3, 8, 8, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.MustDrop()
	_, v := read(t, m.MustShallowClone())
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
			for y := 0; y < 8; y++ {
				for x := 0; x < 8; x++ {
					want := uint8(255 * v[((s*3+c)*8+y)*8+x])
					px, py := x0+x*cell+cell/2, y0+y*cell+cell/2
					if got := gray(px, py); got != want {
						t.Errorf("map (%d,%d) cell (%d,%d): grey %d, want %d", s, c, y, x, got, want)
					}
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

// DrawSiteMasks: the same seed draws the same pictures, each site's
// dropped share is what its pattern drops of every mask, and the picture
// has one row per sample and one column per channel.
func TestDrawSiteMasks(t *testing.T) {
	ps := []SitePattern{
		{Site: "a", Pattern: Pattern{Size: 2, Stride: 1, Repeat: 3}},
		{Site: "b", Pattern: Pattern{Size: 3, Stride: 2, Repeat: 2, Rotate: 30}},
	}
	pic := MaskPicture{Samples: 2, Channels: 3, Height: 8, Width: 8, Seed: 4, Cell: 2}
	first, err := DrawSiteMasks(ps, pic)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DrawSiteMasks(ps, pic)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range first {
		if d.Site != ps[i].Site || d.Pattern != ps[i].Pattern {
			t.Errorf("site %d: %s %v, want %s %v", i, d.Site, d.Pattern, ps[i].Site, ps[i].Pattern)
		}
		kept, err := d.Pattern.KeptFraction(8, 8)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(d.Dropped-(1-kept)) > 1e-9 {
			t.Errorf("site %s drops %v, want 1 - kept fraction = %v", d.Site, d.Dropped, 1-kept)
		}
		if w, h := 3*(8*2+2)+2, 2*(8*2+2)+2; d.Image.Bounds().Dx() != w || d.Image.Bounds().Dy() != h {
			t.Errorf("site %s: picture %v, want %d×%d", d.Site, d.Image.Bounds(), w, h)
		}
		if !bytes.Equal(d.Image.Pix, again[i].Image.Pix) {
			t.Errorf("site %s: the same seed drew another picture", d.Site)
		}
	}
	if _, err := DrawSiteMasks(ps, MaskPicture{Samples: 1, Channels: 0, Height: 8, Width: 8}); err == nil {
		t.Error("no channels: no error")
	}
}
