package train

import (
	"fmt"
	"math"

	"github.com/autodropout/autodropout/data"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Step runs one training step of a classifier on b, exactly as Classifier
// does (forward, cross-entropy, backward, optimizer step), and returns the
// loss. It is exported so that benchmarks time the step that training runs.
// The caller holds a libtorch.TrainThread.
func Step(model ts.ModuleT, opt *gnn.Optimizer, b *data.Batch, dev gotch.Device) (float64, error) {
	return step(model, opt, b, dev)
}

// LMStep runs one training step of a language model, exactly as TrainLM
// does: forward on the segment x with memory mems, cross-entropy against
// y, backward, a global gradient-norm clip to clip (none when clip ≤ 0),
// optimizer step. It drops mems and returns the loss and the new memories,
// which the caller owns (also on error). x and y stay the caller's. The
// caller holds a libtorch.TrainThread.
func LMStep(vs *gnn.VarStore, opt *gnn.Optimizer, model LM, x, y *ts.Tensor, mems []*ts.Tensor, clip float64) (float64, []*ts.Tensor, error) {
	logits, next := model.ForwardMem(x, mems, true)
	for _, m := range mems {
		m.MustDrop()
	}
	loss, err := LMLoss(logits, y)
	logits.MustDrop()
	if err != nil {
		return 0, next, err
	}
	defer loss.MustDrop()
	v, err := loss.Float64Value([]int64{})
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = fmt.Errorf("%w: loss is %v", ErrDiverged, v)
	}
	if err == nil {
		err = opt.ZeroGrad()
	}
	if err == nil {
		err = loss.Backward()
	}
	if err == nil && clip > 0 {
		err = clipGradNorm(vs, clip)
	}
	if err == nil {
		err = opt.Step()
	}
	return v, next, err
}
