package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autodropout/autodropout/search"
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

// A data-parallel task's plan says so: its searches' wall time is on
// parallel × nproc accelerators, its memory is per process, and the final
// runs say how many processes each takes.
func TestPlanNproc(t *testing.T) {
	dir := t.TempDir()
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 4, "parallel": 2, "task": {"model": "convnet", "data": "fashion-mnist", "nproc": 2}}`), 0o644)
	ecfg := filepath.Join(dir, "study.json")
	os.WriteFile(ecfg, []byte(`{"search": "`+scfg+`", "final": {"model": "convnet", "nproc": 4, "seeds": [1], "drop_rate": 0.1, "block_size": 3}}`), 0o644)
	cfg, err := ReadConfig(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := search.ReadConfig(scfg)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	if err := WritePlan(&plan, cfg, sc, []string{"bn1", "bn2"}, 40); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"on 4 accelerators (2 trials at a time of 2 processes each)", "at batch 128 on each of 2 processes", "1 at a time of 4 processes each"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan.String())
		}
	}
}

func TestHoursMinutes(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{12 * time.Second, "12s"}, {0, "0s"}, {90 * time.Second, "2m"}, {59*time.Minute + 40*time.Second, "1h00m"}, {277 * time.Minute, "4h37m"},
	} {
		if got := hoursMinutes(tc.d); got != tc.want {
			t.Errorf("hoursMinutes(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestTimeText(t *testing.T) {
	for _, tc := range []struct {
		flops, tflops float64
		n             int
		want          string
	}{
		{2e12, 40, 1, "under a second"}, {80e12, 40, 1, "2 s"}, {40e12 * 600, 40, 2, "5.0 min"}, {40e12 * 7200, 40, 1, "2.0 h"}, {40e12 * 86400 * 3, 40, 1, "3.0 days"},
	} {
		if got := timeText(tc.flops, tc.tflops, tc.n); got != tc.want {
			t.Errorf("timeText(%g, %g, %d) = %q, want %q", tc.flops, tc.tflops, tc.n, got, tc.want)
		}
	}
}
