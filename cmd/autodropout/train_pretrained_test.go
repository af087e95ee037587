package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// tinyPth is nn's fixture: torchvision's EfficientNet-B0 stages at width
// 0.1 and depth 0.5 with 10 classes, saved by torch.save.
var tinyPth = filepath.Join("..", "..", "nn", "testdata", "efficientnet_tiny.pth")

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
			got, err := loadPretrained(vs, &trainFlags{pretrained: tinyPth, pretrainedPartial: tc.partial}, tc.classes, 3)
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
	if _, err := parseTrainFlags([]string{"--pretrained-partial"}); err == nil || !strings.Contains(err.Error(), "needs --pretrained") {
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
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("%d files in the output folder, want only the earlier model.ot", len(entries))
	}
}
