package data

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFolderViewStream: batch k holds the images at positions (k mod P)·B
// … of epoch ⌊k/P⌋'s order, its weak view the training transform drawn
// from (seed, k, view 0, image) and its strong view the transform drawn
// from view 1 then RandAugment; the batches do not depend on the workers,
// and a stream started at batch k gives what an unbroken one gives there.
func TestFolderViewStream(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b"}, 10, 60, 44)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ra := &RandAugment{Ops: 2, Magnitude: 12}
	mk := func(workers int) *FolderViewStream {
		s, err := NewFolderViewStream(f, FolderViewConfig{BatchSize: 4, Transform: ImageTransform{Size: 24, Train: true}, RandAugment: ra, Seed: 6, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := mk(1)
	if s.PerEpoch() != 2 || s.Len() != 10 {
		t.Fatalf("%d batches an epoch of %d images, want 2 of 10", s.PerEpoch(), s.Len())
	}
	one, three := collect(t, s, 0, 5), collect(t, mk(3), 0, 5)
	late := collect(t, mk(2), 3, 2)
	for k := range 5 {
		if !equalF(one[k].Weak, three[k].Weak) || !equalF(one[k].Strong, three[k].Strong) {
			t.Errorf("batch %d differs between 1 and 3 workers", k)
		}
		if k >= 3 && (!equalF(late[k-3].Weak, one[k].Weak) || !equalF(late[k-3].Strong, one[k].Strong)) {
			t.Errorf("batch %d of a stream started at 3 differs from the unbroken stream's", k)
		}
	}
	tr, _ := ImageTransform{Size: 24, Train: true}.withDefaults()
	norm := newNormalizer(tr.Mean, tr.Std)
	d := newImageDecoder(0)
	defer d.close()
	const sz = 3 * 24 * 24
	planes := make([]uint8, sz)
	for k := range 5 {
		b := one[k]
		if b.N != 4 || b.C != 3 || b.H != 24 || len(b.Weak) != 4*sz || len(b.Strong) != 4*sz {
			t.Fatalf("batch %d: %d images of %d×%d×%d, views of %d and %d values", k, b.N, b.C, b.H, b.W, len(b.Weak), len(b.Strong))
		}
		order := shuffled(10, 6+int64(k/2))
		for j := range 4 {
			i := order[(k%2)*4+j]
			weak, strong := make([]float32, sz), make([]float32, sz)
			flip, err := d.load(f.Path(i), &tr, newSampleRNG(batchSeed(6, k), 0, i))
			if err != nil {
				t.Fatal(err)
			}
			norm.writeCHW(d.out, 24, flip, weak)
			rng := newSampleRNG(batchSeed(6, k), 1, i)
			if flip, err = d.load(f.Path(i), &tr, rng); err != nil {
				t.Fatal(err)
			}
			planesCHWFlip(d.out, 24, flip, planes)
			if err := ra.Apply(Image8{C: 3, H: 24, W: 24, Pix: planes}, rand.New(rng)); err != nil {
				t.Fatal(err)
			}
			norm.writePlanes(planes, 24, strong)
			if !equalF(weak, b.Weak[j*sz:(j+1)*sz]) || !equalF(strong, b.Strong[j*sz:(j+1)*sz]) {
				t.Errorf("batch %d, image %d (file %d): a view is not the transform (then RandAugment) drawn for it", k, j, i)
			}
			if equalF(weak, strong) {
				t.Errorf("batch %d, image %d: the two views are equal", k, j)
			}
		}
	}
	if f.Label(9) != 1 || f.Labels() == nil {
		t.Error("the stream removed the labels of the folder it was given")
	}
}

// TestFolderViewStreamBadInput: an unreadable image is skipped (its batch
// is one shorter), named once and counted; too few images for a batch,
// a batch size below 1 and a bad RandAugment are refused.
func TestFolderViewStreamBadInput(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a"}, 7, 30, 30)
	os.WriteFile(filepath.Join(root, "a", "bad.JPEG"), []byte("\xff\xd8\xffgarbage"), 0o644)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s, err := NewFolderViewStream(f, FolderViewConfig{BatchSize: 8, Transform: ImageTransform{Size: 16, Train: true}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	for k, b := range collect(t, s, 0, 3) {
		if b.N != 7 || len(b.Weak) != 7*3*16*16 || len(b.Strong) != len(b.Weak) {
			t.Errorf("batch %d: %d images, want the 7 readable of 8", k, b.N)
		}
	}
	if st := s.Stats(); st.Skipped < 3 || len(st.BadFiles) != 1 || strings.Count(log.String(), "bad.JPEG") != 1 {
		t.Errorf("stats %+v, log %q: want 3 skips (or more: prefetch) of one file, named once", st, log.String())
	}
	for _, tc := range []struct {
		cfg  FolderViewConfig
		want string
	}{
		{FolderViewConfig{BatchSize: 9}, "fewer than one unlabeled batch of 9"},
		{FolderViewConfig{BatchSize: 0}, "unlabeled batch size 0"},
		{FolderViewConfig{BatchSize: 2, RandAugment: &RandAugment{Magnitude: 40}}, "magnitude 40"},
	} {
		tc.cfg.Log = io.Discard
		if _, err := NewFolderViewStream(f, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
