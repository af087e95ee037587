package nn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func TestFineTuneSkips(t *testing.T) {
	allow := FineTuneSkips(10, 1)
	for _, tc := range []struct {
		name        string
		model, file []int64
		want        bool
	}{
		{"classifier weight", []int64{10, 512}, []int64{1000, 512}, true},
		{"classifier bias", []int64{10}, []int64{1000}, true},
		{"stem for 1 channel", []int64{64, 1, 7, 7}, []int64{64, 3, 7, 7}, true},
		{"classifier of another width", []int64{10, 512}, []int64{1000, 2048}, false},
		{"first dimension not the class count", []int64{64, 512}, []int64{128, 512}, false},
		{"conv of another width", []int64{128, 64, 3, 3}, []int64{256, 64, 3, 3}, false},
		{"conv inputs not the input channels", []int64{64, 32, 3, 3}, []int64{64, 16, 3, 3}, false},
		{"batch-norm width", []int64{64}, []int64{128}, false},
		{"rank differs", []int64{10, 512}, []int64{10, 512, 1}, false},
		{"missing from the file", []int64{10, 512}, nil, false},
		{"not in the model", nil, []int64{10, 512}, false},
	} {
		if got := allow(tc.name, tc.model, tc.file); got != tc.want {
			t.Errorf("%s: model %v, file %v: skippable = %v, want %v", tc.name, tc.model, tc.file, got, tc.want)
		}
	}
}

// TestLoadRefusesAnotherArchitecture loads the 10-class tiny EfficientNet
// into models that differ: another head loads (FineTuneSkips allows it),
// a deeper model is refused without changing anything, unless Skippable
// is nil.
func TestLoadRefusesAnotherArchitecture(t *testing.T) {
	f := loadFixtures(t)
	path := filepath.Join("testdata", f.Pth.File)
	for _, tc := range []struct {
		name      string
		depth     float64
		classes   int64
		skippable bool
		err       string // "" for success
		refused   string // a name Refused must hold
	}{
		{"same model", f.Pth.DepthMult, 10, true, "", ""},
		{"another head", f.Pth.DepthMult, 5, true, "", ""},
		{"deeper model", 1, 10, true, "fine-tuning may not skip", "features."},
		{"deeper model, partial", 1, 10, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := gnn.NewVarStore(gotch.CPU)
			defer vs.Destroy()
			if _, err := NewEfficientNet(vs.Root(), tinyEfficientNetConfig(f.Pth.WidthMult, tc.depth, tc.classes)); err != nil {
				t.Fatal(err)
			}
			before := map[string]*ts.Tensor{}
			for k, v := range Variables(vs) {
				before[k] = v.MustDetachCopy(false)
			}
			defer dropAll(before)
			opts := &LoadOptions{Partial: true}
			if tc.skippable {
				opts.Skippable = FineTuneSkips(tc.classes, 3)
			}
			r, err := LoadStateDict(vs, path, opts)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Loaded) == 0 {
					t.Error("nothing loaded")
				}
				return
			}
			if err == nil || !errors.Is(err, ErrStateDictMismatch) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want a mismatch naming %s and saying %q", err, path, tc.err)
			}
			if len(r.Refused) == 0 || !strings.HasPrefix(r.Refused[0], tc.refused) || len(r.Loaded) != 0 {
				t.Errorf("report: refused %v, loaded %d", r.Refused, len(r.Loaded))
			}
			for k, v := range Variables(vs) {
				if !tensorsEqual(v, before[k]) {
					t.Errorf("refused load changed %s", k)
				}
			}
		})
	}
}

func TestStripDataParallelPrefix(t *testing.T) {
	path := filepath.Join("testdata", loadFixtures(t).Pth.File)
	file, err := ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(file)
	vs, _ := tinyPthModel(t, 10)
	defer vs.Destroy()
	prefixed := map[string]*ts.Tensor{}
	for k, v := range file {
		prefixed[DataParallelPrefix+k] = v
	}
	r, err := LoadTensors(vs, prefixed, &LoadOptions{StripPrefix: DataParallelPrefix})
	if err != nil || !r.Complete() || r.Stripped != DataParallelPrefix {
		t.Fatalf("prefixed keys: %v, %v (stripped %q)", r, err, r.Stripped)
	}
	// Keys without the prefix are left alone and say nothing was stripped.
	r, err = LoadTensors(vs, file, &LoadOptions{StripPrefix: DataParallelPrefix})
	if err != nil || r.Stripped != "" {
		t.Fatalf("plain keys: %v, %v (stripped %q)", r, err, r.Stripped)
	}
	// Rename sees the key with the prefix already stripped.
	var seen []string
	rename := func(k string) string {
		seen = append(seen, k)
		return strings.Replace(k, "features.", "body.", 1)
	}
	_, err = LoadTensors(vs, prefixed, &LoadOptions{StripPrefix: DataParallelPrefix, Rename: rename, Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range seen {
		if strings.HasPrefix(k, DataParallelPrefix) {
			t.Fatalf("Rename got %q, with the prefix StripPrefix removes", k)
		}
	}
	// Only some keys prefixed: nothing is stripped, and a strict load fails.
	for k, v := range file {
		if strings.HasPrefix(k, "classifier") {
			delete(prefixed, DataParallelPrefix+k)
			prefixed[k] = v
		}
	}
	if r, err := LoadTensors(vs, prefixed, &LoadOptions{StripPrefix: DataParallelPrefix}); err == nil || r.Stripped != "" {
		t.Fatalf("partly prefixed keys: %v, %v", r, err)
	}
}

// noSpace is the error a full disk gives.
var noSpace = &os.PathError{Op: "write", Path: "model.ot.tmp", Err: syscall.ENOSPC}

// TestSaveCheckpointWriteErrors saves a checkpoint where the write fails:
// on a full file system (a 64 KiB tmpfs, when mounting is permitted) and
// with an injected write error. Either gives a one-line error naming the
// file; the checkpoint already there is untouched and no temporary file
// is left. (Before, libtorch wrote the file itself, and a full disk
// aborted the process with SIGABRT.)
func TestSaveCheckpointWriteErrors(t *testing.T) {
	vs, _ := tinyPthModel(t, 10)
	defer vs.Destroy()
	for _, tc := range []struct {
		name   string
		dir    func(t *testing.T) string
		inject bool
	}{
		{"full tmpfs", tinyTmpfs, false},
		{"injected write error", func(t *testing.T) string { return t.TempDir() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			path := filepath.Join(dir, "model.ot")
			old := []byte("the checkpoint of an earlier run")
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.inject {
				defer func(w func(string, []byte) error) { writeFile = w }(writeFile)
				writeFile = func(p string, b []byte) error {
					return fmt.Errorf("write %s: %w", p, noSpace)
				}
			}
			err := SaveCheckpoint(vs, path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %q, want one line naming %s and saying no space left", err, path)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != string(old) {
				t.Errorf("the existing checkpoint changed: %q, %v", b, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("%d files left in the folder, want only model.ot", len(entries))
			}
		})
	}
}

// tinyTmpfs mounts a 64 KiB tmpfs on a temporary folder, or skips the test
// when mounting is not permitted (not root, or in a container without the
// capability).
func tinyTmpfs(t *testing.T) string {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v); the injected write error covers the same path", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

func TestLoadCheckpointBadFiles(t *testing.T) {
	vs1, _ := tinyPthModel(t, 10)
	defer vs1.Destroy()
	good, err := EncodeCheckpoint(vs1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vs, _ := tinyPthModel(t, 10)
	defer vs.Destroy()
	for _, tc := range []struct {
		name string
		data []byte
		err  string
	}{
		{"empty", []byte{}, "empty archive"},
		{"truncated", good[:len(good)/2], "decode tensors"},
		{"garbage", []byte("PK\x03\x04 not really a zip"), "decode tensors"},
		{"a directory", nil, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if tc.data == nil {
				os.Mkdir(path, 0o755)
			} else {
				os.WriteFile(path, tc.data, 0o644)
			}
			_, err := LoadCheckpoint(vs, path, nil)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.err)
			}
		})
	}
}
