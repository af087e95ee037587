package bench

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchImages runs the images section on 24 generated JPEGs without
// torchvision: every transform and decoder is measured, and memory is
// sampled.
func TestBenchImages(t *testing.T) {
	f := DefaultSettings()
	f.Out = io.Discard
	f.Images.Gen, f.Images.Batch = 24, 8
	rep := &Report{}
	if err := benchImages(f, rep); err != nil {
		t.Fatal(err)
	}
	r := rep.Images
	if r == nil || r.Images != 24 || len(r.Rows) != 6 || len(r.Memory) == 0 || r.Ratio != nil {
		t.Fatalf("result %+v", r)
	}
	for _, row := range r.Rows {
		if !(row.PerS > 0 && row.PerCPUS > 0) || row.TorchPerS != 0 {
			t.Errorf("row %+v", row)
		}
	}
}

func TestGenerateImagesLinks(t *testing.T) {
	root := t.TempDir()
	if err := GenerateImages(root, 12, 5); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.JPEG"))
	if len(files) != 12 {
		t.Fatalf("%d files, want 12", len(files))
	}
	a, _ := os.Stat(filepath.Join(root, "c000", "img0000000.JPEG"))
	if a == nil || a.Size() < 5000 {
		t.Fatalf("first image: %v", a)
	}
}
