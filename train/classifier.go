package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Config sets the optimizer and schedule of a training run.
type Config struct {
	Epochs int
	// Optimizer is SGD ("" or "sgd": Nesterov momentum Momentum) or
	// "rmsprop" (RMSProp, TensorFlow's, EfficientNet's settings; Momentum
	// is unused).
	Optimizer   string
	LR          float64 // peak learning rate
	Momentum    float64
	WeightDecay float64
	// Schedule is the learning rate's schedule over the steps; the zero
	// value is a cosine decay from LR to 0 over the run.
	Schedule Schedule
	Device   gotch.Device
	// Precision of the forward passes, training and evaluation: fp32
	// (also ""), bf16, fp16 (CUDA) or auto (see libtorch.Resolve). The
	// weights and the optimizer stay float32.
	Precision libtorch.Precision
	Progress  io.Writer     // nil: quiet
	Every     time.Duration // progress interval (default 5s)
	// Seed reseeds libtorch's generators at the start of every epoch
	// (EpochSeed), so the masks of epoch e depend on Seed and e only: a
	// run continued from a checkpoint taken between epochs draws the same
	// masks as one that never stopped.
	Seed int64
	// Curve evaluates the validation set after every epoch and records
	// Result.Curve (the learning curves that show over-fitting), with the
	// accuracy on CurveTrain (the training examples without augmentation)
	// when set.
	Curve      bool
	CurveTrain *data.Loader
	// StopEpoch, when in [1, Epochs), ends the run after that many epochs
	// of the Epochs schedule (the learning rate follows the Epochs-long
	// cosine): a rung of successive halving.
	StopEpoch int
	// Resume continues the run from a state taken between epochs (its
	// variables, momentum buffers and step count); the caller has checked
	// its identity. Nil: start from the model's initialization.
	Resume *State
	// SaveState, when set, receives the state after the last epoch this
	// call trains (the caller owns it), so that a later call with Resume
	// continues bit-identically.
	SaveState func(*State) error
	// SaveEachEpoch calls SaveState after every epoch, not only the
	// last, so that a run that dies loses at most one epoch.
	SaveEachEpoch bool
	// Group, when set, makes this call one rank of a data-parallel run
	// (package distributed): every rank calls Classifier with the same
	// model and Config, and loaders that read its shards of the data
	// (data.LoaderConfig.Shards; training evenly, with EvenShards).
	// Rank 0's variables are broadcast at the start, a c10d Reducer
	// averages the gradients, each rank draws its masks from
	// distributed.MaskSeed, batch-norm statistics stay per rank while
	// training and rank 0's are broadcast before each evaluation, and the
	// result's loss, accuracies and examples are over all ranks. Nil: one
	// process.
	Group *distributed.Group
	// UDA, when set, trains semi-supervised: each step adds a batch of
	// the unlabeled stream and UDA's consistency term (see UDA). The
	// training loader is then the labeled set, and an epoch one pass over
	// it. Nil: supervised.
	UDA *UDA
}

// EpochSeed is the seed of libtorch's generators during epoch e of a run
// seeded with seed: distinct from seed itself, which seeds the
// initialization.
func EpochSeed(seed int64, e int) int64 { return seed*1_000_003 + int64(e) + 1 }

// Point is one epoch of a learning curve.
type Point struct {
	Epoch     int      `json:"epoch"`
	TrainLoss float64  `json:"train_loss"`          // mean over the epoch, with the regularizer on
	TrainAcc  *float64 `json:"train_acc,omitempty"` // on Config.CurveTrain, evaluated as the validation set is
	ValAcc    float64  `json:"val_acc"`
}

// DefaultConfig is SGD with Nesterov momentum 0.9, learning rate 0.05 on a
// cosine schedule, and weight decay 5e-4: the usual recipe for ResNets on
// small images; precision auto (bf16 where the device computes it
// natively, see libtorch.Resolve). A zero Config's precision is fp32.
func DefaultConfig() Config {
	return Config{Epochs: 1, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4, Device: gotch.CPU, Precision: libtorch.Auto, Every: 5 * time.Second}
}

// Result summarises a training run.
type Result struct {
	TrainLoss float64  `json:"train_loss"`         // mean over the last epoch
	ValAcc    *float64 `json:"val_acc,omitempty"`  // nil: no validation set
	TestAcc   *float64 `json:"test_acc,omitempty"` // nil: no test set
	Epochs    int      `json:"epochs"`
	Steps     int      `json:"steps"`
	Examples  int64    `json:"examples"` // training examples seen
	WallS     float64  `json:"wall_s"`
	Params    int64    `json:"params"`
	Precision string   `json:"precision"`       // the precision used: fp32, bf16 or fp16
	Curve     []Point  `json:"curve,omitempty"` // per epoch, with Config.Curve
	// UDA summarises the last epoch's UDA terms (Config.UDA).
	UDA *UDAStats `json:"uda,omitempty"`
}

// ErrDiverged is wrapped when the loss becomes NaN or infinite.
var ErrDiverged = fmt.Errorf("training diverged")

// Classifier trains model (whose parameters live in vs) on trainSet and
// returns the accuracies on valSet and testSet (either may be nil).
func Classifier(ctx context.Context, vs *gnn.VarStore, model ts.ModuleT, trainSet, valSet, testSet *data.Loader, cfg Config) (*Result, error) {
	if cfg.Epochs < 1 {
		return nil, fmt.Errorf("epochs %d: want at least 1", cfg.Epochs)
	}
	if err := checkOptimizer(cfg.LR, cfg.Momentum, cfg.WeightDecay); err != nil {
		return nil, err
	}
	if err := cfg.Schedule.Check(); err != nil {
		return nil, err
	}
	if cfg.UDA != nil {
		if err := cfg.UDA.Check(); err != nil {
			return nil, err
		}
		if cfg.Group.World() > 1 {
			return nil, fmt.Errorf("UDA trains in one process: its unlabeled stream has no shards (got %d processes)", cfg.Group.World())
		}
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	// Gradient recording is per OS thread in libtorch: stay on one thread
	// with it on (see libtorch.TrainThread).
	release, err := libtorch.TrainThread()
	if err != nil {
		return nil, err
	}
	defer release()
	start := time.Now()
	amp, err := NewAMP(cfg.Precision, vs)
	if err != nil {
		return nil, err
	}
	opt, err := newClassifierOptimizer(vs, cfg)
	if err != nil {
		return nil, err
	}
	defer opt.drop()
	res := &Result{Params: CountParams(vs), Precision: amp.String()}
	total := cfg.Epochs * trainSet.Batches()
	first, stop := 0, cfg.Epochs
	if cfg.StopEpoch > 0 && cfg.StopEpoch < cfg.Epochs {
		stop = cfg.StopEpoch
	}
	if r := cfg.Resume; r != nil {
		if r.Epochs < 1 || r.Epochs >= stop || r.Steps != r.Epochs*trainSet.Batches() {
			return nil, fmt.Errorf("resume after epoch %d (step %d) of a run that stops after epoch %d with %d steps an epoch", r.Epochs, r.Steps, stop, trainSet.Batches())
		}
		if err := opt.apply(vs, r); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		r.restoreScaler(amp)
		first, res.Epochs, res.Steps, res.Examples = r.Epochs, r.Epochs, r.Steps, r.Examples
	}
	par, err := newParallel(cfg.Group, vs, trainSet.Batches())
	if err != nil {
		return nil, err
	}
	defer par.close()
	firstExamples := res.Examples
	var uda *udaRun
	if cfg.UDA != nil { // the stream starts at the run's step: a resumed run sees what an unbroken one would
		uda = cfg.UDA.start(ctx, res.Steps)
		defer uda.stop()
	}
	lastReport := time.Now()
	for epoch := first; epoch < stop; epoch++ {
		if err := libtorch.ManualSeed(par.maskSeed(EpochSeed(cfg.Seed, epoch))); err != nil {
			return nil, err
		}
		var lossSum float64
		var lossN, epochN int
		for b := range trainSet.Epoch(ctx, epoch) {
			opt.SetLR(cfg.LR * cfg.Schedule.factor(res.Steps, total, trainSet.Batches()))
			var loss float64
			if uda != nil {
				loss, err = uda.step(ctx, model, opt.Optimizer, b, cfg.Device, amp, float64(res.Steps)/float64(total))
			} else {
				loss, err = stepRank(model, opt.Optimizer, b, cfg.Device, amp, par)
			}
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch+1, res.Steps+1, err)
			}
			lossSum += loss
			lossN++
			epochN += b.N
			res.Steps++
			if cfg.Progress != nil && time.Since(lastReport) >= cfg.Every {
				lastReport = time.Now()
				el := time.Since(start)
				done := res.Steps - first*trainSet.Batches()
				eta := time.Duration(float64(el) / float64(done) * float64(stop*trainSet.Batches()-res.Steps))
				seen := res.Examples - firstExamples + int64(epochN*max(cfg.Group.World(), 1)) // ranks alike
				udaText := ""
				if uda != nil {
					udaText = uda.progressText()
				}
				fmt.Fprintf(cfg.Progress, "  epoch %d/%d  step %d/%d  loss %.4f%s  %.0f examples/s  elapsed %s  eta %s\n",
					epoch+1, cfg.Epochs, res.Steps, total, lossSum/float64(lossN), udaText,
					float64(seen)/el.Seconds(), el.Round(time.Second), eta.Round(time.Second))
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sums, err := par.sum(lossSum, float64(lossN), float64(epochN))
		if err != nil {
			return nil, fmt.Errorf("sum the ranks' losses after epoch %d: %w", epoch+1, err)
		}
		res.TrainLoss = sums[0] / max(sums[1], 1)
		res.Examples += int64(sums[2])
		res.Epochs = epoch + 1
		if uda != nil {
			res.UDA = uda.epochStats()
		}
		if cfg.SaveEachEpoch && cfg.SaveState != nil && epoch+1 < stop {
			if err := saveState(vs, opt, amp, cfg, res); err != nil {
				return nil, err
			}
		}
		if cfg.Curve && valSet != nil {
			a, err := par.accuracy(ctx, amp, model, valSet)
			if err != nil {
				return nil, fmt.Errorf("validation after epoch %d: %w", epoch+1, err)
			}
			pt := Point{Epoch: epoch + 1, TrainLoss: res.TrainLoss, ValAcc: a}
			trainText := ""
			if cfg.CurveTrain != nil {
				ta, err := par.accuracy(ctx, amp, model, cfg.CurveTrain)
				if err != nil {
					return nil, fmt.Errorf("training accuracy after epoch %d: %w", epoch+1, err)
				}
				pt.TrainAcc = &ta
				trainText = fmt.Sprintf("  train accuracy %.4f", ta)
			}
			res.Curve = append(res.Curve, pt)
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "  epoch %d/%d  train loss %.4f%s  validation accuracy %.4f\n", epoch+1, cfg.Epochs, res.TrainLoss, trainText, a)
			}
		}
	}
	if cfg.SaveState != nil {
		if err := saveState(vs, opt, amp, cfg, res); err != nil {
			return nil, err
		}
	}
	if n := len(res.Curve); n > 0 {
		res.ValAcc = &res.Curve[n-1].ValAcc
	} else if valSet != nil {
		a, err := par.accuracy(ctx, amp, model, valSet)
		if err != nil {
			return nil, fmt.Errorf("validation: %w", err)
		}
		res.ValAcc = &a
	}
	if testSet != nil {
		a, err := par.accuracy(ctx, amp, model, testSet)
		if err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		res.TestAcc = &a
	}
	res.WallS = time.Since(start).Seconds()
	return res, nil
}

// saveState hands the state after res.Epochs epochs to cfg.SaveState.
func saveState(vs *gnn.VarStore, opt *classifierOptimizer, amp *AMP, cfg Config, res *Result) error {
	st, err := opt.capture(vs)
	if err != nil {
		return fmt.Errorf("state after epoch %d: %w", res.Epochs, err)
	}
	st.Epochs, st.Steps, st.Examples = res.Epochs, res.Steps, res.Examples
	st.saveScaler(amp)
	return cfg.SaveState(st)
}

// step runs forward, backward and the optimizer on one batch and returns the
// loss. The forward pass and the loss run in amp's precision (nil: float32).
func step(model ts.ModuleT, opt Optimizer, b *data.Batch, dev gotch.Device, amp *AMP) (float64, error) {
	return stepRank(model, opt, b, dev, amp, nil)
}

// stepRank is step on one rank of par: the gradients are averaged over the
// ranks during backward.
func stepRank(model ts.ModuleT, opt Optimizer, b *data.Batch, dev gotch.Device, amp *AMP, par *parallel) (float64, error) {
	x, y, err := b.Tensors(dev)
	if err != nil {
		return 0, err
	}
	defer x.MustDrop()
	defer y.MustDrop()
	if err := par.beforeForward(); err != nil {
		return 0, err
	}
	loss, err := amp.forward(func() (*ts.Tensor, error) {
		logits := model.ForwardT(x, true)
		defer logits.MustDrop()
		return crossEntropy(logits, y)
	})
	if err != nil {
		return 0, err
	}
	defer loss.MustDrop()
	v, err := lossValue(loss, "")
	if err != nil {
		return v, err
	}
	if err := par.beforeBackward(); err != nil {
		return v, err
	}
	return v, par.backwardErr(amp.backward(loss, opt, nil))
}

var noWeight = ts.NewTensor()

func crossEntropy(logits, y *ts.Tensor) (*ts.Tensor, error) {
	const mean, ignore = 1, -100
	return logits.CrossEntropyLoss(y, noWeight, mean, ignore, 0, false)
}

// Accuracy evaluates model (in evaluation mode, without gradients) on every
// example of l.
func Accuracy(ctx context.Context, model ts.ModuleT, l *data.Loader, dev gotch.Device) (float64, error) {
	correct, n, err := accuracyCounts(ctx, model, l, dev)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("no examples to evaluate")
	}
	return float64(correct) / float64(n), nil
}

// accuracyCounts counts the examples of l that model classifies right.
func accuracyCounts(ctx context.Context, model ts.ModuleT, l *data.Loader, dev gotch.Device) (correct, n int64, err error) {
	noGradErr := libtorch.NoGrad(func() {
		for b := range l.Epoch(ctx, 0) {
			var x, y *ts.Tensor
			if x, y, err = b.Tensors(dev); err != nil {
				return
			}
			logits := model.ForwardT(x, false)
			pred := logits.MustArgmax([]int64{-1}, false, true)
			eq := pred.MustEqTensor(y, true)
			sum := eq.MustSum(gotch.Int64, true)
			correct += sum.Int64Values()[0]
			sum.MustDrop()
			x.MustDrop()
			y.MustDrop()
			n += int64(b.N)
		}
	})
	if err == nil {
		err = noGradErr
	}
	if err == nil {
		err = ctx.Err()
	}
	return correct, n, err
}

// accuracy is Accuracy in the precision's autocast region.
func (a *AMP) accuracy(ctx context.Context, model ts.ModuleT, l *data.Loader) (float64, error) {
	exit, err := a.Autocast()
	if err != nil {
		return 0, err
	}
	acc, err := Accuracy(ctx, model, l, a.Device)
	if xerr := exit(); err == nil {
		err = xerr
	}
	return acc, err
}

// CountParams returns the number of trainable scalars in vs.
func CountParams(vs *gnn.VarStore) int64 {
	var n int64
	for _, t := range vs.TrainableVariables() {
		n += int64(t.Numel())
	}
	return n
}

// checkOptimizer checks an optimizer's settings before libtorch does: its
// refusal comes with a C++ stack trace.
func checkOptimizer(lr, momentum, weightDecay float64) error {
	for _, v := range []struct {
		name string
		x    float64
	}{{"learning rate", lr}, {"momentum", momentum}, {"weight decay", weightDecay}} {
		if math.IsNaN(v.x) || math.IsInf(v.x, 0) || v.x < 0 {
			return fmt.Errorf("%s %v: want a finite number ≥ 0", v.name, v.x)
		}
	}
	return nil
}
