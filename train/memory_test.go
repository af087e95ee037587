package train

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// rssMB is the resident memory of this process.
func rssMB(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	pages, _ := strconv.Atoi(strings.Fields(string(b))[1])
	return float64(pages*os.Getpagesize()) / (1 << 20)
}

// Training steps must not keep their activations: memory after warm-up stays
// flat. (gotch's in-place ops once leaked every ReLU's output: about 10 MB
// a step here.)
func TestStepMemoryIsFlat(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	m, opt, batch := wrnStep(t, 10, 1, 32, "dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3}, nil)
	run := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := step(m, opt, batch, gotch.CPU); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(10)
	before := rssMB(t)
	run(40)
	if grew := rssMB(t) - before; grew > 120 { // the leak this guards against adds ~400 MB
		t.Errorf("resident memory grew by %.0f MB over 40 steps (from %.0f MB)", grew, before)
	} else {
		t.Logf("resident memory %.0f MB, grew %.1f MB over 40 steps", before, grew)
	}
}
