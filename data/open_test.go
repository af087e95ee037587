package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Open's errors say what to do: a dataset without a default folder asks
// for --data-dir (it said "data_batch_1.bin not found in  or …", with a
// blank path), and an ImageNet folder without class folders is named
// (it said "no class folders (want root/<class>/<image>.jpg)").
func TestOpenMessages(t *testing.T) {
	empty := t.TempDir()
	flat := t.TempDir()
	for _, split := range []string{"train", "val"} {
		writeImage(t, filepath.Join(flat, split, "x.png"), uniform(4, 4, red))
	}
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "train"), 0o755); err != nil { // as in a source tree
		t.Fatal(err)
	}
	t.Chdir(work)
	for _, tc := range []struct {
		name, data, dir string
		want            []string
	}{
		{"cifar10 without a folder", "cifar10", "", []string{"dataset cifar10 has no default folder", "pass --data-dir DIR", "data_batch_1.bin", "cs.toronto.edu"}},
		{"cifar100 without a folder", "cifar100", "", []string{"dataset cifar100", "--data-dir", "train.bin"}},
		{"imagenet without a folder", "imagenet", "", []string{"dataset imagenet", "--data-dir", "train/ and val/"}},
		{"mnist without a folder", "mnist", "", []string{"dataset mnist", "--data-dir"}},
		{"imagenet without class folders", "imagenet", flat, []string{
			"no class folders in " + filepath.Join(flat, "train"), "want " + filepath.ToSlash(filepath.Join(flat, "train")) + "/<class>/<image>.jpg",
			"--data-dir " + flat + " must hold train/ and val/"}},
		{"imagenet in an empty folder", "imagenet", empty, []string{filepath.Join(empty, "train"), "--data-dir " + empty}},
		{"cifar10 in an empty folder", "cifar10", empty, []string{"data_batch_1.bin not found in " + empty}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Open(tc.data, tc.dir, OpenOptions{ImageSize: 4})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// An empty dir still means the working directory when the files are
// there, as a search's trials have always read it.
func TestOpenWorkingDir(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, [5]int{2, 2, 2, 2, 2})
	t.Chdir(dir)
	if _, _, err := Open("cifar10", "", OpenOptions{}); err != nil {
		t.Fatalf("cifar10 in the working directory: %v", err)
	}
	if err := os.Remove("data_batch_1.bin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open("cifar10", "", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("err = %v, want one asking for --data-dir", err)
	}
}

// ImageNet read from the working directory (train/ and val/ there, no
// --data-dir) says so when its folders are not class folders.
func TestOpenImageNetWorkingDir(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"train", "val"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	_, _, err := Open("imagenet", "", OpenOptions{ImageSize: 4})
	if err == nil || !strings.Contains(err.Error(), "no class folders in train") || !strings.Contains(err.Error(), "no --data-dir, so the working directory was read") {
		t.Fatalf("err = %v", err)
	}
}
