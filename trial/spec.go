package trial

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/autodropout/autodropout/configs"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/train"
)

// The tasks a Spec trains.
const (
	Classify = "classify" // image classification (the zero Task)
	LM       = "lm"       // language modelling (Transformer-XL)
)

// The defaults of the options whose zero value stands for them.
const (
	DefaultClassifyModel = "convnet"
	DefaultClassifyData  = "fashion-mnist"
	DefaultLMModel       = "transformer-xl"
	DefaultLMData        = "fortunes"
	DefaultLMConfig      = configs.TransformerXLSmall
	DefaultEpochs        = 1
	DefaultBatchSize     = 128
	DefaultLR            = 0.05
	DefaultValFrac       = 0.1
	DefaultImageSize     = 224
	DefaultDropRate      = 0.1
	DefaultBlockSize     = 3
	DefaultSeed          = 1
	DefaultMinCount      = 2
	DefaultEvery         = 5 * time.Second
	// DefaultRAOps and DefaultRAMagnitude are torchvision's RandAugment
	// defaults (N=2, M=9 of 31 bins), the RandAugment paper's ImageNet
	// ResNet-50 setting.
	DefaultRAOps       = 2
	DefaultRAMagnitude = 9
	// DefaultSites picks batch-norm outputs, the paper's sites.
	DefaultSites = `\.bn\d+$|^bn\d+$`
	// DefaultPrecision is auto: bf16 where the device computes it
	// natively, fp32 elsewhere on a CPU and fp16 on a GPU. On
	// Fashion-MNIST bf16 and fp32 reach the same test accuracy (paired
	// difference −0.05 points, 95% interval −0.32 to +0.22, 8 seeds) at
	// about half the step time (docs/performance.md).
	DefaultPrecision = libtorch.Auto
)

// Spec is everything a trial trains: the task, model and data, the
// regularizer, the recipe, the budget, and where its files go. Every
// field's zero value means its documented default, so Spec{} trains the
// command's default (a ConvNet on Fashion-MNIST for one epoch, no
// regularizer). Its flags (RegisterFlags, Args) and its JSON form are
// defined here only: `autodropout train`, a search's trials and an
// experiment's trainings all run a Spec.
//
// Fields marked classify or lm belong to that task; Check refuses one
// set for the other task rather than ignore it.
type Spec struct {
	// Task is Classify ("", the default) or LM.
	Task string `json:"task,omitempty"`
	// Model: "" is convnet (classify) or transformer-xl (lm, the only
	// one). Classify: convnet, wrn-D-K, resnet18, resnet50,
	// efficientnet-b0…b7.
	Model string `json:"model,omitempty"`
	// Data: "" is fashion-mnist (classify) or fortunes (lm).
	Data string `json:"data,omitempty"`
	// DataDir is the folder of the dataset's files; "" is the dataset's
	// default (data.FashionMNISTDir, data.FortunesDir; others the
	// working folder).
	DataDir string `json:"data_dir,omitempty"`

	// Regularizer says what drops activations (zero: nothing).
	Regularizer

	// SemiSupervised (classify) is the labeled subset and the
	// semi-supervised mode (UDA); zero: supervised on every training
	// image.
	SemiSupervised

	// Seed seeds every random choice: split, order, augmentation,
	// initialization and masks. 0 is DefaultSeed (1).
	Seed int64 `json:"seed,omitempty"`
	// Precision of the forward passes: fp32, bf16 (autocast, weights stay
	// float32), fp16 (CUDA, with loss scaling) or auto. "" is
	// DefaultPrecision (auto).
	Precision libtorch.Precision `json:"precision,omitempty"`
	// Device is cpu, cuda or cuda:N; "" is cpu.
	Device string `json:"device,omitempty"`
	// Threads is libtorch's intra-op thread count; 0 is all cores. It is
	// process-wide: Run sets it for the process.
	Threads int `json:"threads,omitempty"`
	// Nproc (classify) trains the run on this many processes of this
	// machine together, data-parallel (package distributed): Launch
	// starts them, and Run, in a process that torchrun's variables
	// (WORLD_SIZE > 1) make a rank, trains that rank's part. BatchSize
	// is per process, as in PyTorch's DistributedDataParallel: 2
	// processes of batch 64 take the steps of one process of batch 128.
	// 0 or 1: one process (unless torchrun's variables say otherwise).
	Nproc int `json:"nproc,omitempty"`
	// SkipTest leaves the test split out (a search's trials: their
	// reward is the validation score). false: evaluate it.
	SkipTest bool `json:"skip_test,omitempty"`

	// Epochs (classify) is the schedule's length; 0 is DefaultEpochs.
	Epochs int `json:"epochs,omitempty"`
	// StopEpoch (classify) ends the run after this many epochs of the
	// Epochs schedule (the learning rate follows the whole cosine), a
	// rung of multi-fidelity search; 0: train all Epochs.
	StopEpoch int `json:"stop_epoch,omitempty"`
	// BatchSize (classify) is examples per step; 0 is DefaultBatchSize.
	BatchSize int `json:"batch_size,omitempty"`
	// LR (classify) is the optimizer's peak learning rate; 0 is
	// DefaultLR.
	LR float64 `json:"lr,omitempty"`
	// Optimizer (classify) is "sgd" ("", Nesterov momentum 0.9) or
	// "rmsprop" (train.RMSProp: TensorFlow's, with EfficientNet's decay
	// 0.9, momentum 0.9 and ε 1e-3).
	Optimizer string `json:"optimizer,omitempty"`
	// WeightDecay (classify) is the L2 weight decay; 0 is 5e-4 for SGD,
	// 1e-5 (EfficientNet's) for RMSProp, a negative value is none (the
	// flag's --weight-decay 0).
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// LRSchedule (classify) is "cosine" ("", from LR to 0 over the run,
	// per step) or "exponential" (LR·LRDecay every LRDecayEpochs epochs,
	// staircase: EfficientNet's).
	LRSchedule string `json:"lr_schedule,omitempty"`
	// LRDecay and LRDecayEpochs (classify, exponential) are the factor
	// and its period; 0 is 0.97 and 2.4 (EfficientNet's).
	LRDecay       float64 `json:"lr_decay,omitempty"`
	LRDecayEpochs float64 `json:"lr_decay_epochs,omitempty"`
	// WarmupEpochs (classify) raises the learning rate linearly from 0
	// over the first epochs (EfficientNet's 5); 0: none.
	WarmupEpochs float64 `json:"warmup_epochs,omitempty"`
	// TrainSubset trains on this many examples (classify) or on this
	// many tokens of the training split in chunks spread over it (lm); 0: all.
	TrainSubset int `json:"train_subset,omitempty"`
	// ValFrac (classify) is the share of the training set held out for
	// validation; 0 is DefaultValFrac, a negative value holds out none
	// (the flag's --val-frac 0).
	ValFrac float64 `json:"val_frac,omitempty"`
	// ImageSize (classify, imagenet) is the crop side; 0 is 224.
	ImageSize int `json:"image_size,omitempty"`
	// PerClass (classify, imagenet) is training images read per class,
	// decoded into memory; 0: all, streamed from the files (see
	// streamed).
	PerClass int `json:"per_class,omitempty"`
	// NoAugment (classify) turns off the random crop (pad 4 on 32×32, 2
	// on 28×28) and, for colour images, the horizontal flip; false:
	// augment.
	NoAugment bool `json:"no_augment,omitempty"`
	// RandAugment (classify) applies RandAugment (data.RandAugment,
	// torchvision's transforms.RandAugment) to every training image after
	// the crop and flip and before the normalization, as the RandAugment
	// paper's recipes do; with NoAugment it is the only augmentation.
	// false: none.
	RandAugment bool `json:"randaugment,omitempty"`
	// RAOps (classify, RandAugment) is RandAugment's operations per
	// image; 0 is DefaultRAOps.
	RAOps int `json:"ra_ops,omitempty"`
	// RAMagnitude (classify, RandAugment) is its magnitude bin, 1 to 30
	// of torchvision's 31; 0 is DefaultRAMagnitude.
	RAMagnitude int `json:"ra_magnitude,omitempty"`
	// Curve (classify) evaluates the validation and training sets after
	// every epoch and records the learning curve (Result.Curve).
	Curve bool `json:"curve,omitempty"`
	// CurveEvery (lm) evaluates the validation split and as many
	// training tokens every CurveEvery steps and after the last, and
	// records the learning curve (Result.LMCurve); 0: no curve.
	CurveEvery int `json:"curve_every,omitempty"`
	// Pretrained (classify) is a PyTorch state dict (torchvision format)
	// or a .safetensors file to start from; "": the model's own initialization. A classifier of
	// another size and a stem for other input channels are skipped;
	// anything else that does not fit is refused, unless
	// PretrainedPartial; a DataParallel "module." prefix is stripped.
	Pretrained string `json:"pretrained,omitempty"`
	// PretrainedPartial (classify, with Pretrained) loads whatever fits
	// by name and shape and skips the rest, even from another
	// architecture.
	PretrainedPartial bool `json:"pretrained_partial,omitempty"`

	// LMConfig (lm) is the model and recipe JSON (train.LMRecipe); "" is
	// DefaultLMConfig.
	LMConfig string `json:"lm_config,omitempty"`
	// Steps (lm) is optimizer steps; 0: the recipe's max_step.
	Steps int `json:"steps,omitempty"`
	// StopStep (lm) ends the run after this many of its steps (the
	// learning rate follows the whole schedule) and evaluates validation
	// only: a rung of multi-fidelity search; 0: all steps.
	StopStep int `json:"stop_step,omitempty"`
	// Duration (lm) stops training after this long; 0: no limit.
	Duration time.Duration `json:"duration,omitempty"`
	// MinCount (lm, fortunes and text): training words seen fewer times become
	// <unk>; 0 is DefaultMinCount.
	MinCount int `json:"min_count,omitempty"`
	// EvalTokens (lm) evaluates the first this many validation and test
	// tokens; 0: all.
	EvalTokens int `json:"eval_tokens,omitempty"`

	// Out is the folder for result.json (and classify's checkpoint
	// model.ot); "": none written.
	Out string `json:"out,omitempty"`
	// SaveState is a file for the resumable state after the last epoch
	// (lm: step) trained: weights, buffers, optimizer state, progress and
	// the run's identity; "": none. A save that fails (a full disk) does
	// not stop the run: Run writes the result, then returns the error.
	SaveState string `json:"save_state,omitempty"`
	// ResumeState continues from a SaveState file of the same run (the
	// same options apart from the stop, Out, Threads, Every, Curve,
	// SkipTest, EvalTokens and the state files); the result equals an
	// unbroken run's bit for bit on the same machine and thread count.
	// "": start from the initialization.
	ResumeState string `json:"resume_state,omitempty"`
	// Every is the interval between progress lines; 0 is DefaultEvery.
	// JSON holds nanoseconds.
	Every time.Duration `json:"progress,omitempty"`
	// Output receives the run's progress and notes; nil: none.
	Output io.Writer `json:"-"`
}

// Regularizer is what a Spec puts on the model's dropout sites. Its zero
// value is none.
type Regularizer struct {
	// Name is none, pattern, or a baseline: dropout, spatial, dropblock
	// (classify), dropout or variational (lm). "" is none, or pattern
	// when Pattern or Patterns is set.
	Name string `json:"regularizer,omitempty"`
	// Pattern is a pattern file: per-site ConvNet patterns (classify) or
	// a list of {sites, pattern} Transformer patterns (lm); "": none.
	Pattern string `json:"pattern,omitempty"`
	// Patterns is a pattern file's content inline, instead of Pattern.
	Patterns json.RawMessage `json:"patterns,omitempty"`
	// Space (classify) is the search-space JSON file the patterns' values
	// must come from; "": the default space.
	Space string `json:"space,omitempty"`
	// AllowOutsideSpace accepts any well-formed pattern, in the space or
	// not (a search checked its proposals against its own space).
	AllowOutsideSpace bool `json:"allow_outside_space,omitempty"`
	// DropRate is the drop probability of dropout, spatial and dropblock
	// (classify; 0 is DefaultDropRate), or of the language model's
	// dropout and variational dropout at the reference's sites (lm; 0 is
	// the recipe's "dropout"), so a grid can tune it without a recipe
	// file per rate.
	DropRate float64 `json:"drop_rate,omitempty"`
	// DropAtt (lm) is the drop probability of the attention
	// probabilities under dropout and variational dropout; 0 is the
	// recipe's "dropatt".
	DropAtt float64 `json:"dropatt,omitempty"`
	// BlockSize (classify) is dropblock's block side; 0 is
	// DefaultBlockSize.
	BlockSize int `json:"block_size,omitempty"`
	// Sites (classify) is a regular expression of the sites a baseline
	// goes to; "" is DefaultSites (the batch-norm outputs).
	Sites string `json:"sites,omitempty"`
}

// hasPatterns reports whether the regularizer names patterns.
func (r Regularizer) hasPatterns() bool { return r.Pattern != "" || len(r.Patterns) > 0 }

// Check reports the first bad option of s, naming its flag. It reads no
// file; Run reports what only the files tell (a missing dataset, a
// pattern of unknown sites, a stop beyond a recipe's steps).
func (s Spec) Check() error {
	lm := s.Task == LM
	if s.Task != "" && s.Task != Classify && !lm {
		return fmt.Errorf("--task %q: want classify or lm", s.Task)
	}
	if err := s.checkUnused(); err != nil {
		return err
	}
	if err := s.SemiSupervised.check(lm); err != nil {
		return err
	}
	r := s.Regularizer
	switch {
	case r.Pattern != "" && len(r.Patterns) > 0:
		return fmt.Errorf("--pattern and --patterns: give the patterns once")
	case r.hasPatterns() && r.Name != "" && r.Name != "none" && r.Name != "pattern":
		return fmt.Errorf("--pattern with --regularizer %s: choose one", r.Name)
	case r.Name == "pattern" && !r.hasPatterns():
		return fmt.Errorf("--regularizer pattern needs --pattern FILE")
	case lm && !slices.Contains([]string{"", "none", "dropout", "variational", "pattern"}, r.Name):
		return fmt.Errorf("--regularizer %q: want none, dropout, variational or pattern", r.Name)
	case s.PretrainedPartial && s.Pretrained == "":
		return fmt.Errorf("--pretrained-partial needs --pretrained FILE")
	case s.Epochs < 0:
		return fmt.Errorf("--epochs %d: want at least 1", s.Epochs)
	case s.StopEpoch < 0 || s.StopEpoch > cmp.Or(s.Epochs, DefaultEpochs):
		return fmt.Errorf("--stop-epoch %d: want 0 (all) to --epochs %d", s.StopEpoch, cmp.Or(s.Epochs, DefaultEpochs))
	case s.BatchSize < 0:
		return fmt.Errorf("--batch-size %d: want at least 1", s.BatchSize)
	case s.TrainSubset < 0:
		return fmt.Errorf("--train-subset %d: want 0 (all) or more", s.TrainSubset)
	case s.ValFrac >= 1 || math.IsNaN(s.ValFrac):
		return fmt.Errorf("--val-frac %v: want a fraction below 1", s.ValFrac)
	case s.Threads < 0:
		return fmt.Errorf("--threads %d: want 0 (all cores) or more", s.Threads)
	case s.Nproc < 0:
		return fmt.Errorf("--nproc %d: want 1 or more", s.Nproc)
	case lm && s.Model != "" && s.Model != DefaultLMModel:
		return fmt.Errorf("--task lm: model %q: want transformer-xl", s.Model)
	}
	if err := s.checkCounts(); err != nil {
		return err
	}
	if s.Sites != "" {
		if _, err := regexp.Compile(s.Sites); err != nil {
			return fmt.Errorf("--sites: %w", err)
		}
	}
	if s.Precision != "" {
		if _, err := libtorch.ParsePrecision(string(s.Precision)); err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
	}
	if _, err := parseDevice(cmp.Or(s.Device, "cpu"), false); err != nil {
		return err
	}
	return nil
}

// checkCounts refuses a negative count or duration (0 is the default),
// and a --min-count for a corpus whose files give its vocabulary (the
// default is let through: a Spec with its defaults filled has it).
func (s Spec) checkCounts() error {
	if counted := s.Data == "" || s.Data == "fortunes" || s.Data == "text"; s.Task == LM && !counted && s.MinCount != 0 && s.MinCount != DefaultMinCount {
		return fmt.Errorf("--min-count %d: only --data fortunes and text count words for their vocabulary; %s's files give it", s.MinCount, s.Data)
	}
	for _, f := range []struct {
		name     string
		negative bool
		value    any
	}{
		{"image-size", s.ImageSize < 0, s.ImageSize}, {"per-class", s.PerClass < 0, s.PerClass},
		{"block-size", s.BlockSize < 0, s.BlockSize}, {"steps", s.Steps < 0, s.Steps},
		{"stop-step", s.StopStep < 0, s.StopStep}, {"min-count", s.MinCount < 0, s.MinCount},
		{"eval-tokens", s.EvalTokens < 0, s.EvalTokens}, {"duration", s.Duration < 0, s.Duration},
	} {
		if f.negative {
			return fmt.Errorf("--%s %v: want 0 (the default) or more", f.name, f.value)
		}
	}
	return nil
}

// checkUnused refuses an option of the other task: it would be ignored.
func (s Spec) checkUnused() error {
	lm := s.Task == LM
	task := map[bool]string{true: LM, false: Classify}
	for _, o := range []struct {
		flag string
		set  bool
		lm   bool // belongs to lm (else to classify)
	}{
		{"epochs", s.Epochs != 0, false}, {"stop-epoch", s.StopEpoch != 0, false},
		{"batch-size", s.BatchSize != 0, false}, {"lr", s.LR != 0, false},
		{"val-frac", s.ValFrac != 0, false},
		{"image-size", s.ImageSize != 0, false}, {"per-class", s.PerClass != 0, false},
		{"augment", s.NoAugment, false}, {"curve", s.Curve, false},
		{"optimizer", s.Optimizer != "", false}, {"weight-decay", s.WeightDecay != 0, false},
		{"lr-schedule", s.LRSchedule != "", false}, {"lr-decay", s.LRDecay != 0, false},
		{"lr-decay-epochs", s.LRDecayEpochs != 0, false}, {"warmup-epochs", s.WarmupEpochs != 0, false},
		{"randaugment", s.RandAugment, false}, {"ra-ops", s.RAOps != 0, false},
		{"ra-magnitude", s.RAMagnitude != 0, false},
		{"pretrained", s.Pretrained != "", false}, {"pretrained-partial", s.PretrainedPartial, false},
		{"space", s.Space != "", false}, {"dropatt", s.DropAtt != 0, true},
		{"curve-every", s.CurveEvery != 0, true},
		{"block-size", s.BlockSize != 0, false}, {"sites", s.Sites != "", false},
		{"nproc", s.Nproc > 1, false},
		{"config", s.LMConfig != "", true}, {"steps", s.Steps != 0, true},
		{"stop-step", s.StopStep != 0, true}, {"duration", s.Duration != 0, true},
		{"min-count", s.MinCount != 0, true}, {"eval-tokens", s.EvalTokens != 0, true},
	} {
		if o.set && o.lm != lm {
			return fmt.Errorf("--%s: only %s tasks read it, not %s", o.flag, task[o.lm], task[lm])
		}
	}
	if !(s.LR >= 0) || math.IsInf(s.LR, 0) {
		return fmt.Errorf("--lr %v: learning rate %v: want a finite number ≥ 0", s.LR, s.LR)
	}
	if err := s.checkRandAugment(); err != nil {
		return err
	}
	if err := s.checkRecipe(); err != nil {
		return err
	}
	if !(s.DropRate >= 0 && s.DropRate < 1) {
		return fmt.Errorf("--drop-rate %v: want a probability in [0, 1)", s.DropRate)
	}
	if !(s.DropAtt >= 0 && s.DropAtt < 1) {
		return fmt.Errorf("--dropatt %v: want a probability in [0, 1)", s.DropAtt)
	}
	if s.CurveEvery < 0 {
		return fmt.Errorf("--curve-every %d: want 0 (no curve) or more steps", s.CurveEvery)
	}
	if r := s.Regularizer.Name; lm && (s.DropRate != 0 || s.DropAtt != 0) && r != "dropout" && r != "variational" {
		return fmt.Errorf("--drop-rate, --dropatt: only the lm regularizers dropout and variational read them, not %q", cmp.Or(r, "none"))
	}
	if !lm {
		return s.checkBaselineOptions()
	}
	return nil
}

// checkBaselineOptions refuses a classify option that the run would
// ignore: --drop-rate 0.3 without --regularizer trained no regularizer at
// all, --image-size on Fashion-MNIST changed nothing.
func (s Spec) checkBaselineOptions() error {
	r := s.resolved()
	if r.Data != "imagenet" && (s.ImageSize != 0 || s.PerClass != 0) {
		return fmt.Errorf("%s: only --data imagenet reads it, not %s", givenFlags("--image-size", s.ImageSize, "--per-class", s.PerClass), r.Data)
	}
	if reg := r.Regularizer.Name; reg != "pattern" && (s.Space != "" || s.AllowOutsideSpace) {
		return fmt.Errorf("--space, --allow-outside-space: only patterns (--pattern, --patterns) read them, and this run's regularizer is %s", reg)
	}
	reg := r.Regularizer.Name
	baselines := []string{"dropout", "spatial", "dropblock"}
	for _, o := range []struct {
		flag  string
		set   bool
		using []string
	}{
		{"drop-rate", s.DropRate != 0, baselines},
		{"block-size", s.BlockSize != 0, baselines[2:]},
		{"sites", s.Sites != "", baselines},
	} {
		if o.set && !slices.Contains(o.using, reg) {
			return fmt.Errorf("--%s: only --regularizer %s read it, and this run's regularizer is %s", o.flag, strings.Join(o.using, ", "), reg)
		}
	}
	return nil
}

// givenFlags writes the flags of nameValues (a name, then its value; a
// number) that are not 0: those a message is about.
func givenFlags(nameValues ...any) string {
	var parts []string
	for i := 0; i+1 < len(nameValues); i += 2 {
		if v := fmt.Sprint(nameValues[i+1]); v != "0" {
			parts = append(parts, fmt.Sprintf("%s %s", nameValues[i], v))
		}
	}
	return strings.Join(parts, ", ")
}

// checkRandAugment checks RandAugment's settings.
func (s Spec) checkRandAugment() error {
	switch {
	case !s.RandAugment && (s.RAOps != 0 || s.RAMagnitude != 0):
		return fmt.Errorf("%s: a setting of RandAugment, which needs --randaugment", givenFlags("--ra-ops", s.RAOps, "--ra-magnitude", s.RAMagnitude))
	case s.RAOps < 0:
		return fmt.Errorf("--ra-ops %d: want 1 or more operations per image (0: %d)", s.RAOps, DefaultRAOps)
	case s.RAMagnitude < 0 || s.RAMagnitude > 30:
		return fmt.Errorf("--ra-magnitude %d: want a magnitude bin in 1..30 of 31 (0: %d)", s.RAMagnitude, DefaultRAMagnitude)
	}
	return nil
}

// checkRecipe checks the optimizer and the learning-rate schedule.
func (s Spec) checkRecipe() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !slices.Contains([]string{"", "sgd", "rmsprop"}, s.Optimizer):
		return fmt.Errorf("--optimizer %q: want sgd or rmsprop", s.Optimizer)
	case !finite(s.WeightDecay):
		return fmt.Errorf("--weight-decay %v: want a finite number ≥ 0 (0: none)", s.WeightDecay)
	case !slices.Contains([]string{"", "cosine", "exponential"}, s.LRSchedule):
		return fmt.Errorf("--lr-schedule %q: want cosine or exponential", s.LRSchedule)
	case (s.LRDecay != 0 || s.LRDecayEpochs != 0) && s.LRSchedule != "exponential":
		return fmt.Errorf("%s: a setting of --lr-schedule exponential only", givenFlags("--lr-decay", s.LRDecay, "--lr-decay-epochs", s.LRDecayEpochs))
	case !(s.LRDecay >= 0 && s.LRDecay <= 1):
		return fmt.Errorf("--lr-decay %v: want a factor in (0, 1]", s.LRDecay)
	case !(s.LRDecayEpochs >= 0) || !finite(s.LRDecayEpochs) || !(s.WarmupEpochs >= 0) || !finite(s.WarmupEpochs):
		return fmt.Errorf("--lr-decay-epochs %v, --warmup-epochs %v: want finite numbers ≥ 0", s.LRDecayEpochs, s.WarmupEpochs)
	}
	return nil
}

// recipe is the optimizer and schedule of s (resolved) for train.Config:
// optimizer, weight decay and schedule, defaults filled.
func (s Spec) recipe() (opt string, weightDecay float64, sched train.Schedule) {
	opt = cmp.Or(s.Optimizer, "sgd")
	switch weightDecay = s.WeightDecay; {
	case weightDecay < 0:
		weightDecay = 0
	case weightDecay == 0:
		weightDecay = map[string]float64{"sgd": 5e-4, "rmsprop": train.RMSPropWeightDecay}[opt]
	}
	sched = train.Schedule{Kind: cmp.Or(s.LRSchedule, "cosine"), WarmupEpochs: s.WarmupEpochs}
	if sched.Kind == "exponential" {
		sched.DecayRate, sched.DecayEpochs = cmp.Or(s.LRDecay, 0.97), cmp.Or(s.LRDecayEpochs, 2.4)
	}
	return opt, weightDecay, sched
}

// randAugment is the RandAugment s applies to training images, or nil.
func (s Spec) randAugment() *data.RandAugment {
	if !s.RandAugment {
		return nil
	}
	return &data.RandAugment{Ops: cmp.Or(s.RAOps, DefaultRAOps), Magnitude: cmp.Or(s.RAMagnitude, DefaultRAMagnitude)}
}

// resolved is s with every zero option replaced by its default, for its
// task. s has passed Check.
func (s Spec) resolved() Spec {
	if s.Task == "" {
		s.Task = Classify
	}
	if s.Regularizer.Name == "" || (s.Regularizer.Name == "none" && s.hasPatterns()) {
		s.Regularizer.Name = "none"
		if s.hasPatterns() {
			s.Regularizer.Name = "pattern"
		}
	}
	s.Seed = cmp.Or(s.Seed, DefaultSeed)
	s.Precision = cmp.Or(s.Precision, DefaultPrecision)
	s.Device = cmp.Or(s.Device, "cpu")
	s.Every = cmp.Or(s.Every, DefaultEvery)
	if s.Task == LM {
		s.Model = cmp.Or(s.Model, DefaultLMModel)
		s.Data = cmp.Or(s.Data, DefaultLMData)
		s.LMConfig = cmp.Or(s.LMConfig, DefaultLMConfig)
		s.MinCount = cmp.Or(s.MinCount, DefaultMinCount)
		return s
	}
	s.Model = cmp.Or(s.Model, DefaultClassifyModel)
	s.Data = cmp.Or(s.Data, DefaultClassifyData)
	s.Epochs = cmp.Or(s.Epochs, DefaultEpochs)
	s.BatchSize = cmp.Or(s.BatchSize, DefaultBatchSize)
	s.LR = cmp.Or(s.LR, DefaultLR)
	switch {
	case s.ValFrac == 0:
		s.ValFrac = DefaultValFrac
	case s.ValFrac < 0:
		s.ValFrac = 0
	}
	s.ImageSize = cmp.Or(s.ImageSize, DefaultImageSize)
	if s.RandAugment {
		s.RAOps = cmp.Or(s.RAOps, DefaultRAOps)
		s.RAMagnitude = cmp.Or(s.RAMagnitude, DefaultRAMagnitude)
	}
	s.DropRate = cmp.Or(s.DropRate, DefaultDropRate)
	s.BlockSize = cmp.Or(s.BlockSize, DefaultBlockSize)
	s.Sites = cmp.Or(s.Sites, DefaultSites)
	s.SemiSupervised = s.SemiSupervised.resolved()
	return s
}

// String is the flags of s, for messages.
func (s Spec) String() string { return strings.Join(s.Args(), " ") }
