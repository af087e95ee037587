package configs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestBuiltinIsTheRepositoryFile checks that the built-in default is the
// repository's file (a stale copy cannot be: go:embed reads it at build
// time, but the constant could name another file).
func TestBuiltinIsTheRepositoryFile(t *testing.T) {
	n := 0
	err := fs.WalkDir(builtin, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if got, _ := builtin.ReadFile(name); !bytes.Equal(got, want) {
			t.Errorf("built-in %s differs from the repository's", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{filepath.Base(TransformerXLSmall), "study/transformer-xl-kjv.json", "paper/ptb-transformer-xl.json"} {
		if _, err := builtin.ReadFile(name); err != nil {
			t.Errorf("%s is not built in: %v", name, err)
		}
	}
	t.Logf("%d recipes built in", n)
}

// TestReadFile reads from a folder without the repository's configs: the
// default comes from the built-in copy, a file there wins over it, and
// other missing names fail as os.ReadFile does.
func TestReadFile(t *testing.T) {
	repo, err := os.ReadFile(filepath.Base(TransformerXLSmall))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name string
		want []byte // nil: a not-exist error
	}{
		{TransformerXLSmall, repo},
		{"./" + TransformerXLSmall, repo},
		{"configs/search-fortunes-lm-tiny.json", nil}, // shipped, not a recipe
		{"transformer-xl-small.json", nil},            // not the repository path
		{"configs/../configs/nothing.json", nil},
		{"/configs/transformer-xl-small.json", nil},
	} {
		b, err := ReadFile(tc.name)
		if tc.want == nil {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: error %v, want not exist", tc.name, err)
			}
			if Exists(tc.name) == nil {
				t.Errorf("%s: Exists says yes", tc.name)
			}
			continue
		}
		if err != nil || !bytes.Equal(b, tc.want) {
			t.Errorf("%s: %v (equal: %v)", tc.name, err, bytes.Equal(b, tc.want))
		}
		if err := Exists(tc.name); err != nil {
			t.Errorf("%s: Exists: %v", tc.name, err)
		}
	}

	// A file of the user's at the path is read instead.
	if err := os.MkdirAll("configs", 0o755); err != nil {
		t.Fatal(err)
	}
	own := []byte(`{"model": {}}`)
	if err := os.WriteFile(TransformerXLSmall, own, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(TransformerXLSmall); err != nil || !bytes.Equal(b, own) {
		t.Errorf("own file: %q, %v", b, err)
	}
	// A folder there is an error, not a fallback.
	if err := os.Remove(TransformerXLSmall); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(TransformerXLSmall, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(TransformerXLSmall); err == nil {
		t.Error("ReadFile of a folder: no error")
	}
	if err := Exists(TransformerXLSmall); err == nil {
		t.Error("Exists of a folder: no error")
	}
}
