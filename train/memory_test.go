package train

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
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
	libtorch.ManualSeed(1)
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewWRN(vs.Root(), 10, 1, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := autodropout.New("dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3})
	m.Sites().SetAll(reg, nil)
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	batch := &data.Batch{X: make([]float32, 32*28*28), Y: make([]int64, 32), N: 32, C: 1, H: 28, W: 28}
	for i := range batch.X {
		batch.X[i] = float32(i%89)/44 - 1
	}
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
	if grew := rssMB(t) - before; grew > 60 {
		t.Errorf("resident memory grew by %.0f MB over 40 steps (from %.0f MB)", grew, before)
	} else {
		t.Logf("resident memory %.0f MB, grew %.1f MB over 40 steps", before, grew)
	}
}
