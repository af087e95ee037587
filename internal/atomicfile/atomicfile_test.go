package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	for _, content := range []string{"first", "second, longer"} {
		if err := Write(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("file holds %q, want %q", b, content)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// A failed write names the file and leaves the old one and no temporary.
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	if err := Write(filepath.Join(dir, "d"), []byte("x")); err == nil || !strings.Contains(err.Error(), "/d: it is a folder") {
		t.Errorf("writing over a folder: err %v", err)
	}
	if err := Write(filepath.Join(dir, "missing", "b"), []byte("x")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("writing into a missing folder: err %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("folder holds %d entries, want a.json and d", len(entries))
	}
}

func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{ // name: a leftover of Write
		".controller.json.tmp123456": true,
		".summary.json.tmp9":         true,
		"controller.json":            false,
		".controller.json.tmp":       false, // no digits: not CreateTemp's
		".notes.tmp1x":               false,
		"a.tmp1":                     false, // not hidden
		".hidden":                    false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A real leftover: a Write whose rename never happened.
	f, err := os.CreateTemp(dir, ".model.ot"+tmpMark+"*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	files[filepath.Base(f.Name())] = true
	removed, err := RemoveTemps(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v, want the 3 leftovers", removed)
	}
	for name, leftover := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := err != nil; gone != leftover {
			t.Errorf("%s: removed %v, want %v", name, gone, leftover)
		}
	}
	if removed, err := RemoveTemps(filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Errorf("missing folder: %v, %v", removed, err)
	}
}
