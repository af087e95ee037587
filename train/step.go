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
	return step(model, opt, b, dev, nil)
}

// StepAMP is Step in amp's precision (nil: float32), as Classifier runs it
// with Config.Precision.
func StepAMP(model ts.ModuleT, opt *gnn.Optimizer, b *data.Batch, amp *AMP) (float64, error) {
	dev := gotch.CPU
	if amp != nil {
		dev = amp.Device
	}
	return step(model, opt, b, dev, amp)
}

// LMStep runs one training step of a language model, exactly as TrainLM
// does: forward on the segment x with memory mems, cross-entropy against
// y, backward, a global gradient-norm clip to clip (none when clip ≤ 0),
// optimizer step. It drops mems and returns the loss and the new memories,
// which the caller owns (also on error). x and y stay the caller's. The
// caller holds a libtorch.TrainThread.
func LMStep(vs *gnn.VarStore, opt Optimizer, model LM, x, y *ts.Tensor, mems []*ts.Tensor, clip float64) (float64, []*ts.Tensor, error) {
	return LMStepAMP(vs, opt, model, x, y, mems, clip, nil)
}

// LMStepAMP is LMStep in amp's precision (nil: float32), as TrainLM runs
// it with LMConfig.Precision. The memories it returns are in the dtype the
// layers computed (bfloat16 under bf16 autocast).
func LMStepAMP(vs *gnn.VarStore, opt Optimizer, model LM, x, y *ts.Tensor, mems []*ts.Tensor, clip float64, amp *AMP) (float64, []*ts.Tensor, error) {
	var next []*ts.Tensor
	loss, err := amp.forward(func() (*ts.Tensor, error) {
		var logits *ts.Tensor
		logits, next = model.ForwardMem(x, mems, true)
		defer logits.MustDrop()
		return LMLoss(logits, y)
	})
	for _, m := range mems {
		m.MustDrop()
	}
	if err != nil {
		return 0, next, err
	}
	defer loss.MustDrop()
	v, err := lossValue(loss, "")
	if err == nil {
		var clipFn func() error
		if clip > 0 {
			clipFn = func() error { return clipGradNorm(vs, clip) }
		}
		err = amp.backward(loss, opt, clipFn)
	}
	return v, next, err
}

// lossValue reads a scalar loss; a NaN or infinite one is ErrDiverged,
// its message followed by detail.
func lossValue(loss *ts.Tensor, detail string) (float64, error) {
	v, err := loss.Float64Value([]int64{})
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = fmt.Errorf("%w: loss is %v%s", ErrDiverged, v, detail)
	}
	return v, err
}
