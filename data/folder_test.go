package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeImage encodes img as PNG or JPEG (by path's extension) at path,
// making the folders it needs.
func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		err = png.Encode(&buf, img)
	default:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	}
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// paint returns a w×h RGBA image coloured by f.
func paint(w, h int, f func(x, y int) color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, f(x, y))
		}
	}
	return m
}

func uniform(w, h int, c color.RGBA) *image.RGBA {
	return paint(w, h, func(int, int) color.RGBA { return c })
}

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

// pixel returns image i's RGB at (y, x).
func pixel(im *Images, i, y, x int) [3]int {
	var p [3]int
	for c := range p {
		p[c] = int(im.Pixels[((i*im.C+c)*im.H+y)*im.W+x])
	}
	return p
}

func near(p [3]int, c color.RGBA, tol int) bool {
	for k, v := range []uint8{c.R, c.G, c.B} {
		if d := p[k] - int(v); d > tol || d < -tol {
			return false
		}
	}
	return true
}

// TestLoadImageFolder loads a folder of mixed JPEG and PNG images of
// different sizes and checks shape, labels, colours and class names.
func TestLoadImageFolder(t *testing.T) {
	root := t.TempDir()
	orange := color.RGBA{200, 120, 30, 255}
	writeImage(t, filepath.Join(root, "dog", "a.JPEG"), uniform(48, 32, orange))
	writeImage(t, filepath.Join(root, "dog", "b.png"), uniform(7, 9, blue))
	gray := image.NewGray(image.Rect(0, 0, 20, 30))
	for i := range gray.Pix {
		gray.Pix[i] = 77
	}
	writeImage(t, filepath.Join(root, "cat", "gray.png"), gray)
	writeImage(t, filepath.Join(root, "cat", "sub", "deep.jpg"), uniform(100, 60, green))
	writeImage(t, filepath.Join(root, "bird", "x.png"), uniform(16, 16, red))
	// Ignored: other files, dot files and dot folders, files in root.
	os.WriteFile(filepath.Join(root, "bird", "notes.txt"), []byte("not an image"), 0o644)
	writeImage(t, filepath.Join(root, "bird", ".hidden.png"), uniform(16, 16, blue))
	writeImage(t, filepath.Join(root, ".cache", "y.png"), uniform(16, 16, blue))
	writeImage(t, filepath.Join(root, "stray.png"), uniform(16, 16, blue))

	var progress bytes.Buffer
	im, err := LoadImageFolder(root, 12, FolderOptions{Workers: 2, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 5 || im.C != 3 || im.H != 12 || im.W != 12 || len(im.Pixels) != 5*3*12*12 || im.Classes != 3 {
		t.Fatalf("N×C×H×W = %d×%d×%d×%d, %d bytes, %d classes; want 5×3×12×12 and 3", im.N, im.C, im.H, im.W, len(im.Pixels), im.Classes)
	}
	if want := []string{"bird", "cat", "dog"}; !reflect.DeepEqual(im.ClassNames, want) {
		t.Errorf("classes %q, want %q", im.ClassNames, want)
	}
	// Order: classes sorted, files in lexical order of their paths.
	wantLabels := []int64{0, 1, 1, 2, 2}
	wantColour := []color.RGBA{red, {77, 77, 77, 255}, green, orange, blue}
	tol := []int{0, 0, 3, 6, 0} // JPEG is lossy
	if !reflect.DeepEqual(im.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", im.Labels, wantLabels)
	}
	for i := range wantColour {
		for _, yx := range [][2]int{{0, 0}, {5, 7}, {11, 11}} {
			if p := pixel(im, i, yx[0], yx[1]); !near(p, wantColour[i], tol[i]) {
				t.Errorf("image %d at %v = %v, want %v", i, yx, p, wantColour[i])
			}
		}
	}
	if im.Mean[0] != 0.485 || im.Std[2] != 0.225 {
		t.Errorf("mean %v std %v, want ImageNet's", im.Mean, im.Std)
	}
	if !strings.Contains(progress.String(), "loaded 5 images") {
		t.Errorf("progress %q", progress.String())
	}
	if _, err := NewLoader(im, LoaderConfig{BatchSize: 2}); err != nil {
		t.Error(err)
	}
}

// TestImageFolderGeometry checks the resize and centre crop: a picture
// keeps its layout, and what lies outside the centre square is cut.
func TestImageFolderGeometry(t *testing.T) {
	root := t.TempDir()
	// Tall 32×64, left half red, right half green: shrinks to 16×32, whose
	// centre rows stay left-half red.
	writeImage(t, filepath.Join(root, "a", "0tall.png"), paint(32, 64, func(x, y int) color.RGBA {
		if x < 16 {
			return red
		}
		return green
	}))
	// Wide 80×40: blue within 16 pixels of the left and right edges, red
	// then green in the middle. Shrinks to 32×16; the centre 16 columns
	// come from orig columns 19..60, so the blue is cut and left half red,
	// right half green remains.
	writeImage(t, filepath.Join(root, "a", "1wide.png"), paint(80, 40, func(x, y int) color.RGBA {
		switch {
		case x < 16 || x >= 64:
			return blue
		case x < 40:
			return red
		}
		return green
	}))
	// Small 8×4, enlarged to 32×16, then cropped: left half red.
	writeImage(t, filepath.Join(root, "a", "2small.png"), paint(8, 4, func(x, y int) color.RGBA {
		if x < 4 {
			return red
		}
		return green
	}))
	// Top half red, bottom half green, 40×40 with Resize 20 and crop 16.
	writeImage(t, filepath.Join(root, "a", "3top.png"), paint(40, 40, func(x, y int) color.RGBA {
		if y < 20 {
			return red
		}
		return green
	}))
	for _, tc := range []struct {
		name   string
		resize int
		image  int
		// at (y, x) the colour is exact
		exact map[[2]int]color.RGBA
	}{
		{"tall", 0, 0, map[[2]int]color.RGBA{{0, 0}: red, {15, 6}: red, {8, 9}: green, {15, 15}: green}},
		{"wide", 0, 1, map[[2]int]color.RGBA{{0, 0}: red, {15, 6}: red, {8, 9}: green, {15, 15}: green}},
		{"small", 0, 2, map[[2]int]color.RGBA{{0, 0}: red, {15, 5}: red, {8, 10}: green, {15, 15}: green}},
		{"top, resize 20", 20, 3, map[[2]int]color.RGBA{{0, 0}: red, {6, 15}: red, {9, 3}: green, {15, 15}: green}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := LoadImageFolder(root, 16, FolderOptions{Resize: tc.resize})
			if err != nil {
				t.Fatal(err)
			}
			for yx, c := range tc.exact {
				if p := pixel(im, tc.image, yx[0], yx[1]); !near(p, c, 0) {
					t.Errorf("at %v: %v, want %v", yx, p, c)
				}
			}
			// Nowhere blue; the boundary blends red and green.
			for y := 0; y < 16; y++ {
				for x := 0; x < 16; x++ {
					if p := pixel(im, tc.image, y, x); p[2] != 0 || p[0]+p[1] < 250 || p[0]+p[1] > 260 {
						t.Fatalf("at (%d,%d): %v is not a red-green mix", y, x, p)
					}
				}
			}
		})
	}
}

func TestResizeMatchesPillow(t *testing.T) {
	// A 6×4 ramp shrunk to 3 wide (scale 2): Pillow's BILINEAR gives each
	// output the weights 1/8, 3/8, 3/8, 1/8 over four inputs, clipped and
	// renormalized at the borders.
	w := newAxisFilter(0, 6, 0, 6, 3, 0, 3)
	want := [][]float32{{3. / 7, 3. / 7, 1. / 7}, {1. / 8, 3. / 8, 3. / 8, 1. / 8}, {1. / 7, 3. / 7, 3. / 7}}
	starts := []int{0, 1, 3}
	for j := range want {
		got := w.weights(j)
		if w.start[j] != starts[j] || len(got) != len(want[j]) {
			t.Fatalf("output %d reads %d from %d, want %d from %d", j, len(got), w.start[j], len(want[j]), starts[j])
		}
		for k := range got {
			if d := float32(got[k])/(1<<pillowPrecision) - want[j][k]; d > 1e-6 || d < -1e-6 {
				t.Errorf("output %d weight %d = %g, want %g", j, k, float32(got[k])/(1<<pillowPrecision), want[j][k])
			}
		}
	}
	// Resize as torchvision's Resize(s) (longer side rounded down), crop as
	// its CenterCrop (offset rounded half to even).
	for _, tc := range []struct{ w, h, resize, crop, rw, rh, top, left int }{
		{500, 375, 224, 224, 298, 224, 0, 37},
		{375, 500, 256, 224, 256, 341, 58, 16}, // 58.5 rounds to 58
		{375, 500, 256, 255, 256, 341, 43, 0},  // 0.5 rounds to 0
		{375, 500, 256, 253, 256, 341, 44, 2},  // 1.5 rounds to 2
		{224, 224, 224, 224, 224, 224, 0, 0},
		{10, 1000, 8, 8, 8, 800, 396, 0},
	} {
		rw, rh := resizedSize(tc.w, tc.h, tc.resize)
		top, left := centreOffset(rh, tc.crop), centreOffset(rw, tc.crop)
		if rw != tc.rw || rh != tc.rh || top != tc.top || left != tc.left {
			t.Errorf("%d×%d to %d, crop %d: %d×%d cropped at (%d,%d), want %d×%d at (%d,%d)",
				tc.w, tc.h, tc.resize, tc.crop, rw, rh, top, left, tc.rw, tc.rh, tc.top, tc.left)
		}
	}
}

func TestToRGB(t *testing.T) {
	r := image.Rect(0, 0, 2, 1)
	cmyk := image.NewCMYK(r)
	cmyk.SetCMYK(0, 0, color.CMYK{0, 255, 255, 0}) // red
	cmyk.SetCMYK(1, 0, color.CMYK{0, 0, 0, 128})   // gray
	gray16 := image.NewGray16(r)
	gray16.SetGray16(0, 0, color.Gray16{0x1234})
	gray16.SetGray16(1, 0, color.Gray16{0xffff})
	nrgba := image.NewNRGBA(r)
	nrgba.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 0}) // transparent: colour kept
	nrgba.SetNRGBA(1, 0, color.NRGBA{40, 50, 60, 255})
	pal := image.NewPaletted(r, color.Palette{red, blue})
	pal.SetColorIndex(1, 0, 1)
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio422) // one chroma sample for both
	ycc.Y[0], ycc.Y[1], ycc.Cb[0], ycc.Cr[0] = 50, 200, 128, 128
	sub := paint(4, 3, func(x, y int) color.RGBA { return color.RGBA{uint8(x), uint8(y), 9, 255} }).SubImage(image.Rect(1, 1, 3, 2))
	for _, tc := range []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"CMYK", cmyk, []uint8{255, 0, 0, 127, 127, 127}},
		{"Gray16", gray16, []uint8{0x12, 0x12, 0x12, 255, 255, 255}},
		{"NRGBA", nrgba, []uint8{10, 20, 30, 40, 50, 60}},
		{"Paletted", pal, []uint8{255, 0, 0, 0, 0, 255}},
		{"YCbCr 4:2:2", ycc, []uint8{50, 50, 50, 200, 200, 200}},
		{"sub-image", sub, []uint8{1, 1, 9, 2, 1, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, w, h := toRGB(tc.img, nil)
			if w != 2 || h != 1 || !bytes.Equal(got, tc.want) {
				t.Errorf("%d×%d %v, want 2×1 %v", w, h, got, tc.want)
			}
		})
	}
}

// TestImageFolderCorrupt checks that an undecodable image is an error
// naming it, or skipped and reported with OnCorrupt.
func TestImageFolderCorrupt(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 3; i++ {
		writeImage(t, filepath.Join(root, "a", fmt.Sprintf("%d.jpg", i)), uniform(10, 10, red))
		writeImage(t, filepath.Join(root, "b", fmt.Sprintf("%d.png", i)), uniform(10, 10, green))
	}
	good, _ := os.ReadFile(filepath.Join(root, "a", "0.jpg"))
	broken := filepath.Join(root, "a", "1.jpg")
	os.WriteFile(broken, good[:len(good)/2], 0o644)
	garbage := filepath.Join(root, "b", "2.png")
	os.WriteFile(garbage, []byte("this is not a PNG at all"), 0o644)

	for _, workers := range []int{1, 2} {
		_, err := LoadImageFolder(root, 8, FolderOptions{Workers: workers})
		if err == nil || !strings.Contains(err.Error(), broken) {
			t.Errorf("%d workers: err = %v, want it to name %s", workers, err, broken)
		}
	}
	var skipped []string
	var progress bytes.Buffer
	im, err := LoadImageFolder(root, 8, FolderOptions{
		Progress:  &progress,
		OnCorrupt: func(path string, err error) { skipped = append(skipped, path) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 || im.N != 4 || !reflect.DeepEqual(im.Labels, []int64{0, 0, 1, 1}) {
		t.Fatalf("skipped %q, N %d, labels %v", skipped, im.N, im.Labels)
	}
	for i, c := range []color.RGBA{red, red, green, green} {
		if p := pixel(im, i, 4, 4); !near(p, c, 3) {
			t.Errorf("image %d: %v, want %v", i, p, c)
		}
	}
	if !strings.Contains(progress.String(), "skipped 2") {
		t.Errorf("progress %q", progress.String())
	}
}

// TestImageFolderPerClass checks the seeded per-class selection: the same
// seed picks the same images whatever the worker count, disjoint windows
// share no image, and other seeds pick others.
func TestImageFolderPerClass(t *testing.T) {
	root := t.TempDir()
	for c, class := range []string{"n01", "n02"} {
		for i := 0; i < 12; i++ {
			v := uint8(100*c + 5*i) // the pixel value identifies the file
			writeImage(t, filepath.Join(root, class, fmt.Sprintf("img%02d.png", i)), uniform(6, 6, color.RGBA{v, v, v, 255}))
		}
	}
	picked := func(opts FolderOptions) []int {
		t.Helper()
		im, err := LoadImageFolder(root, 4, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for i := 0; i < im.N; i++ {
			ids = append(ids, pixel(im, i, 0, 0)[0])
			if want := fmt.Sprintf("n%02d", ids[i]/100+1); im.ClassNames[im.Labels[i]] != want {
				t.Errorf("image %d (value %d) labelled %d (%s), want %s", i, ids[i], im.Labels[i], im.ClassNames[im.Labels[i]], want)
			}
		}
		return ids
	}
	a := picked(FolderOptions{PerClass: 5, Seed: 1, Workers: 1})
	if len(a) != 10 {
		t.Fatalf("picked %v, want 5 per class", a)
	}
	if b := picked(FolderOptions{PerClass: 5, Seed: 1, Workers: 2}); !reflect.DeepEqual(a, b) {
		t.Errorf("same seed picked %v then %v", a, b)
	}
	if c := picked(FolderOptions{PerClass: 5, Seed: 2}); reflect.DeepEqual(a, c) {
		t.Errorf("seeds 1 and 2 both picked %v", a)
	}
	rest := picked(FolderOptions{PerClass: 5, Offset: 5, Seed: 1})
	tail := picked(FolderOptions{Offset: 10, Seed: 1})
	seen := map[int]bool{}
	for _, id := range append(append(append([]int{}, a...), rest...), tail...) {
		if seen[id] {
			t.Errorf("image %d picked by two disjoint windows", id)
		}
		seen[id] = true
	}
	if len(seen) != 24 {
		t.Errorf("windows [0,5), [5,10), [10,…) cover %d images, want all 24", len(seen))
	}
	// Classes picks and orders folders; its selection is the same per class.
	only := picked(FolderOptions{PerClass: 5, Seed: 1, Classes: []string{"n02"}})
	for i, id := range only {
		if id != a[5+i] {
			t.Errorf("class n02 alone picked %v, with n01 %v", only, a[5:])
			break
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "x.png"), uniform(4, 4, red))
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	os.WriteFile(filepath.Join(root, "empty", "readme.txt"), nil, 0o644)
	flat := t.TempDir()
	writeImage(t, filepath.Join(flat, "x.png"), uniform(4, 4, red))
	for _, tc := range []struct {
		name string
		root string
		size int
		opts FolderOptions
		err  string
	}{
		{"class without images", root, 4, FolderOptions{}, "has no .jpg, .jpeg or .png images"},
		{"no class folders", flat, 4, FolderOptions{}, "no class folders"},
		{"missing root", filepath.Join(root, "nope"), 4, FolderOptions{}, "no such file"},
		{"missing class", root, 4, FolderOptions{Classes: []string{"a", "b"}}, `class "b"`},
		{"duplicate class", root, 4, FolderOptions{Classes: []string{"a", "a"}}, "listed twice"},
		{"bad size", root, 0, FolderOptions{Classes: []string{"a"}}, "image size 0"},
		{"resize below crop", root, 8, FolderOptions{Classes: []string{"a"}, Resize: 4}, "smaller than the 8-pixel crop"},
		{"offset past all", root, 4, FolderOptions{Classes: []string{"a"}, Offset: 1}, "no images selected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadImageFolder(tc.root, tc.size, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.root) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, tc.root, tc.err)
			}
		})
	}
	if _, err := LoadImageFolder(root, 4, FolderOptions{Classes: []string{"a"}}); err != nil {
		t.Errorf("class a alone: %v", err)
	}
	var pe *os.PathError
	if _, err := LoadImageFolder(filepath.Join(root, "nope"), 4, FolderOptions{}); !errors.As(err, &pe) {
		t.Errorf("missing root: %v is not a *PathError", err)
	}
}

// BenchmarkDecodeImageNetSized decodes a 500×375 JPEG (ImageNet's most
// common size) and resizes and crops it to 224×224.
func BenchmarkDecodeImageNetSized(b *testing.B) {
	path := filepath.Join(b.TempDir(), "x.jpg")
	img := paint(500, 375, func(x, y int) color.RGBA { return color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255} })
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	os.WriteFile(path, buf.Bytes(), 0o644)
	dst := make([]uint8, 3*224*224)
	d := newImageDecoder(0)
	defer d.close()
	tr, _ := (&ImageTransform{}).withDefaults()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := decodeInto(d, path, &tr, dst); err != nil {
			b.Fatal(err)
		}
	}
}
