package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/trial"
)

// Final runs go seed by seed, each seed's labels in their order.
func TestSeedMajor(t *testing.T) {
	var runs []trainRun
	for _, label := range []string{"supervised", "none", "dropout"} {
		runs = append(runs, finalRuns("out", label, trial.Regularizer{}, []int64{3, 1, 2})...)
	}
	seedMajor(runs, []int64{3, 1, 2})
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s/%d", r.label, r.seed))
	}
	want := "supervised/3 none/3 dropout/3 supervised/1 none/1 dropout/1 supervised/2 none/2 dropout/2"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// A training's progress line gives the scores its result has: accuracies,
// or perplexities, validation alone for grid and reward-noise runs.
func TestResultLine(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"val_acc": 0.85, "test_acc": 0.84, "wall_s": 12}`, "val acc 0.8500  test acc 0.8400  12s"},
		{`{"val_acc": 0.85, "wall_s": 12}`, "val acc 0.8500  12s"},
		{`{"val_ppl": 100.25, "test_ppl": 95.5, "wall_s": 12}`, "val ppl 100.25  test ppl 95.50  12s"},
		{`{"val_ppl": 100.25, "wall_s": 12}`, "val ppl 100.25  12s"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "result.json"), []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := resultLine(dir); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}
