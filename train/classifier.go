package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Config sets the optimizer and schedule of a training run.
type Config struct {
	Epochs      int
	LR          float64 // peak learning rate of SGD with Nesterov momentum
	Momentum    float64
	WeightDecay float64
	Device      gotch.Device
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
	if cfg.UDA != nil {
		if err := cfg.UDA.Check(); err != nil {
			return nil, err
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
	opt, err := gnn.NewSGDConfig(cfg.Momentum, 0, cfg.WeightDecay, cfg.Momentum > 0).Build(vs, cfg.LR)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
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
		if err := applyState(vs, opt, r, cfg.Momentum); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		r.restoreScaler(amp)
		first, res.Epochs, res.Steps, res.Examples = r.Epochs, r.Epochs, r.Steps, r.Examples
	}
	firstExamples := res.Examples
	var uda *udaRun
	if cfg.UDA != nil { // the stream starts at the run's step: a resumed run sees what an unbroken one would
		uda = cfg.UDA.start(ctx, res.Steps)
		defer uda.stop()
	}
	lastReport := time.Now()
	for epoch := first; epoch < stop; epoch++ {
		if err := libtorch.ManualSeed(EpochSeed(cfg.Seed, epoch)); err != nil {
			return nil, err
		}
		var lossSum float64
		var lossN int
		for b := range trainSet.Epoch(ctx, epoch) {
			// Cosine decay from LR to 0 over the run, per step.
			opt.SetLR(cfg.LR * 0.5 * (1 + math.Cos(math.Pi*float64(res.Steps)/float64(total))))
			var loss float64
			if uda != nil {
				loss, err = uda.step(ctx, model, opt, b, cfg.Device, amp, float64(res.Steps)/float64(total))
			} else {
				loss, err = step(model, opt, b, cfg.Device, amp)
			}
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch+1, res.Steps+1, err)
			}
			lossSum += loss
			lossN++
			res.Steps++
			res.Examples += int64(b.N)
			if cfg.Progress != nil && time.Since(lastReport) >= cfg.Every {
				lastReport = time.Now()
				el := time.Since(start)
				done := res.Steps - first*trainSet.Batches()
				eta := time.Duration(float64(el) / float64(done) * float64(stop*trainSet.Batches()-res.Steps))
				udaText := ""
				if uda != nil {
					udaText = uda.progressText()
				}
				fmt.Fprintf(cfg.Progress, "  epoch %d/%d  step %d/%d  loss %.4f%s  %.0f examples/s  elapsed %s  eta %s\n",
					epoch+1, cfg.Epochs, res.Steps, total, lossSum/float64(lossN), udaText,
					float64(res.Examples-firstExamples)/el.Seconds(), el.Round(time.Second), eta.Round(time.Second))
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res.TrainLoss = lossSum / float64(max(lossN, 1))
		res.Epochs = epoch + 1
		if uda != nil {
			res.UDA = uda.epochStats()
		}
		if cfg.Curve && valSet != nil {
			a, err := amp.accuracy(ctx, model, valSet)
			if err != nil {
				return nil, fmt.Errorf("validation after epoch %d: %w", epoch+1, err)
			}
			pt := Point{Epoch: epoch + 1, TrainLoss: res.TrainLoss, ValAcc: a}
			trainText := ""
			if cfg.CurveTrain != nil {
				ta, err := amp.accuracy(ctx, model, cfg.CurveTrain)
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
		st, err := captureState(vs, opt, cfg.Momentum)
		if err != nil {
			return nil, fmt.Errorf("state after epoch %d: %w", res.Epochs, err)
		}
		st.Epochs, st.Steps, st.Examples = res.Epochs, res.Steps, res.Examples
		st.saveScaler(amp)
		if err := cfg.SaveState(st); err != nil {
			return nil, err
		}
	}
	if n := len(res.Curve); n > 0 {
		res.ValAcc = &res.Curve[n-1].ValAcc
	} else if valSet != nil {
		a, err := amp.accuracy(ctx, model, valSet)
		if err != nil {
			return nil, fmt.Errorf("validation: %w", err)
		}
		res.ValAcc = &a
	}
	if testSet != nil {
		a, err := amp.accuracy(ctx, model, testSet)
		if err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		res.TestAcc = &a
	}
	res.WallS = time.Since(start).Seconds()
	return res, nil
}

// step runs forward, backward and the optimizer on one batch and returns the
// loss. The forward pass and the loss run in amp's precision (nil: float32).
func step(model ts.ModuleT, opt Optimizer, b *data.Batch, dev gotch.Device, amp *AMP) (float64, error) {
	x, y, err := b.Tensors(dev)
	if err != nil {
		return 0, err
	}
	defer x.MustDrop()
	defer y.MustDrop()
	loss, err := amp.forward(func() (*ts.Tensor, error) {
		logits := model.ForwardT(x, true)
		defer logits.MustDrop()
		return crossEntropy(logits, y)
	})
	if err != nil {
		return 0, err
	}
	defer loss.MustDrop()
	v, err := loss.Float64Value([]int64{})
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v, fmt.Errorf("%w: loss is %v", ErrDiverged, v)
	}
	return v, amp.backward(loss, opt, nil)
}

var noWeight = ts.NewTensor()

func crossEntropy(logits, y *ts.Tensor) (*ts.Tensor, error) {
	const mean, ignore = 1, -100
	return logits.CrossEntropyLoss(y, noWeight, mean, ignore, 0, false)
}

// Accuracy evaluates model (in evaluation mode, without gradients) on every
// example of l.
func Accuracy(ctx context.Context, model ts.ModuleT, l *data.Loader, dev gotch.Device) (float64, error) {
	var correct, n int64
	var err error
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
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("no examples to evaluate")
	}
	return float64(correct) / float64(n), ctx.Err()
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
