// Package atomicfile writes files so that a reader, or a process killed
// mid-write, never sees half of one: the data goes to a temporary file in
// the same folder, is synced, and is renamed over the target.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const tmpMark = ".tmp"

// Write replaces path with data (mode 0644). On error the old file, if
// any, is left as it was and no temporary file remains. A process killed
// mid-write leaves its temporary file, .NAME.tmpDIGITS, beside path;
// RemoveTemps deletes such leftovers.
func Write(path string, data []byte) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("write %s: it is a folder (want a file name)", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tmpMark+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// IsTemp reports whether name (a base name) is one of Write's temporary
// files: a dot, the target's name, ".tmp" and the digits os.CreateTemp
// puts in place of its star.
func IsTemp(name string) bool {
	i := strings.LastIndex(name, tmpMark)
	if !strings.HasPrefix(name, ".") || i < 2 {
		return false
	}
	digits := name[i+len(tmpMark):]
	if digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// RemoveTemps deletes the temporary files that writes into dir left
// behind when their process died between creating and renaming them, and
// returns their paths. Only call it when no Write into dir is under way.
// A missing dir holds nothing to remove.
func RemoveTemps(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remove temporary files: %w", err)
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("remove temporary file: %w", err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}
