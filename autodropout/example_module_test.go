package autodropout_test

import (
	"fmt"
	"log"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// A learned pattern is an ordinary gotch ts.ModuleT: put it after a batch
// norm in your own model. It masks (and rescales) in training and is the
// identity at evaluation.
func ExampleNewPatternDropout() {
	libtorch.ManualSeed(1)
	drop, err := autodropout.NewPatternDropout(autodropout.Pattern{Size: 2, Stride: 2, Repeat: 8}, autodropout.ScopeDefault)
	if err != nil {
		log.Fatal(err)
	}
	var layer ts.ModuleT = drop // e.g. one element of a gotch nn.SequentialT

	x := ts.MustOnes([]int64{4, 8, 16, 16}, gotch.Float, gotch.CPU)
	train := layer.ForwardT(x, true)
	eval := layer.ForwardT(x, false)
	zeros := train.MustEq(ts.FloatScalar(0), false).MustTotype(gotch.Float, true).MustMean(gotch.Float, true)
	fmt.Printf("shape %v, dropped %.2f, mean %.2f in training; mean %.2f at evaluation\n",
		train.MustSize(), zeros.Float64Values()[0],
		train.MustMean(gotch.Float, false).Float64Values()[0],
		eval.MustMean(gotch.Float, false).Float64Values()[0])
	// Output:
	// shape [4 8 16 16], dropped 0.25, mean 1.00 in training; mean 1.00 at evaluation
}
