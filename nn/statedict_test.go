package nn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// TestReadStateDictMixed reads a state dict of assorted dtypes, a 0-dim
// counter and strided views into a shared storage, in torch.save's zip and
// legacy formats.
func TestReadStateDictMixed(t *testing.T) {
	f := loadFixtures(t)
	dtypes := map[string]gotch.DType{
		"float32": gotch.Float, "float64": gotch.Double, "float16": gotch.Half,
		"int64": gotch.Int64, "bool": gotch.Bool,
	}
	for _, file := range f.Mixed.Files {
		t.Run(file, func(t *testing.T) {
			got, err := ReadStateDict(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer dropAll(got)
			if len(got) != len(f.Mixed.Tensors) {
				t.Errorf("%d tensors, want %d", len(got), len(f.Mixed.Tensors))
			}
			for name, want := range f.Mixed.Tensors {
				x, ok := got[name]
				if !ok {
					t.Errorf("no tensor %s", name)
					continue
				}
				if dt := dtypes[want.DType]; x.DType() != dt {
					t.Errorf("%s: dtype %v, want %v", name, x.DType(), dt)
				}
				if s := x.MustSize(); !sameShape(s, want.Shape) {
					t.Errorf("%s: shape %v, want %v", name, s, want.Shape)
				}
				vals := x.MustTotype(gotch.Double, false).Float64Values(true)
				if len(vals) != len(want.Values) {
					t.Errorf("%s: %d values, want %d", name, len(vals), len(want.Values))
					continue
				}
				for i := range vals {
					if vals[i] != want.Values[i] {
						t.Errorf("%s: values %v, want %v", name, vals, want.Values)
						break
					}
				}
			}
		})
	}
}

func TestReadStateDictBadFiles(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "efficientnet_tiny.pth"))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile(filepath.Join("testdata", "mixed_legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"garbage.pth":          []byte("this is not a pickle"),
		"empty.pth":            nil,
		"truncated.pth":        src[:len(src)/2],
		"truncated_legacy.pth": legacy[:len(legacy)-100],
		"header_only.pth":      legacy[:14],
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadStateDict(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	missing := filepath.Join(dir, "missing.pth")
	vs := gnn.NewVarStore(gotch.CPU)
	if _, err := LoadStateDict(vs, missing, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

// tinyPthModel builds the fixture .pth's architecture with classes outputs.
func tinyPthModel(t *testing.T, classes int64) (*gnn.VarStore, *EfficientNet) {
	t.Helper()
	f := loadFixtures(t)
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := NewEfficientNet(vs.Root(), tinyEfficientNetConfig(f.Pth.WidthMult, f.Pth.DepthMult, classes))
	if err != nil {
		t.Fatal(err)
	}
	return vs, m
}

func tensorsEqual(a, b *ts.Tensor) bool {
	return a.MustEqual(b, false)
}

// TestLoadStateDictPartial loads the 10-class .pth into a 5-class model:
// strict refuses and changes nothing; partial loads all but the head.
func TestLoadStateDictPartial(t *testing.T) {
	path := filepath.Join("testdata", loadFixtures(t).Pth.File)
	file, err := ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(file)
	vs, _ := tinyPthModel(t, 5)
	defer vs.Destroy()
	vars := Variables(vs)
	before := map[string]*ts.Tensor{}
	for k, v := range vars {
		before[k] = v.MustDetachCopy(false)
	}
	defer dropAll(before)

	r, err := LoadStateDict(vs, path, nil)
	if err == nil || !errors.Is(err, ErrStateDictMismatch) {
		t.Fatalf("strict load of a 10-class state dict into a 5-class model: %v", err)
	}
	for _, want := range []string{path, "classifier.1.weight (model [5 128], file [10 128])", "classifier.1.bias (model [5], file [10])", "nothing loaded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if r == nil || len(r.Mismatched) != 2 || len(r.Loaded) != 0 {
		t.Errorf("strict report %v", r)
	}
	for k, v := range vars {
		if !tensorsEqual(v, before[k]) {
			t.Errorf("failed strict load changed %s", k)
		}
	}

	r, err = LoadStateDict(vs, path, &LoadOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Mismatched) != 2 || r.Mismatched[0].Name != "classifier.1.bias" || r.Mismatched[1].Name != "classifier.1.weight" {
		t.Errorf("mismatched %v", r.Mismatched)
	}
	if len(r.Missing) != 0 || len(r.Unexpected) != 0 || len(r.Loaded) != len(vars)-2 || r.Complete() {
		t.Errorf("partial report %v", r)
	}
	for k, v := range vars {
		changed := !tensorsEqual(v, before[k])
		if strings.HasPrefix(k, "classifier.") {
			if changed {
				t.Errorf("partial load changed the skipped %s", k)
			}
			continue
		}
		if !tensorsEqual(v, file[k]) {
			t.Errorf("%s was not loaded", k)
		}
	}
}

// TestLoadTensorsStrict checks that a strict load names every missing key,
// unexpected key and shape mismatch, and that Rename applies.
func TestLoadTensorsStrict(t *testing.T) {
	path := filepath.Join("testdata", loadFixtures(t).Pth.File)
	file, err := ReadStateDict(path)
	if err != nil {
		t.Fatal(err)
	}
	defer dropAll(file)
	vs, _ := tinyPthModel(t, 10)
	defer vs.Destroy()

	edited := map[string]*ts.Tensor{}
	for k, v := range file {
		edited[k] = v
	}
	delete(edited, "features.3.0.block.1.0.weight")
	edited["features.9.0.weight"] = file["features.0.0.weight"]
	edited["features.0.1.weight"] = ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer edited["features.0.1.weight"].MustDrop()
	r, err := LoadTensors(vs, edited, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"1 missing (features.3.0.block.1.0.weight)",
		"1 unexpected (features.9.0.weight)",
		"1 with another shape (features.0.1.weight (model [8], file [3]))",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(r.Ignored) == 0 {
		t.Errorf("num_batches_tracked not ignored: %v", r)
	}

	// A counter without its batch norm is unexpected.
	delete(edited, "features.0.1.weight")
	edited["features.0.1.weight"] = file["features.0.1.weight"]
	edited["features.3.0.block.1.0.weight"] = file["features.3.0.block.1.0.weight"]
	delete(edited, "features.9.0.weight")
	edited["head.num_batches_tracked"] = file["features.0.1.num_batches_tracked"]
	if _, err := LoadTensors(vs, edited, nil); err == nil || !strings.Contains(err.Error(), "unexpected (head.num_batches_tracked)") {
		t.Errorf("stray counter: %v", err)
	}
	delete(edited, "head.num_batches_tracked")

	// DataParallel's "module." prefix, stripped by Rename.
	prefixed := map[string]*ts.Tensor{}
	for k, v := range edited {
		prefixed["module."+k] = v
	}
	if _, err := LoadTensors(vs, prefixed, nil); err == nil {
		t.Error("prefixed keys loaded without Rename")
	}
	r, err = LoadTensors(vs, prefixed, &LoadOptions{Rename: func(k string) string { return strings.TrimPrefix(k, "module.") }})
	if err != nil || !r.Complete() {
		t.Errorf("with Rename: %v, %v", r, err)
	}
}

// TestCheckpointRoundTrip saves a trained-looking model (batch-norm
// statistics moved by a training step) and loads it into a fresh one.
func TestCheckpointRoundTrip(t *testing.T) {
	vs1, m1 := tinyPthModel(t, 10)
	defer vs1.Destroy()
	libtorch.ManualSeed(3)
	x := ts.MustRandn([]int64{4, 3, 32, 32}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	libtorch.NoGrad(func() { m1.ForwardT(x, true).MustDrop() }) // moves the running statistics

	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	if err := SaveCheckpoint(vs1, path); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("checkpoint directory holds %d files, want 1", len(entries))
	}
	vs2, m2 := tinyPthModel(t, 10)
	defer vs2.Destroy()
	r, err := LoadCheckpoint(vs2, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := Variables(vs1), Variables(vs2)
	if len(r.Loaded) != len(v1) {
		t.Errorf("loaded %d of %d tensors", len(r.Loaded), len(v1))
	}
	for k, a := range v1 {
		b := v2[k]
		if !tensorsEqual(a, b) {
			t.Errorf("%s differs after the round trip", k)
		}
	}
	compareLogits(t, evalLogits(m2, x), evalLogits(m1, x))

	vs3, _ := tinyPthModel(t, 5)
	defer vs3.Destroy()
	if _, err := LoadCheckpoint(vs3, path, nil); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "classifier.1.weight") {
		t.Errorf("checkpoint into another head: %v", err)
	}
	if _, err := LoadCheckpoint(vs3, filepath.Join(dir, "none.ckpt"), nil); err == nil || !strings.Contains(err.Error(), "none.ckpt") {
		t.Errorf("missing checkpoint: %v", err)
	}
	bad := filepath.Join(dir, "bad.ckpt")
	os.WriteFile(bad, []byte("not a checkpoint"), 0o644)
	if _, err := LoadCheckpoint(vs3, bad, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt checkpoint: %v", err)
	}
	if err := SaveCheckpoint(vs1, filepath.Join(dir, "no", "such", "dir.ckpt")); err == nil || !strings.Contains(err.Error(), "dir.ckpt") {
		t.Errorf("save into a missing directory: %v", err)
	}
}
