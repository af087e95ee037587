package search

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRealSearch runs a tiny search whose trials train convnet on 512
// Fashion-MNIST examples through the real autodropout binary.
func TestRealSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains real models")
	}
	const dataDir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dataDir); err != nil {
		t.Skip("no Fashion-MNIST:", err)
	}
	bin := filepath.Join(t.TempDir(), "autodropout")
	build := exec.Command("go", "build", "-o", bin, "../cmd/autodropout")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := Config{Budget: 2, Parallel: 1, SamplesPerUpdate: 2, Cores: 1,
		Task: Task{Model: "convnet", DataDir: dataDir, TrainSubset: 512, Epochs: 1, BatchSize: 64, Timeout: "5m"}}.WithDefaults()
	out := t.TempDir()
	s := &Search{Config: cfg, Sites: []string{"bn1", "bn2"}, Out: out, Executor: &LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary %+v", sum)
	if sum.Finished != 2 || sum.Failures != 0 {
		evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		t.Fatalf("summary %+v; journal %+v", sum, evs)
	}
	if sum.BestReward <= 0.1 || sum.BestReward > 1 || sum.CPUS <= 0 || sum.Updates != 1 {
		t.Errorf("summary %+v: want a reward above chance, CPU time and one update", sum)
	}
	for _, f := range []string{"summary.json", "controller.json", "journal.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
