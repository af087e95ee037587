package search

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/configs"
	"github.com/autodropout/autodropout/libtorch"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/trial"
)

// Config is a search's JSON configuration. Zero fields take the defaults
// listed with each field (see WithDefaults).
type Config struct {
	Method           string           `json:"method"`             // "rl" (default) or "random"
	Budget           int              `json:"budget"`             // trials in all (default 20)
	Parallel         int              `json:"parallel"`           // trials at once (default 1)
	Cores            int              `json:"cores"`              // cores divided among trials (default: all)
	SamplesPerUpdate int              `json:"samples_per_update"` // trials per controller update (default: parallel)
	Seed             int64            `json:"seed"`               // controller / random proposals (default 1)
	TopK             int              `json:"top_k"`              // pattern files kept in top/ (default 5)
	FailureReward    float64          `json:"failure_reward"`     // reward a failed trial teaches the controller (default 0)
	SearchSpace      string           `json:"search_space"`       // search-space JSON file (default: the built-in space)
	Controller       ControllerConfig `json:"controller"`
	Task             Task             `json:"task"`
	// MultiFidelity, when set, runs successive halving inside every batch
	// of samples_per_update trials (see the package doc); nil: every
	// trial trains all task.epochs.
	MultiFidelity *MultiFidelity `json:"multi_fidelity,omitempty"`
}

// MultiFidelity is successive halving inside a controller batch: every
// trial of the batch trains to Rungs[0] epochs (steps for a language
// model); the best max(1, ⌊n/Reduction⌋) of the n trials at a rung
// continue from their state to the next rung, the others stop.
type MultiFidelity struct {
	Rungs     []int `json:"rungs"`     // epochs (lm: steps), strictly increasing, the last = task.epochs (lm: task.steps)
	Reduction int   `json:"reduction"` // at least 2
}

// Length is how long a trial trains, in its unit: task.epochs of a
// classifier, task.steps of a language model (0 when the recipe's
// max_step decides).
func (t Task) Length() (n int, unit string) {
	if t.Kind == "lm" {
		return t.Steps, "steps"
	}
	return t.Epochs, "epochs"
}

// check names the first bad field (relative to multi_fidelity).
func (m *MultiFidelity) check(t Task) error {
	n, unit := t.Length()
	field := "task." + unit
	if n < 1 {
		return fmt.Errorf("multi_fidelity: set %s, the last rung (the recipe's max_step cannot be checked against the rungs)", field)
	}
	if len(m.Rungs) < 2 {
		return fmt.Errorf("multi_fidelity.rungs %v: want at least two rungs (%s, strictly increasing, the last = %s %d)", m.Rungs, unit, field, n)
	}
	for i, r := range m.Rungs {
		if r < 1 || i > 0 && r <= m.Rungs[i-1] {
			return fmt.Errorf("multi_fidelity.rungs %v: want %s of 1 or more, strictly increasing", m.Rungs, unit)
		}
	}
	if last := m.Rungs[len(m.Rungs)-1]; last != n {
		return fmt.Errorf("multi_fidelity.rungs %v: the last rung is %d %s, want %s %d", m.Rungs, last, unit, field, n)
	}
	if m.Reduction < 2 {
		return fmt.Errorf("multi_fidelity.reduction %d: want at least 2", m.Reduction)
	}
	return nil
}

// Task is the proxy task every trial trains; Spec turns it into the
// trial.Spec of a trial (trial.Spec defines each option; the defaults
// here are trial's unless noted). Kind "classify" (the default) searches
// ConvNet patterns for an image classifier; kind "lm" searches
// Transformer patterns for a language model, with the model and recipe
// in LMConfig. Sites, SitesRegexp, Timeout and Seed belong to the search:
// which sites it proposes patterns for, how long a trial may run, and
// the trials' seed.
type Task struct {
	Kind        string  `json:"kind,omitempty"`         // "classify" (default) or "lm"
	LMConfig    string  `json:"lm_config,omitempty"`    // lm: model and recipe JSON (default configs/transformer-xl-small.json)
	Steps       int     `json:"steps,omitempty"`        // lm: optimizer steps (0: the recipe's max_step)
	EvalTokens  int     `json:"eval_tokens,omitempty"`  // lm: validation tokens evaluated (0: all)
	Model       string  `json:"model"`                  // default "convnet"; lm: "transformer-xl"
	Data        string  `json:"data"`                   // default "fashion-mnist"; lm: "fortunes"
	DataDir     string  `json:"data_dir"`               // default: the dataset's default folder
	TrainSubset int     `json:"train_subset"`           // examples, or lm: tokens of the training split, spread over it (0: all)
	Epochs      int     `json:"epochs"`                 // default 1
	BatchSize   int     `json:"batch_size"`             // default 128
	LR          float64 `json:"lr"`                     // default 0.05
	ValFrac     float64 `json:"val_frac,omitempty"`     // share of the training set held out (0: trial's default, 0.1)
	PerClass    int     `json:"per_class,omitempty"`    // imagenet: images per class read (0: all)
	ImageSize   int     `json:"image_size,omitempty"`   // imagenet: crop side (0: 224)
	Augment     *bool   `json:"augment,omitempty"`      // random crop (and flip for colour images); default on
	RandAugment bool    `json:"randaugment,omitempty"`  // RandAugment after the crop and flip (trial.Spec.RandAugment)
	RAOps       int     `json:"ra_ops,omitempty"`       // with randaugment: ops per image (0: 2)
	RAMagnitude int     `json:"ra_magnitude,omitempty"` // with randaugment: magnitude bin 1..30 (0: 9)
	// The optimizer and learning-rate schedule (trial.Spec's fields of
	// the same names; defaults: SGD with weight decay 5e-4, cosine).
	Optimizer     string             `json:"optimizer,omitempty"`       // sgd or rmsprop
	WeightDecay   float64            `json:"weight_decay,omitempty"`    // 0: 5e-4 (sgd), 1e-5 (rmsprop); negative: none
	LRSchedule    string             `json:"lr_schedule,omitempty"`     // cosine or exponential
	LRDecay       float64            `json:"lr_decay,omitempty"`        // exponential: factor per period (0: 0.97)
	LRDecayEpochs float64            `json:"lr_decay_epochs,omitempty"` // exponential: epochs per period (0: 2.4)
	WarmupEpochs  float64            `json:"warmup_epochs,omitempty"`   // linear warmup (0: none)
	Device        string             `json:"device,omitempty"`          // cpu (default), cuda or cuda:N
	Precision     libtorch.Precision `json:"precision,omitempty"`       // fp32, bf16, fp16 (CUDA) or auto (the default: trial.DefaultPrecision)
	Sites         []string           `json:"sites"`                     // dropout sites to search; empty: those matching sites_regexp (lm: sublayer kinds, default: the space's)
	SitesRegexp   string             `json:"sites_regexp"`              // default: batch-norm outputs `\.bn\d+$|^bn\d+$`; not used for lm
	Timeout       string             `json:"timeout"`                   // Go duration per trial (default "30m")
	Seed          int64              `json:"seed"`                      // every trial's training seed (default: the search's seed)
	// Nproc (classify) trains each run on this many processes of one
	// machine, data-parallel (trial.Spec.Nproc; batch_size is per
	// process; with device cuda each process takes its own GPU).
	Nproc int `json:"nproc,omitempty"`
	// SemiSupervised (classify) is the labeled subset and the
	// semi-supervised mode every trial trains with (labeled_per_class,
	// semi "uda", uda_ratio …; trial.SemiSupervised defines them), so
	// patterns can be searched with UDA as the trial's training.
	trial.SemiSupervised
}

// DefaultSitesRegexp picks batch-norm outputs, the paper's sites.
const DefaultSitesRegexp = trial.DefaultSites

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Method == "" {
		c.Method = "rl"
	}
	if c.Budget == 0 {
		c.Budget = 20
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	if c.SamplesPerUpdate == 0 {
		c.SamplesPerUpdate = c.Parallel
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.TopK == 0 {
		c.TopK = 5
	}
	c.Controller = c.Controller.withDefaults()
	t := &c.Task
	if t.Kind == "" {
		t.Kind = "classify"
	}
	if t.Kind == "lm" {
		// Batch size, learning rate and length come from LMConfig, sites from the space.
		t.Model = cmp.Or(t.Model, "transformer-xl")
		t.Data = cmp.Or(t.Data, "fortunes")
		t.LMConfig = cmp.Or(t.LMConfig, configs.TransformerXLSmall)
	} else {
		t.Model = cmp.Or(t.Model, "convnet")
		t.Data = cmp.Or(t.Data, "fashion-mnist")
		t.Epochs = cmp.Or(t.Epochs, 1)
		t.BatchSize = cmp.Or(t.BatchSize, 128)
		t.LR = cmp.Or(t.LR, 0.05)
		if len(t.Sites) == 0 && t.SitesRegexp == "" {
			t.SitesRegexp = DefaultSitesRegexp
		}
	}
	if t.Timeout == "" {
		t.Timeout = "30m"
	}
	if t.Seed == 0 {
		t.Seed = c.Seed
	}
	return c
}

// MaxBudget bounds Config.Budget: trial folders are numbered with four
// digits or more, and a budget this large is a typing error, not a search.
const MaxBudget = 1_000_000

// Check reports the first configuration error, naming the field (as in
// the JSON, task fields as task.NAME) and its value. It checks values
// only; Task.CheckFiles checks the files a task reads.
func (c Config) Check() error {
	switch {
	case c.Method != "rl" && c.Method != "random":
		return fmt.Errorf("method %q: want rl or random", c.Method)
	case c.Budget < 1 || c.Budget > MaxBudget:
		return fmt.Errorf("budget %d: want 1 to %d", c.Budget, MaxBudget)
	case c.Parallel < 1:
		return fmt.Errorf("parallel %d: want at least 1", c.Parallel)
	case c.Cores < 0:
		return fmt.Errorf("cores %d: want 0 (all) or more", c.Cores)
	case c.SamplesPerUpdate < 1:
		return fmt.Errorf("samples_per_update %d: want at least 1", c.SamplesPerUpdate)
	case c.TopK < 1:
		return fmt.Errorf("top_k %d: want at least 1", c.TopK)
	case !finite(c.FailureReward):
		return fmt.Errorf("failure_reward %v: want a number", c.FailureReward)
	}
	if err := c.Controller.check(); err != nil {
		return fmt.Errorf("controller.%w", err)
	}
	if err := c.Task.Check(); err != nil {
		return fmt.Errorf("task.%w", err)
	}
	if c.MultiFidelity != nil {
		return c.MultiFidelity.check(c.Task)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// maxHidden bounds the controller's width (its weights live in Go slices
// and are copied into libtorch on every pass).
const maxHidden = 4096

// check names the first bad field of a controller configuration (with
// defaults filled). tanh_c, entropy_weight and clip_norm may be negative:
// that turns them off.
func (c ControllerConfig) check() error {
	if err := c.checkKind(); err != nil {
		return err
	}
	switch {
	case !(c.LR > 0) || !finite(c.LR):
		return fmt.Errorf("lr %v: want a positive number", c.LR)
	case !(c.Beta1 > 0 && c.Beta1 < 1):
		return fmt.Errorf("beta1 %v: want (0, 1)", c.Beta1)
	case !(c.Beta2 > 0 && c.Beta2 < 1):
		return fmt.Errorf("beta2 %v: want (0, 1)", c.Beta2)
	case !(c.Eps > 0) || !finite(c.Eps):
		return fmt.Errorf("eps %v: want a positive number", c.Eps)
	case !(c.Temperature > 0) || !finite(c.Temperature):
		return fmt.Errorf("temperature %v: want a positive number", c.Temperature)
	case !finite(c.TanhC):
		return fmt.Errorf("tanh_c %v: want a number", c.TanhC)
	case !finite(c.EntropyWeight):
		return fmt.Errorf("entropy_weight %v: want a number", c.EntropyWeight)
	case !(c.BaselineDecay >= 0 && c.BaselineDecay < 1):
		return fmt.Errorf("baseline_decay %v: want [0, 1)", c.BaselineDecay)
	case !finite(c.ClipNorm):
		return fmt.Errorf("clip_norm %v: want a number", c.ClipNorm)
	case !(c.InitRange > 0) || !finite(c.InitRange):
		return fmt.Errorf("init_range %v: want a positive number", c.InitRange)
	}
	return nil
}

// checkKind checks the kind and the fields that belong to it: hidden for
// the LSTM; layers, heads and width for the Transformer.
func (c ControllerConfig) checkKind() error {
	switch c.Kind {
	case "":
		switch {
		case c.Hidden < 1 || c.Hidden > maxHidden:
			return fmt.Errorf("hidden %d: want 1 to %d", c.Hidden, maxHidden)
		case c.Layers != 0 || c.Heads != 0 || c.Width != 0:
			return fmt.Errorf("layers, heads and width are settings of kind %q; the LSTM's width is hidden", KindTransformer)
		}
	case KindTransformer:
		switch {
		case c.Hidden != 0:
			return fmt.Errorf("hidden is the LSTM's width; the transformer's is width")
		case c.Width < 1 || c.Width > maxHidden:
			return fmt.Errorf("width %d: want 1 to %d", c.Width, maxHidden)
		case c.Layers < 1 || c.Layers > 64:
			return fmt.Errorf("layers %d: want 1 to 64", c.Layers)
		case c.Heads < 1 || c.Width%c.Heads != 0:
			return fmt.Errorf("heads %d: want a positive divisor of width %d", c.Heads, c.Width)
		}
	default:
		return fmt.Errorf("kind %q: want %s (the default) or %s", c.Kind, KindLSTM, KindTransformer)
	}
	return nil
}

// Datasets a task may name, by kind.
var (
	ClassifyDatasets = []string{"fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet"}
	LMDatasets       = []string{"fortunes", "kjv", "ptb", "wikitext2", "wikitext103", "text"}
)

// Check reports the first bad field of a task (with defaults filled),
// naming it as in the JSON. A field the task's kind does not use is an
// error rather than silently ignored: batch_size in a language-model
// task, for instance, is the recipe's (lm_config), not the task's.
func (t Task) Check() error {
	if t.Kind != "classify" && t.Kind != "lm" {
		return fmt.Errorf("kind %q: want classify or lm", t.Kind)
	}
	if t.Precision != "" {
		if _, err := libtorch.ParsePrecision(string(t.Precision)); err != nil {
			return err
		}
	}
	if err := t.checkKindFields(); err != nil {
		return err
	}
	kind := map[bool]string{true: trial.LM, false: trial.Classify}[t.Kind == "lm"]
	if err := (trial.Spec{Task: kind, SemiSupervised: t.SemiSupervised}).Check(); err != nil {
		return fmt.Errorf("semi-supervised options (labeled_per_class, semi, uda_*, tsa): %w", err)
	}
	seen := map[string]bool{}
	for _, s := range t.Sites {
		if s == "" || seen[s] {
			return fmt.Errorf("sites: %q is empty or listed twice", s)
		}
		seen[s] = true
	}
	if err := checkDevice(t.Device); err != nil {
		return err
	}
	if d, err := time.ParseDuration(t.Timeout); err != nil || d < 0 {
		return fmt.Errorf("timeout %q: want a Go duration such as 30m (0: none)", t.Timeout)
	}
	return nil
}

// checkKindFields checks the fields of the task's kind, and that it sets
// none of the other kind's.
func (t Task) checkKindFields() error {
	lm := t.Kind == "lm"
	unused := func(name string, set bool, why string) error {
		if set {
			return fmt.Errorf("%s: not used by %s tasks (%s)", name, t.Kind, why)
		}
		return nil
	}
	for _, err := range []error{
		unused("lm_config", !lm && t.LMConfig != "", "only lm tasks read a recipe"),
		unused("steps", !lm && t.Steps != 0, "classification trains for epochs"),
		unused("eval_tokens", !lm && t.EvalTokens != 0, "only lm tasks evaluate tokens"),
		unused("epochs", lm && t.Epochs != 0, "use steps"),
		unused("batch_size", lm && t.BatchSize != 0, "the recipe in lm_config sets it"),
		unused("lr", lm && t.LR != 0, "the recipe in lm_config sets it"),
		unused("val_frac", lm && t.ValFrac != 0, "the corpus has its own validation split"),
		unused("per_class", lm && t.PerClass != 0, "only imagenet reads it"),
		unused("image_size", lm && t.ImageSize != 0, "only imagenet reads it"),
		unused("sites_regexp", lm && t.SitesRegexp != "", "sites name sublayer kinds"),
		unused("augment", lm && t.Augment != nil, "only image tasks augment"),
		unused("randaugment", lm && (t.RandAugment || t.RAOps != 0 || t.RAMagnitude != 0), "only image tasks augment"),
		unused("nproc", lm && t.Nproc != 0, "language models train on one process"),
		unused("optimizer", lm && (t.Optimizer != "" || t.WeightDecay != 0 || t.LRSchedule != "" || t.LRDecay != 0 || t.LRDecayEpochs != 0 || t.WarmupEpochs != 0), "the recipe in lm_config sets it"),
	} {
		if err != nil {
			return err
		}
	}
	if lm {
		return t.checkLM()
	}
	return t.checkClassify()
}

// checkLM checks the fields of a language-model task.
func (t Task) checkLM() error {
	switch {
	case t.Model != "transformer-xl":
		return fmt.Errorf("model %q: language-model tasks train transformer-xl", t.Model)
	case !slices.Contains(LMDatasets, t.Data):
		return fmt.Errorf("data %q: want one of %s", t.Data, strings.Join(LMDatasets, ", "))
	case t.LMConfig == "":
		return fmt.Errorf("lm_config: want the model and recipe file")
	case t.Steps < 0:
		return fmt.Errorf("steps %d: want 0 (the recipe's max_step) or more", t.Steps)
	case t.EvalTokens < 0:
		return fmt.Errorf("eval_tokens %d: want 0 (all) or more", t.EvalTokens)
	}
	return nil
}

// checkClassify checks the fields of a classification task.
func (t Task) checkClassify() error {
	imagenet := t.Data == "imagenet"
	switch {
	case t.Model == "":
		return fmt.Errorf("model: want a model name")
	case !slices.Contains(ClassifyDatasets, t.Data):
		return fmt.Errorf("data %q: want one of %s", t.Data, strings.Join(ClassifyDatasets, ", "))
	case t.Epochs < 1:
		return fmt.Errorf("epochs %d: want at least 1", t.Epochs)
	case t.BatchSize < 1:
		return fmt.Errorf("batch_size %d: want at least 1", t.BatchSize)
	case !(t.LR > 0) || !finite(t.LR):
		return fmt.Errorf("lr %v: want a positive number", t.LR)
	case t.TrainSubset < 0:
		return fmt.Errorf("train_subset %d: want 0 (all) or more", t.TrainSubset)
	case t.Nproc < 0:
		return fmt.Errorf("nproc %d: want 1 or more (0: one)", t.Nproc)
	case !(t.ValFrac >= 0 && t.ValFrac < 1):
		return fmt.Errorf("val_frac %v: want a fraction in (0, 1), or 0 for trial's default", t.ValFrac)
	case t.PerClass < 0:
		return fmt.Errorf("per_class %d: want 0 (all) or more", t.PerClass)
	case t.PerClass != 0 && !imagenet:
		return fmt.Errorf("per_class: only imagenet reads it, not %s", t.Data)
	case t.ImageSize < 0:
		return fmt.Errorf("image_size %d: want 0 (224) or more", t.ImageSize)
	case t.ImageSize != 0 && !imagenet:
		return fmt.Errorf("image_size: only imagenet reads it, not %s", t.Data)
	case t.Data == "mnist" && t.DataDir == "":
		return fmt.Errorf("data_dir: mnist has no default folder")
	case len(t.Sites) > 0 && t.SitesRegexp != "":
		return fmt.Errorf("sites and sites_regexp: set one")
	case !t.RandAugment && (t.RAOps != 0 || t.RAMagnitude != 0):
		return fmt.Errorf("ra_ops %d, ra_magnitude %d: they set RandAugment, which needs randaugment: true", t.RAOps, t.RAMagnitude)
	case t.RAOps < 0 || t.RAMagnitude < 0 || t.RAMagnitude > 30:
		return fmt.Errorf("ra_ops %d, ra_magnitude %d: want 0 (the default) or more operations, and a magnitude bin in 1..30", t.RAOps, t.RAMagnitude)
	}
	if _, err := regexp.Compile(t.SitesRegexp); err != nil {
		return fmt.Errorf("sites_regexp %q: %w", t.SitesRegexp, err)
	}
	sp := trial.Spec{Optimizer: t.Optimizer, WeightDecay: t.WeightDecay, LRSchedule: t.LRSchedule, LRDecay: t.LRDecay,
		LRDecayEpochs: t.LRDecayEpochs, WarmupEpochs: t.WarmupEpochs}
	if err := sp.Check(); err != nil { // trial's check of the recipe, which names the flags
		return fmt.Errorf("optimizer or schedule: %w (the fields optimizer, weight_decay, lr_schedule, lr_decay, lr_decay_epochs, warmup_epochs)", err)
	}
	return nil
}

func checkDevice(d string) error {
	if d == "" || d == "cpu" || d == "cuda" {
		return nil
	}
	if n, ok := strings.CutPrefix(d, "cuda:"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && strconv.Itoa(i) == n {
			return nil
		}
	}
	return fmt.Errorf("device %q: want cpu, cuda or cuda:N", d)
}

// CheckFiles checks that the files a trial reads exist where the trainer
// will look: the dataset's files in data_dir (or the trainer's default
// folder) and, for language models, lm_config. Relative paths are taken
// from the current folder, as the trainer does. A search whose trials run
// on other machines (workers) cannot check their files this way. The
// "kjv" corpus is prepared here (data.PrepareKJV) when its folder lacks
// it, so parallel trials find it ready, and a missing Debian package is
// reported before the first trial.
func (t Task) CheckFiles() error {
	if t.Kind == "lm" {
		if err := configs.Exists(t.LMConfig); err != nil {
			return fmt.Errorf("lm_config %s: %w", t.LMConfig, err)
		}
	}
	if t.Data == "kjv" { // prepared here once, rather than by every trial
		if _, err := data.PrepareKJV(data.KJVOptions{Dir: t.DataDir}); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		return nil
	}
	dir, err := t.dataFolder()
	if err != nil {
		return err
	}
	// anyOf is satisfied by the first name found in dir or in one of subs.
	need := func(subs []string, anyOf ...string) error {
		for _, sub := range subs {
			for _, n := range anyOf {
				if _, err := os.Stat(filepath.Join(dir, sub, n)); err == nil {
					return nil
				}
			}
		}
		return fmt.Errorf("data_dir %s (data %s): %s not found", dir, t.Data, strings.Join(anyOf, " or "))
	}
	here := []string{""}
	switch t.Data {
	case "fashion-mnist", "mnist":
		for _, n := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
			err = cmp.Or(err, need(here, n, n+".gz"))
		}
	case "cifar10":
		for _, n := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
			err = cmp.Or(err, need([]string{"", data.CIFAR10Folder}, n))
		}
	case "cifar100":
		for _, n := range []string{"train.bin", "test.bin"} {
			err = cmp.Or(err, need([]string{"", data.CIFAR100Folder}, n))
		}
	case "imagenet":
		err = cmp.Or(need(here, "train"), need(here, "val"))
	case "ptb", "wikitext2", "wikitext103", "text":
		if _, cerr := data.CorpusFolder(t.Data, dir); cerr != nil {
			err = fmt.Errorf("data_dir %s (data %s): %w", dir, t.Data, cerr)
		}
	}
	return err
}

// dataFolder is the folder the trainer reads the task's data from: data_dir,
// or the dataset's default folder; it must exist.
func (t Task) dataFolder() (string, error) {
	dir := t.DataDir
	if dir == "" {
		switch t.Data {
		case "fashion-mnist":
			dir = data.FashionMNISTDir
		case "fortunes":
			dir = data.FortunesDir
		case "mnist":
			return "", fmt.Errorf("data_dir: mnist has no default folder")
		default:
			dir = "." // the trainer reads the current folder
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return "", fmt.Errorf("data_dir %s (data %s): %w", dir, t.Data, err)
	}
	return dir, nil
}

// TimeoutDuration is Task.Timeout parsed.
func (t Task) TimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(t.Timeout)
	return d
}

// Spec is the trial.Spec of the task: what every trial trains, less
// the trial's own options (its patterns, seed, folder, threads, rung and
// the test split it skips; see Trial.Spec). An experiment's final
// trainings start from it too.
func (t Task) Spec() trial.Spec {
	s := trial.Spec{Model: t.Model, Data: t.Data, DataDir: t.DataDir, Device: t.Device, Precision: t.Precision, TrainSubset: t.TrainSubset}
	if t.Kind == "lm" {
		s.Task, s.LMConfig, s.Steps, s.EvalTokens = trial.LM, t.LMConfig, t.Steps, t.EvalTokens
		return s
	}
	s.Epochs, s.BatchSize, s.LR = t.Epochs, t.BatchSize, t.LR
	s.ValFrac, s.PerClass, s.ImageSize = t.ValFrac, t.PerClass, t.ImageSize
	s.NoAugment = t.Augment != nil && !*t.Augment
	s.RandAugment, s.RAOps, s.RAMagnitude = t.RandAugment, t.RAOps, t.RAMagnitude
	s.Optimizer, s.WeightDecay, s.LRSchedule = t.Optimizer, t.WeightDecay, t.LRSchedule
	s.LRDecay, s.LRDecayEpochs, s.WarmupEpochs = t.LRDecay, t.LRDecayEpochs, t.WarmupEpochs
	s.SemiSupervised = t.SemiSupervised
	s.Nproc = t.Nproc
	return s
}

// ReadConfig reads a JSON config and checks it (Config.Check); unknown
// fields, and anything after the JSON object, are errors naming the file.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a JSON config strictly (DecodeStrict), fills the
// defaults and checks it.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := DecodeStrict(b, &c); err != nil {
		return Config{}, err
	}
	c = c.WithDefaults()
	if err := c.Check(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// DecodeStrict decodes one JSON value into v: unknown fields, wrong types
// and anything but white space after the value are errors that give the
// line, column and field path (the module's one strict decoder,
// internal/strictjson).
func DecodeStrict(b []byte, v any) error { return strictjson.Decode(b, v) }

// hash is the SHA-256 of the config (with defaults) and the resolved sites.
// Cores, parallel and the timeout are left out: they change how fast the
// search runs, not what it finds (samples_per_update is kept).
func hash(c Config, sites []string) (string, json.RawMessage) {
	raw, _ := json.Marshal(c)
	c.Cores, c.Parallel, c.Task.Timeout = 0, 0, ""
	b, _ := json.Marshal(struct {
		Config Config   `json:"config"`
		Sites  []string `json:"sites"`
	}{c, sites})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8]), raw
}

// configDiff lists the fields whose values differ between two
// configurations' JSON ("budget 8 then, 16 now"), leaving out those a
// resume may change (cores, parallel, task.timeout); "" when none does.
func configDiff(was, now json.RawMessage) string {
	a, b := map[string]string{}, map[string]string{}
	flattenJSON(was, "", a)
	flattenJSON(now, "", b)
	for _, free := range []string{"cores", "parallel", "task.timeout"} {
		delete(a, free)
		delete(b, free)
	}
	return trial.ValuesDiff(a, b)
}

// flattenJSON puts the leaves of the JSON value raw into out by their
// dotted path (a list's items by index).
func flattenJSON(raw json.RawMessage, path string, out map[string]string) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil && obj != nil {
		for k, v := range obj {
			flattenJSON(v, strings.TrimPrefix(path+"."+k, "."), out)
		}
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil && list != nil {
		for i, v := range list {
			flattenJSON(v, fmt.Sprintf("%s[%d]", path, i), out)
		}
		return
	}
	if s := string(raw); s != "null" {
		out[path] = s
	}
}
