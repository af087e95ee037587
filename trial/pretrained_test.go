package trial

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// tinyPth is nn's fixture: torchvision's EfficientNet-B0 stages at width
// 0.1 and depth 0.5 with 10 classes, saved by torch.save.
var tinyPth = filepath.Join("..", "nn", "testdata", "efficientnet_tiny.pth")

func TestLoadPretrained(t *testing.T) {
	b, err := os.ReadFile(tinyPth)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	for _, tc := range []struct {
		name    string
		depth   float64
		classes int64
		partial bool
		err     string // "" for success
	}{
		{"same architecture", 0.5, 10, false, ""},
		{"another head", 0.5, 4, false, ""},
		{"another architecture", 1, 10, false, "--pretrained-partial loads what fits"},
		{"another architecture, partial", 1, 10, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := nn.EfficientNetB(0, tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			cfg.WidthMult, cfg.DepthMult = 0.1, tc.depth
			vs := gnn.NewVarStore(gotch.CPU)
			defer vs.Destroy()
			if _, err := nn.NewEfficientNet(vs.Root(), cfg); err != nil {
				t.Fatal(err)
			}
			got, err := Spec{Pretrained: tinyPth, PretrainedPartial: tc.partial, Output: io.Discard}.loadPretrained(vs, tc.classes, 3)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tinyPth) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming %s and saying %q", err, tinyPth, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256 %s, want %x", got, sum)
			}
		})
	}
}

func TestPretrainedPartialNeedsPretrained(t *testing.T) {
	if _, err := ParseArgs([]string{"--pretrained-partial"}); err == nil || !strings.Contains(err.Error(), "needs --pretrained") {
		t.Errorf("err = %v", err)
	}
}

// TestTrainFullDisk trains into a 64 KiB tmpfs that cannot hold the
// checkpoint: train must fail with one line naming model.ot, and the
// model.ot of an earlier run must survive. (Before, libtorch's writer
// aborted the process.)
func TestTrainFullDisk(t *testing.T) {
	dir := toyData(t)
	out := t.TempDir()
	if err := syscall.Mount("tmpfs", out, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v); nn's TestSaveCheckpointWriteErrors injects the error instead", err)
	}
	defer syscall.Unmount(out, 0)
	old := []byte("the checkpoint of an earlier run")
	ckpt := filepath.Join(out, "model.ot")
	if err := os.WriteFile(ckpt, old, 0o644); err != nil {
		t.Fatal(err)
	}
	err := runTrain([]string{"--data", "mnist", "--data-dir", dir, "--batch-size", "32", "--threads", "1", "--out", out})
	if err == nil || !strings.Contains(err.Error(), ckpt) || !strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line naming %s and saying no space left", err, ckpt)
	}
	if b, err := os.ReadFile(ckpt); err != nil || string(b) != string(old) {
		t.Errorf("the earlier checkpoint changed: %q, %v", b, err)
	}
	var names []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != runlock.Name { // the folder's lock file stays
			names = append(names, e.Name())
		}
	}
	if len(names) != 1 {
		t.Errorf("files %q in the output folder, want only the earlier model.ot (and %s)", names, runlock.Name)
	}
}

// TestSaveStateFullDisk saves the state onto a 64 KiB tmpfs that cannot
// hold it: the run must still write its result and model, then fail
// naming --save-state.
func TestSaveStateFullDisk(t *testing.T) {
	dir := toyData(t)
	full := t.TempDir()
	if err := syscall.Mount("tmpfs", full, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (%v); TestSaveStateFailureKeepsTheRun injects the error instead", err)
	}
	defer syscall.Unmount(full, 0)
	out := t.TempDir()
	state := filepath.Join(full, "state.bin")
	err := runTrain([]string{"--data", "mnist", "--data-dir", dir, "--batch-size", "32", "--threads", "1", "--out", out, "--save-state", state})
	if err == nil || !strings.Contains(err.Error(), "--save-state: ") || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "result was kept") {
		t.Fatalf("err = %v, want the save's failure after the result", err)
	}
	if _, err := ReadResult(out); err != nil {
		t.Errorf("the result was lost: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.ot")); err != nil {
		t.Errorf("the model was lost: %v", err)
	}
	if entries, _ := os.ReadDir(full); len(entries) > 0 {
		t.Errorf("the full disk holds %v, want nothing (no partial state)", entries)
	}
}

// writeStateDict writes float32 tensors as torch.save's legacy format
// would (an OrderedDict of torch._utils._rebuild_tensor calls), so that the
// tests can give train a state dict without Python.
func writeStateDict(t *testing.T, path string, names []string, tensors map[string]*ts.Tensor) {
	t.Helper()
	str := func(b []byte, s string) []byte {
		b = append(b, 'X')
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	integer := func(b []byte, v int64) []byte {
		return binary.LittleEndian.AppendUint32(append(b, 'J'), uint32(int32(v)))
	}
	b := []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'} // magic number
	b = append(b, 0x80, 0x02, 'M', 0xe9, 0x03, '.')                                                      // protocol version 1001
	b = append(b, 0x80, 0x02, '}', '.')                                                                  // system info
	b = append(b, 0x80, 0x02)
	b = append(b, "ccollections\nOrderedDict\n)R"...)
	var data []byte
	keys := []byte{0x80, 0x02, ']', '('}
	for i, name := range names {
		x := tensors[name]
		shape := x.MustSize()
		vals := x.Float64Values()
		key := fmt.Sprint(i)
		b = str(b, name)
		b = append(b, "ctorch._utils\n_rebuild_tensor\n(("...)
		b = str(b, "storage")
		b = append(b, "ctorch\nFloatStorage\n"...)
		b = str(b, key)
		b = str(b, "cpu")
		b = integer(b, int64(len(vals)))
		b = append(b, "NtQ"...)
		b = integer(b, 0)
		b = append(b, '(')
		for _, d := range shape {
			b = integer(b, d)
		}
		b = append(b, "t("...)
		stride := int64(1)
		strides := make([]int64, len(shape))
		for j := len(shape) - 1; j >= 0; j-- {
			strides[j] = stride
			stride *= shape[j]
		}
		for _, s := range strides {
			b = integer(b, s)
		}
		b = append(b, "ttRs"...)
		keys = str(keys, key)
		data = binary.LittleEndian.AppendUint64(data, uint64(len(vals)))
		for _, v := range vals {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
		}
	}
	b = append(b, '.')
	b = append(b, append(keys, 'e', '.')...)
	if err := os.WriteFile(path, append(b, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainPretrained gives train --pretrained state dicts of the model it
// trains: with a DataParallel prefix (stripped), with a tensor of another
// architecture (refused unless --pretrained-partial), and checks that
// result.json records the file and its SHA-256.
func TestTrainPretrained(t *testing.T) {
	dir := toyData(t)
	vs := gnn.NewVarStore(gotch.CPU)
	if _, err := nn.New("convnet", vs.Root(), nn.Input{C: 1, H: 28, W: 28}, 10); err != nil {
		t.Fatal(err)
	}
	vars := nn.Variables(vs)
	var names []string
	tensors := map[string]*ts.Tensor{}
	for k, v := range vars {
		names = append(names, nn.DataParallelPrefix+k)
		tensors[nn.DataParallelPrefix+k] = v
	}
	sort.Strings(names)
	prefixed := filepath.Join(t.TempDir(), "prefixed.pth")
	writeStateDict(t, prefixed, names, tensors)
	extra := filepath.Join(t.TempDir(), "extra.pth")
	tensors["module.layer9.weight"] = tensors[names[0]]
	writeStateDict(t, extra, append(names, "module.layer9.weight"), tensors)

	for _, tc := range []struct {
		name, file string
		partial    bool
		err        string
	}{
		{"DataParallel prefix", prefixed, false, ""},
		{"another architecture", extra, false, "1 unexpected (layer9.weight)"},
		{"another architecture, partial", extra, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := []string{"--data", "mnist", "--data-dir", dir, "--batch-size", "32", "--threads", "1", "--out", out, "--pretrained", tc.file}
			if tc.partial {
				args = append(args, "--pretrained-partial")
			}
			err := runTrain(args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--pretrained-partial") {
					t.Fatalf("err = %v, want one saying %q and naming --pretrained-partial", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			content, _ := os.ReadFile(tc.file)
			sum := sha256.Sum256(content)
			if res.Pretrained != tc.file || res.PretrainedSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("result.json: pretrained %q sha256 %q, want %q %x", res.Pretrained, res.PretrainedSHA256, tc.file, sum)
			}
		})
	}
}
