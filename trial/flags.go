package trial

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/nn"
)

// RegisterFlags defines s's options as flags on fs (the flags of
// `autodropout train`), each with s's current value as its default. The
// usage texts give what the zero value means. Check the Spec after
// parsing.
func (s *Spec) RegisterFlags(fs *flag.FlagSet) {
	s.commonFlags(fs)
	s.classifyFlags(fs)
	s.SemiSupervised.flags(fs)
	s.lmFlags(fs)
}

// PrintFlags writes the flags' help to w, grouped by task.
func PrintFlags(w io.Writer) {
	var s Spec
	for _, g := range []struct {
		title string
		def   func(*Spec, *flag.FlagSet)
	}{
		{"Both tasks:", (*Spec).commonFlags},
		{"Image classification (the default, --task classify):", (*Spec).classifyFlags},
		{"Semi-supervised image classification (UDA):", func(s *Spec, fs *flag.FlagSet) { s.SemiSupervised.flags(fs) }},
		{"Language models (--task lm):", (*Spec).lmFlags},
	} {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		g.def(&s, fs)
		fs.SetOutput(w)
		fmt.Fprintln(w, g.title)
		fs.PrintDefaults()
		fmt.Fprintln(w)
	}
}

// ParseArgs reads a Spec from train's flags and checks it.
func ParseArgs(args []string) (Spec, error) {
	var s Spec
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Spec{}, err
	}
	if err := CheckParsed(fs); err != nil {
		return Spec{}, err
	}
	return s, s.Check()
}

// CheckParsed checks what fs parsed, fs holding the flags RegisterFlags
// defined, beyond what Spec.Check sees: no arguments are left over
// (ExtraArgs), and no flag whose 0 stands for its default is given 0.
func CheckParsed(fs *flag.FlagSet) error {
	if err := ExtraArgs(fs.Args()); err != nil {
		return err
	}
	return explicitZero(fs)
}

// zeroIsDefault are the flags whose 0 stands for their default, with
// what to say instead. Given explicitly, 0 would train with the default
// without a word (--seed 0 would be --seed 1, so seeds 0 to 4 would run
// seed 1 twice), so ParseArgs refuses it.
var zeroIsDefault = map[string]string{
	"seed":            "seeds start at 1",
	"epochs":          "want 1 or more",
	"batch-size":      "want 1 or more",
	"lr":              "want a rate above 0",
	"nproc":           "want 1 or more",
	"image-size":      "want a side above 0",
	"block-size":      "want 1 or more",
	"min-count":       "want 1 or more (1 keeps every word)",
	"drop-rate":       "want a rate above 0 (--regularizer none drops nothing)",
	"ra-ops":          "want 1 or more",
	"ra-magnitude":    "want a bin of 1 to 30",
	"lr-decay":        "want a factor in (0, 1]",
	"lr-decay-epochs": "want a period above 0",
	"uda-ratio":       "want 1 or more",
	"uda-weight":      "want λ above 0",
	"uda-temperature": "want τ in (0, 1]",
	"uda-ops":         "want 1 or more",
	"uda-magnitude":   "want a bin of 1 to 30",
}

// explicitZero refuses a flag of zeroIsDefault set to 0 on the command
// line: leaving it out is how to ask for its default.
func explicitZero(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "pattern" && err == nil && strings.TrimSpace(f.Value.String()) == "" {
			err = fmt.Errorf("--pattern is empty (want a pattern file)")
		}
		if want, ok := zeroIsDefault[f.Name]; ok && err == nil && isZero(f.Value.String()) {
			err = fmt.Errorf("--%s 0: %s, or leave --%s out for its default", f.Name, want, f.Name)
		}
	})
	return err
}

func isZero(v string) bool {
	x, err := strconv.ParseFloat(v, 64)
	return err == nil && x == 0
}

// ExtraArgs is the error for arguments left after train's flags (nil for
// none). A word --augment might have been meant to take gets a hint:
// --augment is a switch, RandAugment has flags of its own.
func ExtraArgs(rest []string) error {
	switch {
	case len(rest) == 0:
		return nil
	case slices.Contains([]string{"randaugment", "none", "crop-flip", "true", "false"}, rest[0]):
		return fmt.Errorf("unexpected arguments %q: --augment is a switch (crop and flip; --augment=false turns it off), and RandAugment is --randaugment [--ra-ops N] [--ra-magnitude M]", rest)
	}
	return fmt.Errorf("unexpected arguments %q", rest)
}

func (s *Spec) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Task, "task", s.Task, "task: classify (image classification, the default) or lm (language modelling)")
	fs.StringVar(&s.Model, "model", s.Model, "model (default convnet; lm: transformer-xl): "+nn.ModelNames)
	fs.StringVar(&s.Data, "data", s.Data, "dataset (default fashion-mnist; lm: fortunes): "+strings.Join(data.Datasets, ", ")+"; lm: fortunes, kjv, ptb, wikitext2, wikitext103, text (your own: train.txt, valid.txt, test.txt in --data-dir)")
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "folder of the dataset's files (default for fashion-mnist: "+data.FashionMNISTDir+", for fortunes: "+data.FortunesDir+", for kjv: where it is prepared on first use, ~/.cache/autodropout/kjv-1)")
	fs.StringVar(&s.Regularizer.Name, "regularizer", s.Regularizer.Name, "regularizer at the sites (default none): "+strings.Join(autodropout.Names(), ", ")+"; lm: none, dropout, variational, pattern (pattern needs --pattern)")
	fs.StringVar(&s.Pattern, "pattern", s.Pattern, "JSON file of per-site patterns (lm: a list of {sites: regexp, pattern: transformer pattern}); implies --regularizer pattern")
	fs.Func("patterns", "the `JSON` of a --pattern file, inline", func(v string) error {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("empty (want the JSON of a pattern file)")
		}
		s.Patterns = json.RawMessage(v)
		return nil
	})
	fs.BoolVar(&s.AllowOutsideSpace, "allow-outside-space", s.AllowOutsideSpace, "accept pattern values outside the search space (any well-formed pattern)")
	fs.Int64Var(&s.Seed, "seed", s.Seed, fmt.Sprintf("seed of every random choice: split, order, augmentation, initialization, masks (default %d)", DefaultSeed))
	fs.StringVar((*string)(&s.Precision), "precision", string(s.Precision), "precision of the forward passes: fp32, bf16 (autocast; weights stay float32), fp16 (CUDA, with loss scaling) or auto (bf16 where the CPU has AVX512-BF16 or AMX, or the GPU bf16; else fp32 on a CPU, fp16 on a GPU) (default auto)")
	fs.StringVar(&s.Device, "device", s.Device, "cpu, cuda or cuda:N (default cpu)")
	fs.IntVar(&s.Threads, "threads", s.Threads, "libtorch intra-op threads (0: all cores; with --nproc N, the cores shared among the N processes)")
	fs.IntVar(&s.Nproc, "nproc", s.Nproc, "train on this many processes of this machine together, data-parallel through c10d/Gloo (classify; --batch-size is per process; under torchrun, leave it out: its variables make each process a rank)")
	fs.Var(notFlag{&s.SkipTest}, "test", "evaluate on the test split (search trials skip it: their reward is the validation score)")
	fs.StringVar(&s.Out, "out", s.Out, "folder for result.json and the checkpoint model.ot (empty: none)")
	fs.StringVar(&s.SaveState, "save-state", s.SaveState, "file for the resumable state after the last epoch (lm: step) trained: weights, buffers, optimizer state, progress, and the run's identity; its folder is checked before training, and a save that fails later (a full disk) still lets the run write its result, then fails the command")
	fs.StringVar(&s.ResumeState, "resume-state", s.ResumeState, "continue from a --save-state file of the same run (same flags, pattern, config and seed, apart from --stop-epoch, --stop-step, --out, --threads, --progress, --curve, --test, --eval-tokens and the state files); the result equals an unbroken run's bit for bit on the same machine and thread count")
	fs.DurationVar(&s.Every, "progress", s.Every, fmt.Sprintf("interval between progress lines (default %v)", DefaultEvery))
}

func (s *Spec) classifyFlags(fs *flag.FlagSet) {
	fs.IntVar(&s.Epochs, "epochs", s.Epochs, fmt.Sprintf("training epochs (default %d)", DefaultEpochs))
	fs.IntVar(&s.StopEpoch, "stop-epoch", s.StopEpoch, "stop after this many epochs of the --epochs schedule (the learning rate follows the full cosine), evaluate, and write result.json with the epochs done: a rung of multi-fidelity search (0: train all --epochs)")
	fs.IntVar(&s.BatchSize, "batch-size", s.BatchSize, fmt.Sprintf("examples per step (default %d)", DefaultBatchSize))
	fs.Float64Var(&s.LR, "lr", s.LR, fmt.Sprintf("peak learning rate (default %v)", DefaultLR))
	fs.StringVar(&s.Optimizer, "optimizer", s.Optimizer, "sgd (Nesterov momentum 0.9, the default) or rmsprop (TensorFlow's, EfficientNet's: decay 0.9, momentum 0.9, eps 1e-3 inside the square root)")
	fs.Var(zeroMeansNone{&s.WeightDecay, 0, "a decay rate"}, "weight-decay", "L2 weight decay (0: none; default 5e-4, rmsprop: 1e-5)")
	fs.StringVar(&s.LRSchedule, "lr-schedule", s.LRSchedule, "learning-rate schedule: cosine (to 0 over the run, per step; the default) or exponential (× --lr-decay every --lr-decay-epochs epochs, staircase)")
	fs.Float64Var(&s.LRDecay, "lr-decay", s.LRDecay, "exponential schedule: factor per period (default 0.97)")
	fs.Float64Var(&s.LRDecayEpochs, "lr-decay-epochs", s.LRDecayEpochs, "exponential schedule: epochs per period (default 2.4)")
	fs.Float64Var(&s.WarmupEpochs, "warmup-epochs", s.WarmupEpochs, "raise the learning rate linearly from 0 over these first epochs (0: none)")
	fs.IntVar(&s.TrainSubset, "train-subset", s.TrainSubset, "train on this many examples, or with --task lm this many tokens of the training split, in chunks of 4,096 spread evenly over it (0: all)")
	fs.Var(zeroMeansNone{&s.ValFrac, DefaultValFrac, "a fraction below 1"}, "val-frac", "`fraction` of the training set held out for validation (0: none)")
	fs.IntVar(&s.ImageSize, "image-size", s.ImageSize, fmt.Sprintf("imagenet: crop side (default %d; EfficientNet-B7: 600)", DefaultImageSize))
	fs.IntVar(&s.PerClass, "per-class", s.PerClass, "imagenet: training images per class, decoded once into memory at the evaluation crop (the search's proxy); 0: all, streamed from the files (RandomResizedCrop and flip for training, Resize and CenterCrop for validation and val/, the test split)")
	fs.Var(notFlag{&s.NoAugment}, "augment", "random crop (pad 4 on 32×32, 2 on 28×28; imagenet: RandomResizedCrop) and, for colour images, horizontal flip (--augment=false: none)")
	fs.BoolVar(&s.RandAugment, "randaugment", s.RandAugment, "RandAugment (torchvision's) on every training image after the crop and flip, before normalization; with --augment=false it is the only augmentation")
	fs.IntVar(&s.RAOps, "ra-ops", s.RAOps, fmt.Sprintf("with --randaugment: operations per image (default %d)", DefaultRAOps))
	fs.IntVar(&s.RAMagnitude, "ra-magnitude", s.RAMagnitude, fmt.Sprintf("with --randaugment: magnitude bin, 1..30 of 31 (default %d)", DefaultRAMagnitude))
	fs.BoolVar(&s.Curve, "curve", s.Curve, "evaluate the validation and training sets after every epoch and record the learning curve (result.json's curve)")
	fs.StringVar(&s.Pretrained, "pretrained", s.Pretrained, "weights to start from: a PyTorch state dict (.pth, torchvision format) or a .safetensors file (timm's ResNet names are mapped to torchvision's); a classifier of another size, and a stem for other input channels, are skipped; anything else that does not fit is refused (see --pretrained-partial); a DataParallel \"module.\" prefix is stripped")
	fs.BoolVar(&s.PretrainedPartial, "pretrained-partial", s.PretrainedPartial, "with --pretrained: load whatever fits by name and shape and skip the rest (named in the output), even from another architecture")
	fs.StringVar(&s.Space, "space", s.Space, "search-space JSON file the --pattern values must come from (default: the default space)")
	fs.Float64Var(&s.DropRate, "drop-rate", s.DropRate, fmt.Sprintf("drop probability of dropout, spatial and dropblock (default %v; lm: of dropout and variational at the reference's sites, the config's dropout when 0)", DefaultDropRate))
	fs.Float64Var(&s.DropAtt, "dropatt", s.DropAtt, "lm: drop probability of the attention probabilities under dropout and variational (default: the config's dropatt)")
	fs.IntVar(&s.CurveEvery, "curve-every", s.CurveEvery, "lm: evaluate the validation split and as many training tokens every this many steps and after the last, and record the learning curve (result.json's lm_curve; 0: none)")
	fs.IntVar(&s.BlockSize, "block-size", s.BlockSize, fmt.Sprintf("dropblock's block side (default %d)", DefaultBlockSize))
	fs.StringVar(&s.Sites, "sites", s.Sites, "regular expression of the sites a baseline regularizer goes to (default "+DefaultSites+": the batch-norm outputs)")
}

func (s *Spec) lmFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.LMConfig, "config", s.LMConfig, "model and recipe JSON (default "+DefaultLMConfig+")")
	fs.IntVar(&s.Steps, "steps", s.Steps, "optimizer steps (0: the config's max_step)")
	fs.IntVar(&s.StopStep, "stop-step", s.StopStep, "stop after this many of the run's steps (the learning rate still follows the whole schedule), evaluate validation only, and save --save-state: a rung of a multi-fidelity search")
	fs.DurationVar(&s.Duration, "duration", s.Duration, "stop training after this long (0: no limit)")
	fs.IntVar(&s.MinCount, "min-count", s.MinCount, fmt.Sprintf("lm, fortunes and text: training words seen fewer times become <unk> (default %d)", DefaultMinCount))
	fs.IntVar(&s.EvalTokens, "eval-tokens", s.EvalTokens, "evaluate on the first this many validation and test tokens (0: all)")
}

// notFlag is a boolean flag (default true) that sets its field to the
// opposite: --test=false sets SkipTest.
type notFlag struct{ p *bool }

func (f notFlag) IsBoolFlag() bool { return true }

func (f notFlag) String() string {
	if f.p == nil {
		return "false" // the zero flag, for the flag package's help
	}
	return strconv.FormatBool(!*f.p)
}

func (f notFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*f.p = !b
	return nil
}

// zeroMeansNone is a flag whose 0 turns the feature off (the field then
// holds -1) while the field's 0 stands for the default def: --val-frac 0
// holds out nothing, --uda-threshold 0 masks nothing, --weight-decay 0
// decays nothing. A def of 0 means the default depends on other options
// (the usage text says it). want names the values above 0 in errors; the
// upper bound is the Spec's check, which names the value.
type zeroMeansNone struct {
	p    *float64
	def  float64
	want string
}

func (f zeroMeansNone) String() string {
	switch {
	case f.p == nil || *f.p < 0:
		return "0"
	case *f.p == 0:
		return strconv.FormatFloat(f.def, 'g', -1, 64)
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f zeroMeansNone) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return err
	}
	if !(x >= 0) {
		return fmt.Errorf("want 0 (none) or %s", f.want)
	}
	*f.p = x
	if x == 0 {
		*f.p = -1
	}
	return nil
}

// argList builds a command line of flags, leaving out zero values.
type argList []string

func (a *argList) str(flag, v string) {
	if v != "" {
		*a = append(*a, "--"+flag, v)
	}
}

func (a *argList) num(flag string, v int) {
	if v != 0 {
		*a = append(*a, "--"+flag, strconv.Itoa(v))
	}
}

func (a *argList) float(flag string, v float64) {
	if v != 0 {
		*a = append(*a, "--"+flag, strconv.FormatFloat(v, 'g', -1, 64))
	}
}

// zeroMeansNone gives a zeroMeansNone field: -1 (none) as the flag's 0.
func (a *argList) zeroMeansNone(flag string, v float64) {
	if v < 0 {
		*a = append(*a, "--"+flag, "0")
		return
	}
	a.float(flag, v)
}

func (a *argList) dur(flag string, v time.Duration) {
	if v != 0 {
		*a = append(*a, "--"+flag, v.String())
	}
}

func (a *argList) boolean(flag string, v bool) {
	if v {
		*a = append(*a, "--"+flag)
	}
}

// Args are the flags of `autodropout train` that give s: its non-zero
// options, in a fixed order. ParseArgs(s.Args()) is s (less Output).
func (s Spec) Args() []string {
	var a argList
	a.str("task", s.Task)
	a.str("model", s.Model)
	a.str("data", s.Data)
	a.str("data-dir", s.DataDir)
	a.num("epochs", s.Epochs)
	a.num("stop-epoch", s.StopEpoch)
	a.num("batch-size", s.BatchSize)
	a.float("lr", s.LR)
	a.str("optimizer", s.Optimizer)
	a.zeroMeansNone("weight-decay", s.WeightDecay)
	a.str("lr-schedule", s.LRSchedule)
	a.float("lr-decay", s.LRDecay)
	a.float("lr-decay-epochs", s.LRDecayEpochs)
	a.float("warmup-epochs", s.WarmupEpochs)
	a.num("train-subset", s.TrainSubset)
	a.zeroMeansNone("val-frac", s.ValFrac)
	a.num("image-size", s.ImageSize)
	a.num("per-class", s.PerClass)
	if s.NoAugment {
		a = append(a, "--augment=false")
	}
	a.boolean("randaugment", s.RandAugment)
	a.num("ra-ops", s.RAOps)
	a.num("ra-magnitude", s.RAMagnitude)
	a.boolean("curve", s.Curve)
	a.num("curve-every", s.CurveEvery)
	a.str("pretrained", s.Pretrained)
	a.boolean("pretrained-partial", s.PretrainedPartial)
	a.str("config", s.LMConfig)
	a.num("steps", s.Steps)
	a.num("stop-step", s.StopStep)
	a.dur("duration", s.Duration)
	a.num("min-count", s.MinCount)
	a.num("eval-tokens", s.EvalTokens)
	a = append(a, s.Regularizer.Args()...)
	a = append(a, s.SemiSupervised.args()...)
	if s.Seed != 0 {
		a.str("seed", strconv.FormatInt(s.Seed, 10))
	}
	a.str("precision", string(s.Precision))
	a.str("device", s.Device)
	a.num("threads", s.Threads)
	a.num("nproc", s.Nproc)
	if s.SkipTest {
		a = append(a, "--test=false")
	}
	a.str("out", s.Out)
	a.str("save-state", s.SaveState)
	a.str("resume-state", s.ResumeState)
	a.dur("progress", s.Every)
	return a
}

// Args are the flags of r's non-zero options, in a fixed order.
func (r Regularizer) Args() []string {
	var a argList
	a.str("regularizer", r.Name)
	a.float("drop-rate", r.DropRate)
	a.float("dropatt", r.DropAtt)
	a.num("block-size", r.BlockSize)
	a.str("sites", r.Sites)
	a.str("pattern", r.Pattern)
	if len(r.Patterns) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, r.Patterns) != nil {
			b.Reset()
			b.Write(r.Patterns) // Run reports the bad JSON
		}
		a.str("patterns", b.String())
	}
	a.str("space", r.Space)
	a.boolean("allow-outside-space", r.AllowOutsideSpace)
	return a
}

// ArgsDiff lists the flags whose values differ between two command lines
// of Spec.Args, "" when none does: "--lr 0.05 then, 0.01 now".
func ArgsDiff(was, now []string) string { return ValuesDiff(flagValues(was), flagValues(now)) }

// ValuesDiff lists, sorted by name, the settings whose values differ
// between was and now: "NAME A then, B now", "NAME A then, absent now"
// (a switch's "" value is left out), or "NAME differs" for a value too
// long to quote (inline patterns). "" when none does.
func ValuesDiff(was, now map[string]string) string {
	var names []string
	for n := range was {
		names = append(names, n)
	}
	for n := range now {
		if _, ok := was[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var d []string
	for _, n := range names {
		va, inA := was[n]
		vb, inB := now[n]
		switch {
		case !inA:
			d = append(d, strings.TrimSpace(n+" "+vb)+" now, absent then")
		case !inB:
			d = append(d, strings.TrimSpace(n+" "+va)+" then, absent now")
		case va != vb && max(len(va), len(vb)) > 40:
			d = append(d, n+" differs")
		case va != vb:
			d = append(d, fmt.Sprintf("%s %s then, %s now", n, va, vb))
		}
	}
	return strings.Join(d, "; ")
}

// flagValues maps each flag of args to its value ("" for a switch).
func flagValues(args []string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			value = args[i+1]
			i++
		}
		m[name] = value
	}
	return m
}

// resumeOptions are the flags of s that a resumed run must repeat: Args
// less those the pieces of a run may change (see --resume-state).
func (s Spec) resumeOptions() []string {
	p := s
	p.StopEpoch, p.StopStep, p.Out, p.Threads, p.Every, p.Curve, p.SkipTest = 0, 0, "", 0, 0, false, false
	p.EvalTokens, p.SaveState, p.ResumeState = 0, "", ""
	return p.Args()
}
