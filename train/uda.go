package train

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The UDA defaults, from the UDA paper's code (google-research/uda,
// image/main.py and its CIFAR-10 scripts; docs/method.md lists what was
// checked where).
const (
	// DefaultUDAWeight is λ, the consistency term's weight: main.py's
	// unsup_coeff default, "setting unsup_coeff to 1 works for most
	// settings".
	DefaultUDAWeight = 1.0
	// DefaultUDATemperature is τ, the softmax temperature that sharpens
	// the target (uda_softmax_temp 0.4 in the CIFAR-10 GPU script for
	// every label count).
	DefaultUDATemperature = 0.4
	// DefaultUDAThreshold is β, the confidence below which an unlabeled
	// image adds nothing (uda_confidence_thresh 0.8 there; the paper uses
	// 0.5 for ImageNet).
	DefaultUDAThreshold = 0.8
	// DefaultUDARatio is μ, the unlabeled batch's size over the labeled
	// one's (unsup_ratio 7 with train_batch_size 64 there).
	DefaultUDARatio = 7
)

// TSASchedules are the training signal annealing schedules (UDA §3.2,
// main.py's get_tsa_threshold); "" is none.
var TSASchedules = []string{"linear", "log", "exp"}

// UDA is the semi-supervised mode of Classifier: Unsupervised Data
// Augmentation (Xie, Dai, Hovy, Luong & Le, NeurIPS 2020). Every step
// takes the labeled batch of the training loader and the next batch of
// Unlabeled (the labeled batch size times μ), and minimizes
//
//	CE(labeled) + Weight · mean over the unlabeled batch of
//	    1[max p(weak) > Threshold] · KL(softmax(z(weak)/Temperature) ‖ p(strong))
//
// where z(weak) are the logits of the weakly augmented view, computed
// without gradient, and p(strong) the prediction on the RandAugment view.
// As in the reference code, the confidence is taken from the unsharpened
// prediction and the mean runs over the whole unlabeled batch (masked
// images count as zeros).
//
// The labeled batch and the strong view go through the model in one
// forward pass (one batch-norm batch, as the reference concatenates its
// views), with the regularizers on: they are the student's passes. The
// weak view's target pass runs in training mode (batch statistics) with
// the regularizers switched off by Unregularized: the target should be
// the model's cleanest guess, and noise there would only blur it.
type UDA struct {
	Unlabeled   ViewSource
	Weight      float64 // λ > 0
	Temperature float64 // τ in (0, 1]; 1 leaves the target unsharpened
	Threshold   float64 // β in [0, 1); 0 masks nothing
	// TSA anneals the labeled loss (training signal annealing): a labeled
	// example whose correct class has probability above the schedule's
	// threshold, rising from 1/classes to 1 over the run, adds nothing.
	// "" is none; else one of TSASchedules.
	TSA string
	// Unregularized switches the model's regularizers off for the
	// target's pass and returns the function that switches them back on;
	// nil: the model has none to switch.
	Unregularized func() (restore func())
}

// ViewSource is UDA's unlabeled stream: batches from, from+1, … of
// images in a weak and a strong view, batch k the same whenever it is
// asked for (data.ViewStream from memory, data.FolderViewStream from
// files). The channel must close once ctx is done: the training cancels
// it when it ends and waits for the close.
type ViewSource interface {
	Batches(ctx context.Context, from int) <-chan *data.ViewBatch
}

// isNilPointer reports whether v holds a nil pointer: an interface that is
// not nil itself but whose every method would dereference nil.
func isNilPointer(v any) bool {
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// Check names the first setting of u out of range.
func (u *UDA) Check() error {
	switch {
	case u.Unlabeled == nil, isNilPointer(u.Unlabeled):
		return fmt.Errorf("uda: no unlabeled stream")
	case !(u.Weight > 0) || math.IsInf(u.Weight, 0):
		return fmt.Errorf("uda weight λ %v: want a finite number > 0", u.Weight)
	case !(u.Temperature > 0 && u.Temperature <= 1):
		return fmt.Errorf("uda temperature τ %v: want (0, 1] (1: no sharpening)", u.Temperature)
	case !(u.Threshold >= 0 && u.Threshold < 1):
		return fmt.Errorf("uda threshold β %v: want [0, 1) (0: no masking)", u.Threshold)
	case u.TSA != "" && !slices.Contains(TSASchedules, u.TSA):
		return fmt.Errorf("tsa %q: want linear, log or exp (or none)", u.TSA)
	}
	return nil
}

// TSAThreshold is training signal annealing's threshold after the share
// progress in [0, 1] of the run, for classes classes: schedule linear,
// log or exp from 1/classes to 1 (UDA's get_tsa_threshold, scale 5); 1
// (nothing annealed) for "".
func TSAThreshold(schedule string, progress float64, classes int) float64 {
	var c float64
	switch schedule {
	case "linear":
		c = progress
	case "log":
		c = 1 - math.Exp(-5*progress)
	case "exp":
		c = math.Exp(5 * (progress - 1))
	default:
		return 1
	}
	start := 1 / float64(classes)
	return c*(1-start) + start
}

// UDAStats summarise the last epoch of a UDA run.
type UDAStats struct {
	SupLoss   float64 `json:"sup_loss"`   // the labeled cross-entropy (after TSA), mean over the epoch's steps
	UnsupLoss float64 `json:"unsup_loss"` // the consistency term before λ
	Confident float64 `json:"confident"`  // share of unlabeled images above the confidence threshold β
	// TSAKept is the share of labeled examples TSA kept in the loss
	// (absent without TSA).
	TSAKept *float64 `json:"tsa_kept,omitempty"`
}

// udaRun is a Classifier run's UDA state: the stream and the epoch's sums.
type udaRun struct {
	*UDA
	batches <-chan *data.ViewBatch
	stop    context.CancelFunc
	sums    [4]float64 // sup, unsup, confident, tsa kept
	n       int
}

// start opens the unlabeled stream at batch from (the run's step).
func (u *UDA) start(ctx context.Context, from int) *udaRun {
	ctx, stop := context.WithCancel(ctx)
	return &udaRun{UDA: u, batches: u.Unlabeled.Batches(ctx, from), stop: stop}
}

// close stops the unlabeled stream and waits for it to end, so that its
// workers write nothing more (to its log, or to its skip counts) once the
// run has ended.
func (r *udaRun) close() {
	r.stop()
	for range r.batches {
	}
}

// epochStats returns the epoch's means over every rank of par and resets
// the sums. Every rank must call it.
func (r *udaRun) epochStats(par *parallel) (*UDAStats, error) {
	sums, err := par.sum(r.sums[0], r.sums[1], r.sums[2], r.sums[3], float64(r.n))
	if err != nil {
		return nil, fmt.Errorf("sum the ranks' UDA terms: %w", err)
	}
	r.sums, r.n = [4]float64{}, 0
	n := max(sums[4], 1)
	st := &UDAStats{SupLoss: sums[0] / n, UnsupLoss: sums[1] / n, Confident: sums[2] / n}
	if r.TSA != "" {
		k := sums[3] / n
		st.TSAKept = &k
	}
	return st, nil
}

// progressText is the epoch so far, for progress lines.
func (r *udaRun) progressText() string {
	n := float64(max(r.n, 1))
	return fmt.Sprintf("  (labeled %.4f, consistency %.4f, confident %.0f%%)", r.sums[0]/n, r.sums[1]/n, 100*r.sums[2]/n)
}

// step runs one UDA step on the labeled batch b and the next unlabeled
// batch at progress (the share of the run done), as one rank of par, and
// returns the loss. The target's pass runs without gradients, so only the
// student's pass is the Reducer's forward.
func (r *udaRun) step(ctx context.Context, model ts.ModuleT, opt Optimizer, b *data.Batch, dev gotch.Device, amp *AMP, par *parallel, progress float64) (float64, error) {
	var vb *data.ViewBatch
	select {
	case vb = <-r.batches:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	x, y, err := b.Tensors(dev)
	if err != nil {
		return 0, err
	}
	defer x.MustDrop()
	defer y.MustDrop()
	weak, strong, err := vb.Tensors(dev)
	if err != nil {
		return 0, err
	}
	defer weak.MustDrop()
	defer strong.MustDrop()
	logTarget, mask, err := r.target(model, weak, amp)
	if err != nil {
		return 0, fmt.Errorf("uda target: %w", err)
	}
	defer logTarget.MustDrop()
	defer mask.MustDrop()
	var parts [4]float64
	if err := par.beforeForward(); err != nil {
		return 0, err
	}
	loss, err := amp.forward(func() (*ts.Tensor, error) {
		in, err := ts.Cat([]*ts.Tensor{x, strong}, 0)
		if err != nil {
			return nil, err
		}
		logits := model.ForwardT(in, true)
		in.MustDrop()
		defer logits.MustDrop()
		return r.loss(logits, y, logTarget, mask, int64(b.N), progress, &parts)
	})
	if err != nil {
		return 0, err
	}
	defer loss.MustDrop()
	v, err := lossValue(loss, fmt.Sprintf(" (labeled %v, consistency %v)", parts[0], parts[1]))
	if err != nil {
		return v, err
	}
	for i, p := range parts {
		r.sums[i] += p
	}
	r.n++
	if err := par.beforeBackward(); err != nil {
		return v, err
	}
	return v, par.backwardErr(amp.backward(loss, opt, nil))
}

// target computes the sharpened log-target log softmax(z/τ) of the weak
// view and the confidence mask (1 where max softmax(z) > β), without
// gradient and with the regularizers off.
func (r *udaRun) target(model ts.ModuleT, weak *ts.Tensor, amp *AMP) (logTarget, mask *ts.Tensor, err error) {
	if r.Unregularized != nil {
		defer r.Unregularized()()
	}
	var ops tensors
	defer func() { ops.drop(logTarget, mask) }()
	gradErr := libtorch.NoGrad(func() {
		exit, err := amp.Autocast()
		if err != nil {
			ops.err = err
			return
		}
		logits := ops.keep(model.ForwardT(weak, true), nil)
		if err := exit(); err != nil && ops.err == nil {
			ops.err = err
		}
		z := ops.do(func() (*ts.Tensor, error) { return logits.Totype(gotch.Float, false) })
		scaled := ops.do(func() (*ts.Tensor, error) { return z.DivScalar(ts.FloatScalar(r.Temperature), false) })
		logTarget = ops.do(func() (*ts.Tensor, error) { return scaled.LogSoftmax(-1, gotch.Float, false) })
		p := ops.do(func() (*ts.Tensor, error) { return z.Softmax(-1, gotch.Float, false) })
		top := ops.do(func() (*ts.Tensor, error) { return p.Amax([]int64{-1}, false, false) })
		above := ops.do(func() (*ts.Tensor, error) { return top.Gt(ts.FloatScalar(r.Threshold), false) })
		mask = ops.do(func() (*ts.Tensor, error) { return above.Totype(gotch.Float, false) })
	})
	if err = cmpErr(ops.err, gradErr); err != nil {
		return nil, nil, err
	}
	return logTarget, mask, nil
}

// loss is the UDA loss of the student's logits (the labeled batch's nL
// rows, then the strong view's); parts receives the labeled loss, the
// consistency term, the confident share and TSA's kept share.
func (r *udaRun) loss(logits, y, logTarget, mask *ts.Tensor, nL int64, progress float64, parts *[4]float64) (loss *ts.Tensor, err error) {
	var ops tensors
	defer func() { ops.drop(loss) }()
	size, err := logits.Size()
	if err != nil {
		return nil, err
	}
	nU, classes := size[0]-nL, size[1]
	sup := ops.do(func() (*ts.Tensor, error) { return logits.Narrow(0, 0, nL, false) })
	aug := ops.do(func() (*ts.Tensor, error) { return logits.Narrow(0, nL, nU, false) })
	supLoss, kept := r.supLoss(&ops, sup, y, TSAThreshold(r.TSA, progress, int(classes)))
	// KL(target ‖ p(strong)) = Σ target · (log target − log p(strong)).
	logQ := ops.do(func() (*ts.Tensor, error) { return aug.LogSoftmax(-1, gotch.Float, false) })
	target := ops.do(func() (*ts.Tensor, error) { return logTarget.Exp(false) })
	diff := ops.do(func() (*ts.Tensor, error) { return logTarget.Sub(logQ, false) })
	terms := ops.do(func() (*ts.Tensor, error) { return target.Mul(diff, false) })
	kl := ops.do(func() (*ts.Tensor, error) { return terms.SumDimIntlist([]int64{-1}, false, gotch.Float, false) })
	masked := ops.do(func() (*ts.Tensor, error) { return kl.Mul(mask, false) })
	unsup := ops.do(func() (*ts.Tensor, error) { return masked.Mean(gotch.Float, false) })
	weighted := ops.do(func() (*ts.Tensor, error) { return unsup.MulScalar(ts.FloatScalar(r.Weight), false) })
	loss = ops.do(func() (*ts.Tensor, error) { return supLoss.Add(weighted, false) })
	confident := ops.do(func() (*ts.Tensor, error) { return mask.Mean(gotch.Float, false) })
	if ops.err != nil {
		return nil, ops.err
	}
	for i, t := range []*ts.Tensor{supLoss, unsup, confident, kept} {
		if t != nil {
			parts[i] = t.Float64Values(false)[0]
		}
	}
	return loss, nil
}

// supLoss is the labeled batch's cross-entropy; below a TSA threshold
// under 1, the mean over the examples whose correct-class probability is
// at most the threshold (UDA's anneal_sup_loss), with the kept share.
func (r *udaRun) supLoss(ops *tensors, logits, y *ts.Tensor, threshold float64) (loss, kept *ts.Tensor) {
	if threshold >= 1 {
		return ops.do(func() (*ts.Tensor, error) { return crossEntropy(logits, y) }), nil
	}
	const none, ignore = 0, -100
	ce := ops.do(func() (*ts.Tensor, error) { return logits.CrossEntropyLoss(y, noWeight, none, ignore, 0, false) })
	p := ops.do(func() (*ts.Tensor, error) { return logits.Softmax(-1, gotch.Float, false) })
	col := ops.do(func() (*ts.Tensor, error) { return y.Unsqueeze(1, false) })
	pc := ops.do(func() (*ts.Tensor, error) { return p.Gather(1, col, false, false) })
	below := ops.do(func() (*ts.Tensor, error) { return pc.Le(ts.FloatScalar(threshold), false) })
	keep := ops.do(func() (*ts.Tensor, error) { return below.Totype(gotch.Float, false) })
	flat := ops.do(func() (*ts.Tensor, error) { return keep.Squeeze(false) })
	prod := ops.do(func() (*ts.Tensor, error) { return ce.Mul(flat, false) })
	num := ops.do(func() (*ts.Tensor, error) { return prod.Sum(gotch.Float, false) })
	den := ops.do(func() (*ts.Tensor, error) { return flat.Sum(gotch.Float, false) })
	den1 := ops.do(func() (*ts.Tensor, error) { return den.ClampMin(ts.FloatScalar(1), false) })
	loss = ops.do(func() (*ts.Tensor, error) { return num.Div(den1, false) })
	kept = ops.do(func() (*ts.Tensor, error) { return flat.Mean(gotch.Float, false) })
	return loss, kept
}

// tensors runs a chain of fallible tensor ops: do skips once one failed,
// and drop frees every intermediate but the results kept.
type tensors struct {
	all []*ts.Tensor
	err error
}

func (o *tensors) do(f func() (*ts.Tensor, error)) *ts.Tensor {
	if o.err != nil {
		return nil
	}
	t, err := f()
	return o.keep(t, err)
}

func (o *tensors) keep(t *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		if o.err == nil {
			o.err = err
		}
		return nil
	}
	o.all = append(o.all, t)
	return t
}

// drop frees every tensor made but keep (and all of them after an error).
func (o *tensors) drop(keep ...*ts.Tensor) {
	for _, t := range o.all {
		if o.err != nil || !slices.Contains(keep, t) {
			t.MustDrop()
		}
	}
}

func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
