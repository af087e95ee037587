package experiment

import (
	"fmt"
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
