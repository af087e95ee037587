package trial

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/train"
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

func TestTrainWritesResult(t *testing.T) {
	dir := toyData(t)
	pattern := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(pattern, []byte(handPattern), 0o644)
	for _, reg := range [][]string{
		{"--regularizer", "none"},
		{"--regularizer", "dropout", "--drop-rate", "0.2"},
		{"--regularizer", "spatial"},
		{"--regularizer", "dropblock", "--block-size", "4"},
		{"--pattern", pattern},
	} {
		t.Run(reg[len(reg)-1], func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--data", "mnist", "--data-dir", dir, "--epochs", "2", "--batch-size", "16",
				"--val-frac", "0.25", "--seed", "3", "--threads", "1", "--out", out}, reg...)
			if err := runTrain(args); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			var res map[string]any
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"val_acc", "test_acc", "epochs", "steps", "wall_s", "cpu_s", "params", "regularizer"} {
				if _, ok := res[k]; !ok {
					t.Errorf("result.json lacks %q: %s", k, b)
				}
			}
			if res["epochs"].(float64) != 2 || res["steps"].(float64) != 10 || res["train_examples"].(float64) != 72 {
				t.Errorf("epochs/steps/examples = %v/%v/%v, want 2/10/72", res["epochs"], res["steps"], res["train_examples"])
			}
			if acc := res["test_acc"].(float64); acc < 0 || acc > 1 {
				t.Errorf("test accuracy %v", acc)
			}
			if _, err := os.Stat(filepath.Join(out, "model.ot")); err != nil {
				t.Errorf("no checkpoint: %v", err)
			}
		})
	}
}

func TestTrainSameSeedSameResult(t *testing.T) {
	dir := toyData(t)
	var accs []string
	for i := 0; i < 2; i++ {
		out := t.TempDir()
		if err := runTrain([]string{"--data", "mnist", "--data-dir", dir, "--batch-size", "16", "--seed", "5",
			"--threads", "1", "--regularizer", "dropblock", "--out", out}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(out, "result.json"))
		var res struct {
			Loss float64 `json:"train_loss"`
			Val  float64 `json:"val_acc"`
		}
		json.Unmarshal(b, &res)
		accs = append(accs, jsonFloat(res.Loss)+"/"+jsonFloat(res.Val))
	}
	if accs[0] != accs[1] {
		t.Errorf("same seed gave %s then %s", accs[0], accs[1])
	}
}

func jsonFloat(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestTrainErrors(t *testing.T) {
	dir := toyData(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"patterns": [{"site": "bn1", "pattern": {"size": -3}}]}`), 0o644)
	unknownSite := filepath.Join(t.TempDir(), "site.json")
	os.WriteFile(unknownSite, []byte(strings.Replace(handPattern, `"bn2"`, `"layer9.bn2"`, 1)), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "vgg"}, "unknown model"},
		{[]string{"--data", "svhn"}, "unknown dataset"},
		{[]string{"--regularizer", "pattern"}, "needs --pattern"},
		{[]string{"--regularizer", "magic"}, "unknown"},
		{[]string{"--pattern", bad}, "bad.json"},
		{[]string{"--pattern", unknownSite}, `no dropout site "layer9.bn2"`},
		{[]string{"--regularizer", "dropout", "--sites", "^nothing$"}, "matches none"},
		{[]string{"--device", "tpu"}, "want cpu, cuda"},
		{[]string{"--val-frac", "1"}, "--val-frac"},
		{[]string{"--epochs", "-1"}, "--epochs -1: want at least 1"},
		{[]string{"--lr", "-1"}, "learning rate -1: want a finite number ≥ 0"},
		{[]string{"--lr", "NaN"}, "learning rate NaN"},
		// Checked before training, not after it.
		{[]string{"--save-state", t.TempDir()}, "--save-state: " + os.TempDir()},
		{[]string{"--save-state", "/proc/nowhere/state.bin"}, "--save-state: mkdir /proc/nowhere"},
	} {
		args := append([]string{"--data", "mnist", "--data-dir", dir, "--threads", "1"}, tc.args...)
		if tc.args[0] == "--data" {
			args = append([]string{"--data-dir", dir, "--threads", "1"}, tc.args...)
		}
		err := runTrain(args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A save that fails after the check (a disk that filled up during
// training) does not stop the run: its error comes after the result.
func TestSaveStateFailureKeepsTheRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "states")
	s := Spec{SaveState: filepath.Join(dir, "state.bin"), Output: io.Discard}
	var save func(*train.State) error
	release, saveErr, err := s.states(map[string]string{}, new(*train.State), &save, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := os.RemoveAll(dir); err != nil { // the folder is gone: writing fails
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := save(&train.State{}); err != nil {
		t.Fatalf("save returned %v to the training loop, want nil (the run goes on)", err)
	}
	if *saveErr == nil {
		t.Fatal("the failed save was not kept")
	}
	r, err := withSaveError(Result{Seed: 3}, nil, *saveErr)
	if r.Seed != 3 || err == nil || !strings.Contains(err.Error(), "--save-state: ") || !strings.Contains(err.Error(), "result was kept") {
		t.Errorf("withSaveError: %+v, %v", r, err)
	}
	if _, err := withSaveError(Result{}, os.ErrClosed, *saveErr); err != os.ErrClosed {
		t.Errorf("withSaveError hid the run's own error: %v", err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := save(&train.State{}); err != nil || *saveErr != nil { // a later save that succeeds clears it
		t.Errorf("a save that succeeded: %v, kept %v", err, *saveErr)
	}
}

// runTrain parses train's flags into a Spec and runs it, as the command
// does.
func runTrain(args []string) error {
	s, err := ParseArgs(args)
	if err != nil {
		return err
	}
	_, err = Run(context.Background(), s)
	return err
}
