package main

import (
	"encoding/binary"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIDX writes an MNIST-format split of n images whose label is the
// brightest quadrant (a learnable toy task).
func writeIDX(t *testing.T, dir, split string, n int) {
	t.Helper()
	img := []byte{0, 0, 8, 3}
	img = binary.BigEndian.AppendUint32(img, uint32(n))
	img = binary.BigEndian.AppendUint32(img, 28)
	img = binary.BigEndian.AppendUint32(img, 28)
	lbl := binary.BigEndian.AppendUint32([]byte{0, 0, 8, 1}, uint32(n))
	for i := 0; i < n; i++ {
		q := i % 4
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				v := byte((i*31 + x*7 + y*13) % 50)
				if (y/14)*2+x/14 == q {
					v += 200
				}
				img = append(img, v)
			}
		}
		lbl = append(lbl, byte(q))
	}
	os.WriteFile(filepath.Join(dir, split+"-images-idx3-ubyte"), img, 0o644)
	os.WriteFile(filepath.Join(dir, split+"-labels-idx1-ubyte"), lbl, 0o644)
}

func toyData(t *testing.T) string {
	dir := t.TempDir()
	writeIDX(t, dir, "train", 96)
	writeIDX(t, dir, "t10k", 40)
	return dir
}

const handPattern = `{"patterns": [
 {"site": "bn1", "pattern": {"size": 3, "stride": 2, "repeat": 4, "rotate": 90, "shear_x": 0, "shear_y": 0, "share_c": true, "residual": false}},
 {"site": "bn2", "pattern": {"size": 2, "stride": 1, "repeat": 3, "rotate": 0, "shear_x": 0.2, "shear_y": 0, "share_c": false, "residual": false}}
]}`

func TestShow(t *testing.T) {
	dir := t.TempDir()
	pattern := filepath.Join(dir, "p.json")
	os.WriteFile(pattern, []byte(handPattern), 0o644)
	out := filepath.Join(dir, "masks.png")
	if err := runShow([]string{pattern, "--png", out, "--samples", "2", "--channels", "3", "--height", "16", "--width", "16", "--cell", "2"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Two sites of 2 rows of 16×16 maps at 2 pixels a cell.
	if b := img.Bounds(); b.Dx() < 3*32 || b.Dy() < 2*2*32 {
		t.Errorf("picture is %v, too small for 2 sites × 2 samples × 3 channels", b)
	}
	if err := runShow([]string{"--png", out}); err == nil {
		t.Error("show without a pattern file succeeded")
	}
	// Files show cannot draw.
	for _, tc := range []struct{ name, json, want string }{
		{"empty.json", `{"patterns": []}`, "holds no patterns: nothing to draw"},
		{"lm.json", `[{"sites": "^emb$", "pattern": {"size": 4, "stride": 8, "repeat": 4, "noise": "zero"}}]`, "show draws the per-site patterns of image models"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, []byte(tc.json), 0o644)
		if err := runShow([]string{p, "--png", out}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("show %s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
