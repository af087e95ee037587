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
	if err := cfg.check(); err != nil {
		return nil, err
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
	r, err := startClassifier(ctx, vs, model, trainSet, cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for epoch := r.first; epoch < r.stop; epoch++ {
		if err := r.trainEpoch(ctx, epoch); err != nil {
			return nil, err
		}
		if err := r.endEpoch(ctx, epoch, valSet); err != nil {
			return nil, err
		}
	}
	return r.finish(ctx, valSet, testSet)
}

// check refuses a Config no run can train.
func (cfg Config) check() error {
	if cfg.Epochs < 1 {
		return fmt.Errorf("epochs %d: want at least 1", cfg.Epochs)
	}
	if err := checkOptimizer(cfg.LR, cfg.Momentum, cfg.WeightDecay); err != nil {
		return err
	}
	if err := cfg.Schedule.Check(); err != nil {
		return err
	}
	if cfg.UDA != nil {
		if err := cfg.UDA.Check(); err != nil {
			return err
		}
	}
	return nil
}

// classifierRun is one call of Classifier: its optimizer, precision,
// ranks, unlabeled stream and the result so far.
type classifierRun struct {
	cfg      Config
	vs       *gnn.VarStore
	model    ts.ModuleT
	trainSet *data.Loader
	amp      *AMP
	opt      *classifierOptimizer
	par      *parallel
	uda      *udaRun // nil: supervised
	res      *Result

	first, stop   int // the epochs this call trains: [first, stop)
	total         int // the schedule's steps (all Epochs)
	start         time.Time
	firstExamples int64 // res.Examples at the start (resumed runs)
	lastReport    time.Time
}

// startClassifier builds the optimizer, applies cfg.Resume, joins the
// ranks and starts the unlabeled stream.
func startClassifier(ctx context.Context, vs *gnn.VarStore, model ts.ModuleT, trainSet *data.Loader, cfg Config) (_ *classifierRun, err error) {
	r := &classifierRun{cfg: cfg, vs: vs, model: model, trainSet: trainSet, start: time.Now(),
		stop: cfg.Epochs, total: cfg.Epochs * trainSet.Batches()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if cfg.StopEpoch > 0 && cfg.StopEpoch < cfg.Epochs {
		r.stop = cfg.StopEpoch
	}
	if r.amp, err = NewAMP(cfg.Precision, vs); err != nil {
		return nil, err
	}
	if r.opt, err = newClassifierOptimizer(vs, cfg); err != nil {
		return nil, err
	}
	r.res = &Result{Params: CountParams(vs), Precision: r.amp.String()}
	if st := cfg.Resume; st != nil {
		if st.Epochs < 1 || st.Epochs >= r.stop || st.Steps != st.Epochs*trainSet.Batches() {
			return nil, fmt.Errorf("resume after epoch %d (step %d) of a run that stops after epoch %d with %d steps an epoch", st.Epochs, st.Steps, r.stop, trainSet.Batches())
		}
		if err := r.opt.apply(vs, st); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		st.restoreScaler(r.amp)
		r.first, r.res.Epochs, r.res.Steps, r.res.Examples = st.Epochs, st.Epochs, st.Steps, st.Examples
	}
	if r.par, err = newParallel(cfg.Group, vs, trainSet.Batches()); err != nil {
		return nil, err
	}
	r.firstExamples = r.res.Examples
	if cfg.UDA != nil { // the stream starts at the run's step: a resumed run sees what an unbroken one would
		r.uda = cfg.UDA.start(ctx, r.res.Steps)
	}
	r.lastReport = time.Now()
	return r, nil
}

// close stops the unlabeled stream and frees the ranks and the optimizer.
func (r *classifierRun) close() {
	if r.uda != nil {
		r.uda.close()
	}
	if r.par != nil {
		r.par.close()
	}
	if r.opt != nil {
		r.opt.drop()
	}
}

// trainEpoch trains one pass over the training loader, with its masks
// drawn from the epoch's seed, and sums the ranks' losses into res.
func (r *classifierRun) trainEpoch(ctx context.Context, epoch int) error {
	cfg, res := r.cfg, r.res
	if err := libtorch.ManualSeed(r.par.maskSeed(EpochSeed(cfg.Seed, epoch))); err != nil {
		return err
	}
	var lossSum float64
	var lossN, epochN int
	for b := range r.trainSet.Epoch(ctx, epoch) {
		r.opt.SetLR(cfg.LR * cfg.Schedule.factor(res.Steps, r.total, r.trainSet.Batches()))
		var loss float64
		var err error
		if r.uda != nil {
			loss, err = r.uda.step(ctx, r.model, r.opt.Optimizer, b, cfg.Device, r.amp, r.par, float64(res.Steps)/float64(r.total))
		} else {
			loss, err = stepRank(r.model, r.opt.Optimizer, b, cfg.Device, r.amp, r.par)
		}
		if err != nil {
			return fmt.Errorf("epoch %d step %d: %w", epoch+1, res.Steps+1, err)
		}
		lossSum += loss
		lossN++
		epochN += b.N
		res.Steps++
		r.progress(epoch, lossSum/float64(lossN), epochN)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sums, err := r.par.sum(lossSum, float64(lossN), float64(epochN))
	if err != nil {
		return fmt.Errorf("sum the ranks' losses after epoch %d: %w", epoch+1, err)
	}
	res.TrainLoss = sums[0] / max(sums[1], 1)
	res.Examples += int64(sums[2])
	res.Epochs = epoch + 1
	if r.uda != nil {
		if res.UDA, err = r.uda.epochStats(r.par); err != nil {
			return err
		}
	}
	return nil
}

// progress prints a progress line every cfg.Every: the epoch's mean loss
// so far, throughput and the time left.
func (r *classifierRun) progress(epoch int, loss float64, epochN int) {
	cfg, res := r.cfg, r.res
	if cfg.Progress == nil || time.Since(r.lastReport) < cfg.Every {
		return
	}
	r.lastReport = time.Now()
	el := time.Since(r.start)
	batches := r.trainSet.Batches()
	done := res.Steps - r.first*batches
	eta := time.Duration(float64(el) / float64(done) * float64(r.stop*batches-res.Steps))
	seen := res.Examples - r.firstExamples + int64(epochN*max(cfg.Group.World(), 1)) // ranks alike
	udaText := ""
	if r.uda != nil {
		udaText = r.uda.progressText()
	}
	fmt.Fprintf(cfg.Progress, "  epoch %d/%d  step %d/%d  loss %.4f%s  %.0f examples/s  elapsed %s  eta %s\n",
		epoch+1, cfg.Epochs, res.Steps, r.total, loss, udaText,
		float64(seen)/el.Seconds(), el.Round(time.Second), eta.Round(time.Second))
}

// endEpoch saves the state between epochs (SaveEachEpoch) and records the
// learning curve's point (Curve).
func (r *classifierRun) endEpoch(ctx context.Context, epoch int, valSet *data.Loader) error {
	cfg, res := r.cfg, r.res
	if cfg.SaveEachEpoch && cfg.SaveState != nil && epoch+1 < r.stop {
		if err := saveState(r.vs, r.opt, r.amp, cfg, res); err != nil {
			return err
		}
	}
	if !cfg.Curve || valSet == nil {
		return nil
	}
	a, err := r.par.accuracy(ctx, r.amp, r.model, valSet)
	if err != nil {
		return fmt.Errorf("validation after epoch %d: %w", epoch+1, err)
	}
	pt := Point{Epoch: epoch + 1, TrainLoss: res.TrainLoss, ValAcc: a}
	trainText := ""
	if cfg.CurveTrain != nil {
		ta, err := r.par.accuracy(ctx, r.amp, r.model, cfg.CurveTrain)
		if err != nil {
			return fmt.Errorf("training accuracy after epoch %d: %w", epoch+1, err)
		}
		pt.TrainAcc = &ta
		trainText = fmt.Sprintf("  train accuracy %.4f", ta)
	}
	res.Curve = append(res.Curve, pt)
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "  epoch %d/%d  train loss %.4f%s  validation accuracy %.4f\n", epoch+1, cfg.Epochs, res.TrainLoss, trainText, a)
	}
	return nil
}

// finish saves the final state and evaluates the validation set (unless
// the curve's last point did) and the test set.
func (r *classifierRun) finish(ctx context.Context, valSet, testSet *data.Loader) (*Result, error) {
	res := r.res
	if r.cfg.SaveState != nil {
		if err := saveState(r.vs, r.opt, r.amp, r.cfg, res); err != nil {
			return nil, err
		}
	}
	if n := len(res.Curve); n > 0 {
		res.ValAcc = &res.Curve[n-1].ValAcc
	} else if valSet != nil {
		a, err := r.par.accuracy(ctx, r.amp, r.model, valSet)
		if err != nil {
			return nil, fmt.Errorf("validation: %w", err)
		}
		res.ValAcc = &a
	}
	if testSet != nil {
		a, err := r.par.accuracy(ctx, r.amp, r.model, testSet)
		if err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		res.TestAcc = &a
	}
	res.WallS = time.Since(r.start).Seconds()
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
