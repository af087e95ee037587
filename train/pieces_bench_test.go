package train

import (
	"context"
	"fmt"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The pieces of a search besides the training step, benchmarked where the
// step's benchmarks are, so that one run compares them (autodropout bench
// prints the same comparisons as ratios).

// BenchmarkMask times drawing one site's mask alone at batch 128 on the
// maps of WRN-16-2's three groups: the hand-written pattern against
// DropBlock's and Dropout's masks of the same shape.
//
//	go test -run - -bench Mask ./train/
func BenchmarkMask(b *testing.B) {
	db, _ := autodropout.NewDropBlock(0.1, 3, autodropout.ScopeDefault)
	do, _ := autodropout.NewDropout(0.1)
	for _, s := range [][]int64{{128, 32, 28, 28}, {128, 64, 14, 14}, {128, 128, 7, 7}} {
		for _, c := range []struct {
			name string
			mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error)
		}{{"pattern", handPattern.Mask}, {"dropblock", db.Mask}, {"dropout", do.Mask}} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s[1], s[2], s[3], c.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m, err := c.mask(s[0], s[1], s[2], s[3], gotch.CPU)
					if err != nil {
						b.Fatal(err)
					}
					m.MustDrop()
				}
			})
		}
	}
}

// BenchmarkLoader measures the Fashion-MNIST loader alone as training
// configures it (batch 128, shuffled, random crops), in examples/s, to set
// against the step's examples/s (batch / BenchmarkStep's time per step).
// It needs the dataset (Debian's dataset-fashion-mnist).
func BenchmarkLoader(b *testing.B) {
	train, _, err := data.Open("fashion-mnist", "", data.OpenOptions{})
	if err != nil {
		b.Skip(err)
	}
	l, err := data.NewLoader(train, data.LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1, Augment: data.Augment{CropPad: 3}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	n, epoch := 0, 0
	for n < b.N {
		for batch := range l.Epoch(ctx, epoch) {
			n++
			_ = batch
			if n == b.N {
				cancel()
				break
			}
		}
		epoch++
	}
	b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "examples/s")
}
