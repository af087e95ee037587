package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Settings say what to measure. The zero value of a field is not a
// default: DefaultSettings has the command's defaults.
type Settings struct {
	Models     string          // comma-separated models; a classifier takes an input shape after @
	Batch      int             // classifier batch size
	Threads    int             // libtorch intra-op threads of the PyTorch reference (ours: the caller's)
	Steps      int             // timed steps per variant
	Warmup     int             // untimed steps per variant first
	PyTorch    bool            // also time PyTorch eager in a second process
	Python     string          // Python for PyTorch ("": /usr/bin/python3, else python3 on PATH)
	Script     string          // the PyTorch reference script
	WrnPattern string          // pattern file for the classifiers
	LMConfig   string          // Transformer-XL model and recipe
	LMPattern  string          // Transformer-XL pattern file
	Vocab      int             // Transformer-XL vocabulary size
	DataDir    string          // Fashion-MNIST folder for the loader measurement
	Rate       float64         // drop probability of Dropout and DropBlock
	BlockSize  int             // DropBlock's block side
	Skip       map[string]bool // sections to leave out (Sections)
	Variants   map[string]bool // regularizers to time; nil: all
	Precisions []libtorch.Precision
	Images     ImagesSettings // the image-loader section (images.go)
	Out        io.Writer      // the printed tables (nil: discarded)
}

// Sections are the parts of a benchmark run that Settings.Skip can leave
// out.
var Sections = []string{"step", "mask", "loader", "controller", "images"}

// DefaultSettings returns the command's defaults.
func DefaultSettings() *Settings {
	return &Settings{Models: "wrn-16-2,wrn-28-2,transformer-xl", Batch: 128, Steps: 10, Warmup: 2,
		Script: "scripts/bench_pytorch.py", WrnPattern: "configs/patterns/wrn-16-2-hand.json",
		LMConfig: "configs/transformer-xl-small.json", LMPattern: "configs/transformer-xl-patterns-hand.json",
		Vocab: 14922, DataDir: data.FashionMNISTDir, Rate: 0.1, BlockSize: 3, Skip: map[string]bool{},
		Precisions: []libtorch.Precision{libtorch.FP32}, Images: DefaultImagesSettings()}
}

// Report is what --json writes. Times are in milliseconds.
type Report struct {
	Machine    Machine           `json:"machine"`
	Batch      int               `json:"batch"`
	Steps      int               `json:"steps"`
	Warmup     int               `json:"warmup"`
	PyTorch    string            `json:"pytorch"` // version, or why it was skipped
	Step       []StepResult      `json:"step"`
	Params     []ParamCount      `json:"params,omitempty"`
	Memory     []MemoryResult    `json:"memory,omitempty"`
	Mask       []MaskResult      `json:"mask,omitempty"`
	Loader     *LoaderResult     `json:"loader,omitempty"`
	Controller *ControllerResult `json:"controller,omitempty"`
	Images     *ImagesResult     `json:"images,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Threads  int    `json:"threads"`
	Libtorch string `json:"libtorch"`
	BLAS     string `json:"blas"` // the BLAS library libtorch's matmuls run in
	Go       string `json:"go"`
}

// StepResult is one model and regularizer: median step times, and ratios
// that are medians of per-round ratios (see benchModel.run).
type StepResult struct {
	Model     string   `json:"model"`
	Variant   string   `json:"variant"`
	Precision string   `json:"precision"` // of both ours and PyTorch's step: fp32 or bf16 (autocast)
	Sites     int      `json:"sites"`     // sites the regularizer is on
	OursMS    float64  `json:"ours_ms"`
	OursNone  float64  `json:"ours_vs_none"`
	TorchMS   *float64 `json:"pytorch_ms,omitempty"`
	TorchNone *float64 `json:"pytorch_vs_none,omitempty"`
	OursTorch *float64 `json:"ours_vs_pytorch,omitempty"`
	// 95% bootstrap intervals of the two ratios: on a noisy machine a
	// ratio is a claim only as far as its interval reaches.
	OursNoneCI  [2]float64  `json:"ours_vs_none_ci95"`
	OursTorchCI *[2]float64 `json:"ours_vs_pytorch_ci95,omitempty"`
	// With several precisions: our step against our float32 step of the
	// same variant in the same round, and PyTorch's likewise.
	OursFP32   *float64    `json:"ours_vs_fp32,omitempty"`
	OursFP32CI *[2]float64 `json:"ours_vs_fp32_ci95,omitempty"`
	TorchFP32  *float64    `json:"pytorch_vs_fp32,omitempty"`
	Faults     float64     `json:"ours_page_faults_per_step"` // median minor faults (Linux)
	OursAll    []float64   `json:"ours_all_ms"`
	TorchAll   []float64   `json:"pytorch_all_ms,omitempty"`
}

// ParamCount compares the trainable parameters of our model and PyTorch's.
type ParamCount struct {
	Model   string `json:"model"`
	Ours    int64  `json:"ours"`
	PyTorch int64  `json:"pytorch"`
}

// MemoryResult is the resident memory of the process around one model's
// timed steps (every variant's), and the C heap's bytes in use (tensors):
// over so few steps the resident memory still climbs to its high-water
// mark, while a leak shows as growth in use (the long check is
// TestStepMemoryLong).
type MemoryResult struct {
	Model       string  `json:"model"`
	AfterWarmMB float64 `json:"after_warmup_mb"`
	EndMB       float64 `json:"end_mb"`
	Steps       int     `json:"steps"`
	PerStepMB   float64 `json:"growth_per_step_mb"`
	InUseWarmMB float64 `json:"c_heap_in_use_after_warmup_mb"`
	InUseEndMB  float64 `json:"c_heap_in_use_end_mb"`
}

// MaskResult is the time to draw one site's mask (median), by shape.
type MaskResult struct {
	Model     string   `json:"model"`
	Shape     []int64  `json:"shape"`
	Sites     int      `json:"sites"` // pattern sites with this shape
	PatternMS float64  `json:"pattern_ms"`
	DropBlock float64  `json:"dropblock_ms"`
	Dropout   float64  `json:"dropout_ms"`
	TorchMS   *float64 `json:"pytorch_pattern_ms,omitempty"`
	StepShare float64  `json:"pattern_share_of_none_step"` // Σ sites·pattern / none step
}

// LoaderResult compares the loader's throughput with the step's appetite.
type LoaderResult struct {
	Model         string  `json:"model"`
	LoaderPerS    float64 `json:"loader_examples_per_s"`
	StepPerS      float64 `json:"step_examples_per_s"`
	Ratio         float64 `json:"loader_vs_step"`
	WaitMSPerStep float64 `json:"wait_ms_per_step"` // fed steps: time blocked on the loader
	FedSteps      int     `json:"fed_steps"`
}

// ControllerResult compares one controller round (samples and an update)
// with one trial.
type ControllerResult struct {
	Sites        int     `json:"sites"`
	Samples      int     `json:"samples_per_update"`
	SampleMS     float64 `json:"sample_ms"`
	UpdateMS     float64 `json:"update_ms"`
	TrialS       float64 `json:"trial_s"` // one epoch of Fashion-MNIST's training split at the measured step
	RoundVsTrial float64 `json:"round_vs_trial"`
}

// Run measures what s says and prints the tables to s.Out. It runs on a
// pinned thread with gradient recording on (libtorch.TrainThread); set
// libtorch's thread count before calling it.
func Run(s *Settings) (*Report, error) {
	f := s
	if f.Out == nil {
		f.Out = io.Discard
	}
	n := libtorch.Threads()
	var err error
	release, err := libtorch.TrainThread()
	if err != nil {
		return nil, err
	}
	defer release()
	rep := &Report{Batch: f.Batch, Steps: f.Steps, Warmup: f.Warmup, Machine: machine()}
	fmt.Fprintf(f.Out, "autodropout bench: %s, %d cores, %d libtorch threads, libtorch %s, BLAS %s, %s\n",
		rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Threads, rep.Machine.Libtorch, rep.Machine.BLAS, rep.Machine.Go)
	if referenceBLAS(rep.Machine.BLAS) {
		fmt.Fprintln(f.Out, "note: this is Debian's reference BLAS, slow for linear layers: the Transformer-XL's step ran 10x faster")
		fmt.Fprintln(f.Out, "      on OpenBLAS (apt-get install libopenblas0-openmp; see docs/performance.md). Convolutions do not use BLAS.")
	}
	fmt.Fprintf(f.Out, "median of %d timed steps per variant after %d warm-up steps, variants round robin; ratios within this run\n\n", f.Steps, f.Warmup)

	var py *pyBridge
	if f.PyTorch {
		if py, err = startPyTorch(f.Python, f.Script, n); err != nil {
			rep.PyTorch = "skipped: " + err.Error()
			fmt.Fprintf(f.Out, "PyTorch comparison skipped: %v\n\n", err)
		} else {
			defer py.close()
			rep.PyTorch = py.version
			fmt.Fprintf(f.Out, "PyTorch %s (%s) in a second process, its steps alternating with ours\n\n", py.version, py.python)
		}
	} else {
		rep.PyTorch = "not requested (--pytorch)"
	}

	models, err := buildModels(f, py)
	if err != nil {
		return nil, err
	}
	if !f.Skip["step"] || !f.Skip["loader"] || !f.Skip["controller"] {
		for _, m := range models {
			if err := m.run(f, py, rep); err != nil {
				return nil, err
			}
		}
		printSteps(f, rep)
	}
	if !f.Skip["mask"] {
		if err := benchMasks(f, models, py, rep); err != nil {
			return nil, err
		}
	}
	if !f.Skip["loader"] {
		if err := benchLoader(f, models, rep); err != nil {
			return nil, err
		}
	}
	if !f.Skip["controller"] {
		if err := benchController(f, models, rep); err != nil {
			return nil, err
		}
	}
	for _, m := range models {
		m.close()
	}
	if !f.Skip["images"] {
		if err := benchImages(f, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// ---------------------------------------------------------------- models

// A stepper runs training steps of one model with one regularizer.
type stepper interface {
	step() error
	close()
}

type classifierStepper struct {
	model nn.SiteModel
	vs    *gnn.VarStore
	opt   *gnn.Optimizer
	batch *data.Batch
	amp   *train.AMP
}

func (c *classifierStepper) step() error {
	_, err := train.StepAMP(c.model, c.opt, c.batch, c.amp)
	return err
}

func (c *classifierStepper) close() {}

type lmStepper struct {
	model *nn.TransformerXL
	vs    *gnn.VarStore
	opt   train.Optimizer
	x, y  *ts.Tensor
	mems  []*ts.Tensor
	clip  float64
	amp   *train.AMP
}

func (l *lmStepper) step() error {
	_, next, err := train.LMStepAMP(l.vs, l.opt, l.model, l.x, l.y, l.mems, l.clip, l.amp)
	l.mems = next
	return err
}

func (l *lmStepper) close() {
	for _, m := range l.mems {
		m.MustDrop()
	}
	l.mems = nil
	if a, ok := l.opt.(*train.Adam); ok {
		a.Drop()
	}
	l.x.MustDrop()
	l.y.MustDrop()
}

// A benchVariant is one regularizer on one model, ours and PyTorch's.
type benchVariant struct {
	name     string
	prec     libtorch.Precision
	ours     stepper
	sites    int
	pyID     string // "" when PyTorch does not run it
	oursT    []float64
	pyT      []float64
	faults   []float64
	params   int64
	pyParams int64
}

// A benchModel is one model with its variants (none first).
type benchModel struct {
	name     string
	in       []int64 // C, H, W of a classifier; nil for the language model
	patterns []autodropout.SitePattern
	variants []*benchVariant
	pySkip   string // why PyTorch does not run this model
}

var wrnName = regexp.MustCompile(`^wrn-(\d+)-(\d+)$`)

func buildModels(f *Settings, py *pyBridge) ([]*benchModel, error) {
	var out []*benchModel
	for _, spec := range strings.Split(f.Models, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		var m *benchModel
		var err error
		if spec == "transformer-xl" {
			m, err = buildLM(f, py)
		} else {
			m, err = buildClassifier(f, spec, py)
		}
		if err != nil {
			return nil, fmt.Errorf("--models %s: %w", spec, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--models: no model given")
	}
	return out, nil
}

// parseInput reads "name@CxHxW".
func parseInput(spec string) (name string, in []int64, err error) {
	name, shape, ok := strings.Cut(spec, "@")
	if !ok {
		if name == "wrn-16-2" {
			return name, []int64{1, 28, 28}, nil
		}
		return name, []int64{3, 32, 32}, nil
	}
	parts := strings.Split(shape, "x")
	if len(parts) != 3 {
		return "", nil, fmt.Errorf("input shape %q: want CxHxW", shape)
	}
	for _, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 1 {
			return "", nil, fmt.Errorf("input shape %q: want positive CxHxW", shape)
		}
		in = append(in, v)
	}
	return name, in, nil
}

// benchClasses is the classifiers' number of classes.
const benchClasses = 10

func buildClassifier(f *Settings, spec string, py *pyBridge) (*benchModel, error) {
	name, in, err := parseInput(spec)
	if err != nil {
		return nil, err
	}
	file, err := autodropout.ReadPatterns(f.WrnPattern)
	if err != nil {
		return nil, fmt.Errorf("--pattern: %w", err)
	}
	m := &benchModel{name: spec, in: in}
	wrn := wrnName.FindStringSubmatch(name)
	if py != nil && wrn == nil {
		m.pySkip = "the PyTorch script builds WRN-d-k only"
	}
	batch := &data.Batch{X: make([]float32, f.Batch*int(in[0]*in[1]*in[2])), Y: make([]int64, f.Batch),
		N: f.Batch, C: int(in[0]), H: int(in[1]), W: int(in[2])}
	for i := range batch.X { // the fixture of train's BenchmarkStep
		batch.X[i] = float32(i%97)/48 - 1
	}
	for i := range batch.Y {
		batch.Y[i] = int64(i % benchClasses)
	}
	for _, prec := range f.Precisions {
		for _, v := range []string{"none", "dropout", "dropblock", "pattern"} {
			if f.Variants != nil && !f.Variants[v] {
				continue
			}
			bv, err := buildClassifierVariant(f, m, name, spec, v, prec, wrn, file, batch, py)
			if err != nil {
				return nil, err
			}
			m.variants = append(m.variants, bv)
		}
	}
	return m, nil
}

// buildClassifierVariant builds one regularizer v on model name in
// precision prec, ours and PyTorch's.
func buildClassifierVariant(f *Settings, m *benchModel, name, spec, v string, prec libtorch.Precision, wrn []string,
	file []autodropout.SitePattern, batch *data.Batch, py *pyBridge) (*benchVariant, error) {
	in := m.in
	if err := libtorch.ManualSeed(1); err != nil {
		return nil, err
	}
	vs := gnn.NewVarStore(gotch.CPU)
	model, err := nn.New(name, vs.Root(), nn.Input{C: in[0], H: in[1], W: in[2]}, benchClasses)
	if err != nil {
		return nil, err
	}
	if m.patterns == nil {
		m.patterns = mapPatterns(model.Sites().Names(), file)
		if len(m.patterns) == 0 {
			return nil, fmt.Errorf("no site of %s matches the sites of %s", name, f.WrnPattern)
		}
	}
	sites := make([]string, len(m.patterns))
	for i, sp := range m.patterns {
		sites[i] = sp.Site
	}
	switch v {
	case "dropout", "dropblock":
		// The baselines go to the pattern's sites, so that every
		// regularized variant touches the same activations.
		reg, err := autodropout.New(v, autodropout.Options{Rate: f.Rate, BlockSize: f.BlockSize})
		if err != nil {
			return nil, err
		}
		for _, s := range sites {
			if err := model.Sites().Set(s, reg); err != nil {
				return nil, err
			}
		}
	case "pattern":
		if _, err := model.Sites().SetPatterns(m.patterns); err != nil {
			return nil, err
		}
	}
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.01)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	amp, err := train.NewAMP(prec, vs)
	if err != nil {
		return nil, err
	}
	bv := &benchVariant{name: v, prec: prec, ours: &classifierStepper{model, vs, opt, batch, amp}, params: train.CountParams(vs),
		sites: countSites(model.Sites())}
	if py != nil && m.pySkip == "" {
		depth, _ := strconv.Atoi(wrn[1])
		width, _ := strconv.Atoi(wrn[2])
		bv.pyID = spec + "/" + v + "/" + string(prec)
		pspec := map[string]any{"kind": "classifier", "depth": depth, "width": width, "input": in, "classes": benchClasses,
			"batch": f.Batch, "regularizers": regSpecs(model.Sites()), "seed": 1, "precision": string(prec)}
		if bv.pyParams, err = py.build(bv.pyID, pspec); err != nil {
			return nil, fmt.Errorf("pytorch %s: %w", bv.pyID, err)
		}
	}
	return bv, nil
}

func buildLM(f *Settings, py *pyBridge) (*benchModel, error) {
	b, err := os.ReadFile(f.LMConfig)
	if err != nil {
		return nil, fmt.Errorf("--lm-config: %w", err)
	}
	var cfg train.LMRecipe
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("--lm-config %s: %w", f.LMConfig, err)
	}
	cfg.Model.NToken = int64(f.Vocab)
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("--lm-config %s: batch_size %d: want ≥ 1", f.LMConfig, cfg.BatchSize)
	}
	m := &benchModel{name: "transformer-xl"}
	for _, prec := range f.Precisions {
		for _, v := range []string{"none", "dropout", "pattern"} {
			if f.Variants != nil && !f.Variants[v] {
				continue
			}
			if err := libtorch.ManualSeed(1); err != nil {
				return nil, err
			}
			vs := gnn.NewVarStore(gotch.CPU)
			model, err := nn.NewTransformerXL(vs.Root(), cfg.Model)
			if err != nil {
				return nil, fmt.Errorf("--lm-config %s: %w", f.LMConfig, err)
			}
			if err := nn.SetLMRegularizer(model.Sites(), v, f.LMPattern, cfg.Model); err != nil {
				return nil, err
			}
			opt, err := train.LMOptimizer(vs, cfg.Optimizer, cfg.LR)
			if err != nil {
				return nil, fmt.Errorf("--lm-config %s: %w", f.LMConfig, err)
			}
			shape := []int64{cfg.BatchSize, cfg.Model.TgtLen}
			x, err := ts.Randint(int64(f.Vocab), shape, gotch.Int64, gotch.CPU)
			if err != nil {
				return nil, err
			}
			y, err := ts.Randint(int64(f.Vocab), shape, gotch.Int64, gotch.CPU)
			if err != nil {
				return nil, err
			}
			amp, err := train.NewAMP(prec, vs)
			if err != nil {
				return nil, err
			}
			bv := &benchVariant{name: v, prec: prec, params: train.CountParams(vs), sites: countSites(model.Sites()),
				ours: &lmStepper{model: model, vs: vs, opt: opt, x: x, y: y, clip: cfg.Clip, amp: amp}}
			if py != nil {
				bv.pyID = "transformer-xl/" + v + "/" + string(prec)
				c := cfg.Model
				pspec := map[string]any{"kind": "lm", "batch": cfg.BatchSize, "lr": cfg.LR, "clip": cfg.Clip, "optimizer": cfg.Optimizer,
					"regularizers": regSpecs(model.Sites()), "seed": 1, "precision": string(prec),
					"config": map[string]any{"n_token": c.NToken, "n_layer": c.NLayer, "d_model": c.DModel, "n_head": c.NHead,
						"d_head": c.DHead, "d_inner": c.DInner, "tgt_len": c.TgtLen, "mem_len": c.MemLen}}
				if bv.pyParams, err = py.build(bv.pyID, pspec); err != nil {
					return nil, fmt.Errorf("pytorch %s: %w", bv.pyID, err)
				}
			}
			m.variants = append(m.variants, bv)
		}
	}
	return m, nil
}

// mapPatterns gives each site of a model the pattern file's entry for it,
// or else the entry for the same site kind in the same group of blocks:
// WRN-28-2's block2.layer.3.bn2 takes block2.layer.1.bn2's pattern from a
// file written for WRN-16-2. Sites with neither get nothing.
func mapPatterns(names []string, file []autodropout.SitePattern) []autodropout.SitePattern {
	layer := regexp.MustCompile(`\.layer\.\d+\.`)
	kind := func(s string) string { return layer.ReplaceAllString(s, ".layer.*.") }
	exact := map[string]autodropout.Pattern{}
	byKind := map[string]autodropout.Pattern{}
	for _, sp := range file {
		exact[sp.Site] = sp.Pattern
		if _, ok := byKind[kind(sp.Site)]; !ok {
			byKind[kind(sp.Site)] = sp.Pattern
		}
	}
	var out []autodropout.SitePattern
	for _, n := range names {
		if p, ok := exact[n]; ok {
			out = append(out, autodropout.SitePattern{Site: n, Pattern: p})
		} else if p, ok := byKind[kind(n)]; ok {
			out = append(out, autodropout.SitePattern{Site: n, Pattern: p})
		}
	}
	return out
}

func countSites(s *nn.Sites) int {
	n := 0
	for _, name := range s.Names() {
		if s.Get(name) != nil {
			n++
		}
	}
	return n
}

// regSpecs describes the regularizer of every occupied site for the PyTorch
// script: one entry per site, matched by its whole name.
func regSpecs(s *nn.Sites) []map[string]any {
	out := []map[string]any{}
	for _, name := range s.Names() {
		e := map[string]any{"sites": "^" + regexp.QuoteMeta(name) + "$"}
		switch r := s.Get(name).(type) {
		case nil:
			continue
		case *autodropout.Dropout:
			e["kind"], e["rate"] = "dropout", r.P
		case *autodropout.DropBlock:
			e["kind"], e["rate"], e["block_size"] = "dropblock", r.P, r.BlockSize
		case *autodropout.PatternDropout:
			e["kind"], e["pattern"] = "pattern", r.Pattern
		case *autodropout.TransformerDropout:
			e["kind"], e["pattern"] = "tpattern", r.P
		default:
			e["kind"] = fmt.Sprintf("%T", r) // the script refuses it, naming it
		}
		out = append(out, e)
	}
	return out
}

// run times every variant's step, ours and PyTorch's, round robin.
func (m *benchModel) run(f *Settings, py *pyBridge, rep *Report) error {
	if f.Skip["step"] {
		// The loader and the controller still want a step time: a few steps.
		f = &Settings{Steps: min(f.Steps, 3), Warmup: min(f.Warmup, 1), Skip: f.Skip, Out: f.Out}
	}
	fmt.Fprintf(f.Out, "timing %s: %d variants × (%d + %d) steps", m.name, len(m.variants), f.Warmup, f.Steps)
	if py != nil && m.pySkip == "" {
		fmt.Fprint(f.Out, ", ours and PyTorch's")
	}
	fmt.Fprintln(f.Out)
	var rssWarm, inUseWarm float64
	for r := 0; r < f.Warmup+f.Steps; r++ {
		if r == f.Warmup {
			runtime.GC()
			rssWarm, inUseWarm = rssMB(), cHeapInUseMB()
		}
		for _, v := range m.variants {
			f0, t0 := minorFaults(), time.Now()
			if err := v.ours.step(); err != nil {
				return fmt.Errorf("%s %s step: %w", m.name, v.name, err)
			}
			d := time.Since(t0).Seconds() * 1e3
			if r >= f.Warmup {
				v.oursT = append(v.oursT, d)
				v.faults = append(v.faults, float64(minorFaults()-f0))
			}
			if py != nil && v.pyID != "" {
				times, err := py.run(v.pyID, 1)
				if err != nil {
					return fmt.Errorf("pytorch %s: %w", v.pyID, err)
				}
				if r >= f.Warmup {
					for _, t := range times {
						v.pyT = append(v.pyT, t*1e3)
					}
				}
			}
		}
	}
	runtime.GC()
	end := rssMB()
	total := f.Steps * len(m.variants)
	rep.Memory = append(rep.Memory, MemoryResult{Model: m.name, AfterWarmMB: rssWarm, EndMB: end, Steps: total,
		PerStepMB: (end - rssWarm) / float64(total), InUseWarmMB: inUseWarm, InUseEndMB: cHeapInUseMB()})
	// Ratios are medians of per-round ratios: a variant's step against the
	// none step of the same round, ours against PyTorch's step that ran
	// right after it. Pairing cancels the machine's slower and faster
	// spells, which move every variant of a round alike.
	// A variant's none is the none of its precision; its fp32 is the same
	// variant in fp32 when that is timed too.
	find := func(name string, p libtorch.Precision) *benchVariant {
		for _, v := range m.variants {
			if v.name == name && v.prec == p {
				return v
			}
		}
		return nil
	}
	for _, v := range m.variants {
		none := find("none", v.prec)
		r := StepResult{Model: m.name, Variant: v.name, Precision: string(v.prec), Sites: v.sites, OursMS: median(v.oursT), OursAll: v.oursT, TorchAll: v.pyT,
			Faults: median(v.faults)}
		r.OursNone, r.OursNoneCI = pairedRatio(v.oursT, none.oursT), pairedRatioCI(v.oursT, none.oursT)
		if len(v.pyT) > 0 {
			t, tn, ot := median(v.pyT), pairedRatio(v.pyT, none.pyT), pairedRatio(v.oursT, v.pyT)
			ci := pairedRatioCI(v.oursT, v.pyT)
			r.TorchMS, r.TorchNone, r.OursTorch, r.OursTorchCI = &t, &tn, &ot, &ci
		}
		if fp := find(v.name, libtorch.FP32); fp != nil && fp != v {
			of, ci := pairedRatio(v.oursT, fp.oursT), pairedRatioCI(v.oursT, fp.oursT)
			r.OursFP32, r.OursFP32CI = &of, &ci
			if len(v.pyT) > 0 && len(fp.pyT) > 0 {
				tf := pairedRatio(v.pyT, fp.pyT)
				r.TorchFP32 = &tf
			}
		}
		rep.Step = append(rep.Step, r)
	}
	if py != nil && m.pySkip == "" {
		rep.Params = append(rep.Params, ParamCount{Model: m.name, Ours: m.variants[0].params, PyTorch: m.variants[0].pyParams})
	}
	return nil
}

func (m *benchModel) close() {
	for _, v := range m.variants {
		v.ours.close()
	}
}

func (m *benchModel) noneMS() float64 { return median(m.variants[0].oursT) }

func printSteps(f *Settings, rep *Report) {
	fmt.Fprintf(f.Out, "\ntraining step (forward, backward, optimizer), batch %d (Transformer-XL: its config's)\n", rep.Batch)
	fmt.Fprintln(f.Out, "ratios: medians of per-round ratios (95% bootstrap interval); faults: our page faults per step (memory the allocator had given back)")
	multi := false
	for _, r := range rep.Step {
		multi = multi || r.OursFP32 != nil
	}
	fmt.Fprintf(f.Out, "%-16s %-10s %-5s %5s %9s %16s %11s %7s %16s %7s", "model", "variant", "prec", "sites", "ours ms", "×none", "PyTorch ms", "×none", "ours/PT", "faults")
	if multi {
		fmt.Fprintf(f.Out, " %16s %8s", "ours ×fp32", "PT ×fp32")
	}
	fmt.Fprintln(f.Out)
	for _, r := range rep.Step {
		pt, ptn, ot := "-", "-", "-"
		if r.TorchMS != nil {
			pt, ptn, ot = fmt.Sprintf("%.1f", *r.TorchMS), fmt.Sprintf("%.2f", *r.TorchNone), ratioText(*r.OursTorch, *r.OursTorchCI)
		}
		fmt.Fprintf(f.Out, "%-16s %-10s %-5s %5d %9.1f %16s %11s %7s %16s %7.0f", r.Model, r.Variant, r.Precision, r.Sites, r.OursMS, ratioText(r.OursNone, r.OursNoneCI), pt, ptn, ot, r.Faults)
		if multi {
			of, tf := "-", "-"
			if r.OursFP32 != nil {
				of = ratioText(*r.OursFP32, *r.OursFP32CI)
			}
			if r.TorchFP32 != nil {
				tf = fmt.Sprintf("%.2f", *r.TorchFP32)
			}
			fmt.Fprintf(f.Out, " %16s %8s", of, tf)
		}
		fmt.Fprintln(f.Out)
	}
	for _, p := range rep.Params {
		same := "equal"
		if p.Ours != p.PyTorch {
			same = "DIFFERENT: the models do not match"
		}
		fmt.Fprintf(f.Out, "parameters of %s: ours %d, PyTorch %d (%s)\n", p.Model, p.Ours, p.PyTorch, same)
	}
	for _, m := range rep.Memory {
		fmt.Fprintf(f.Out, "resident memory, %s: %.0f MB after warm-up, %.0f MB after %d steps (%+.3f MB/step); C heap in use %.1f → %.1f MB\n",
			m.Model, m.AfterWarmMB, m.EndMB, m.Steps, m.PerStepMB, m.InUseWarmMB, m.InUseEndMB)
	}
}

// ---------------------------------------------------------------- masks

// shapeRecorder is a site module that notes the shape it sees.
type shapeRecorder struct{ shape []int64 }

func (r *shapeRecorder) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	r.shape = x.MustSize()
	return x.MustShallowClone()
}

// benchMasks times Pattern.Mask at every shape the classifiers' pattern
// sites see, against DropBlock's and Dropout's masks of the same shape.
func benchMasks(f *Settings, models []*benchModel, py *pyBridge, rep *Report) error {
	type job struct {
		model           string
		pattern         autodropout.Pattern
		shape           []int64
		sites           int
		pat, db, do, pt []float64
	}
	var jobs []*job
	for _, m := range models {
		if m.in == nil {
			continue
		}
		none := m.variants[0].ours.(*classifierStepper)
		recs := map[string]*shapeRecorder{}
		for _, sp := range m.patterns {
			r := &shapeRecorder{}
			recs[sp.Site] = r
			if err := none.model.Sites().Set(sp.Site, r); err != nil {
				return err
			}
		}
		var err error
		if e := libtorch.NoGrad(func() {
			var x, y *ts.Tensor
			if x, y, err = none.batch.Tensors(gotch.CPU); err == nil {
				none.model.ForwardT(x, true).MustDrop()
				x.MustDrop()
				y.MustDrop()
			}
		}); e != nil {
			return e
		}
		for _, sp := range m.patterns {
			none.model.Sites().Set(sp.Site, nil)
		}
		if err != nil {
			return err
		}
		for _, sp := range m.patterns {
			shape := recs[sp.Site].shape
			i := slices.IndexFunc(jobs, func(j *job) bool {
				return j.model == m.name && j.pattern == sp.Pattern && slices.Equal(j.shape, shape)
			})
			if i >= 0 {
				jobs[i].sites++
				continue
			}
			jobs = append(jobs, &job{model: m.name, pattern: sp.Pattern, shape: shape, sites: 1})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	db, err := autodropout.NewDropBlock(f.Rate, f.BlockSize, autodropout.ScopeDefault)
	if err != nil {
		return err
	}
	do, err := autodropout.NewDropout(f.Rate)
	if err != nil {
		return err
	}
	reps := max(f.Steps, 20)
	fmt.Fprintf(f.Out, "\nmask generation alone: one site's mask at batch %d, median of %d draws\n", f.Batch, reps)
	timeMask := func(mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error), s []int64) (float64, error) {
		t0 := time.Now()
		m, err := mask(s[0], s[1], s[2], s[3], gotch.CPU)
		if err != nil {
			return 0, err
		}
		d := time.Since(t0).Seconds() * 1e3
		m.MustDrop()
		return d, nil
	}
	for r := -2; r < reps; r++ { // two warm-up rounds fill the caches
		for _, j := range jobs {
			for _, c := range []struct {
				mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error)
				out  *[]float64
			}{{j.pattern.Mask, &j.pat}, {db.Mask, &j.db}, {do.Mask, &j.do}} {
				d, err := timeMask(c.mask, j.shape)
				if err != nil {
					return fmt.Errorf("mask %v: %w", j.shape, err)
				}
				if r >= 0 {
					*c.out = append(*c.out, d)
				}
			}
			if py != nil && r >= 0 {
				times, err := py.mask(j.pattern, j.shape, 1)
				if err != nil {
					return fmt.Errorf("pytorch mask: %w", err)
				}
				j.pt = append(j.pt, times[0]*1e3)
			}
		}
	}
	fmt.Fprintf(f.Out, "%-22s %-16s %5s %11s %11s %11s %11s %13s\n", "model", "shape", "sites", "pattern ms", "dropblock", "dropout", "PT pattern", "Σ/none step")
	share := map[string]float64{}
	for _, j := range jobs {
		r := MaskResult{Model: j.model, Shape: j.shape, Sites: j.sites, PatternMS: median(j.pat), DropBlock: median(j.db), Dropout: median(j.do)}
		for _, m := range models {
			if t := m.noneMS(); m.name == j.model && t > 0 { // NaN when no step ran
				r.StepShare = float64(j.sites) * r.PatternMS / t
			}
		}
		share[j.model] += r.StepShare
		pt := "-"
		if len(j.pt) > 0 {
			v := median(j.pt)
			r.TorchMS = &v
			pt = fmt.Sprintf("%.2f", v)
		}
		rep.Mask = append(rep.Mask, r)
		fmt.Fprintf(f.Out, "%-22s %-16s %5d %11.2f %11.2f %11.2f %11s %12.1f%%\n", r.Model, shapeText(r.Shape), r.Sites, r.PatternMS, r.DropBlock, r.Dropout, pt, 100*r.StepShare)
	}
	for _, m := range models {
		if s, ok := share[m.name]; ok {
			fmt.Fprintf(f.Out, "%s: pattern masks of one step take %.1f%% of the unregularized step\n", m.name, 100*s)
		}
	}
	return nil
}

func shapeText(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(parts, "×")
}

// ---------------------------------------------------------------- loader

// benchLoader measures the Fashion-MNIST loader alone (examples/s, as train
// configures it: shuffled, random crops), compares it with the examples/s
// of the first 1×28×28 model's step, and feeds that model's step from the
// loader to measure how long the step waits for batches.
func benchLoader(f *Settings, models []*benchModel, rep *Report) error {
	trainSet, _, err := data.Open("fashion-mnist", f.DataDir, data.OpenOptions{})
	if err != nil {
		fmt.Fprintf(f.Out, "\nloader: skipped (%v)\n", err)
		return nil
	}
	cfg := data.LoaderConfig{BatchSize: f.Batch, Shuffle: true, Seed: 1, Augment: data.Augment{CropPad: max(trainSet.H/8, 1)}}
	l, err := data.NewLoader(trainSet, cfg)
	if err != nil {
		return fmt.Errorf("loader: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	seen := 0
	for b := range l.Epoch(ctx, 0) {
		seen += b.N
	}
	res := &LoaderResult{LoaderPerS: float64(seen) / time.Since(t0).Seconds()}
	rep.Loader = res
	fmt.Fprintf(f.Out, "\nloader: Fashion-MNIST, batch %d, shuffled, crop pad %d: %.0f examples/s alone (one epoch, %d examples)\n",
		f.Batch, cfg.Augment.CropPad, res.LoaderPerS, seen)
	var m *benchModel
	for _, c := range models {
		if c.in != nil && c.in[0] == int64(trainSet.C) && c.in[1] == int64(trainSet.H) && c.in[2] == int64(trainSet.W) {
			m = c
			break
		}
	}
	if m == nil {
		fmt.Fprintf(f.Out, "loader: no %d×%d×%d model in --models to compare with\n", trainSet.C, trainSet.H, trainSet.W)
		return nil
	}
	res.Model = m.name
	res.StepPerS = float64(f.Batch) / (m.noneMS() / 1e3)
	res.Ratio = res.LoaderPerS / res.StepPerS
	none := m.variants[0].ours.(*classifierStepper)
	ch := l.Epoch(ctx, 1)
	<-ch // the first batch is always waited for
	res.FedSteps = min(f.Steps, 5)
	var wait time.Duration
	for i := 0; i < res.FedSteps; i++ {
		t := time.Now()
		b, ok := <-ch
		if !ok {
			break
		}
		wait += time.Since(t)
		if _, err := train.Step(none.model, none.opt, b, gotch.CPU); err != nil {
			return fmt.Errorf("loader-fed step: %w", err)
		}
	}
	res.WaitMSPerStep = wait.Seconds() * 1e3 / float64(res.FedSteps)
	fmt.Fprintf(f.Out, "loader: %.1f× what %s's step consumes (%.0f examples/s); fed from the loader, the step waited %.2f ms per step over %d steps\n",
		res.Ratio, m.name, res.StepPerS, res.WaitMSPerStep, res.FedSteps)
	return nil
}

// ---------------------------------------------------------------- controller

// benchController times the controller's round (samples_per_update samples
// and one REINFORCE update) on the first classifier's batch-norm sites, and
// compares it with a trial: one epoch of Fashion-MNIST's training split
// (54,000 examples) at that model's measured step.
func benchController(f *Settings, models []*benchModel, rep *Report) error {
	var m *benchModel
	for _, c := range models {
		if c.in != nil {
			m = c
			break
		}
	}
	if m == nil {
		fmt.Fprintln(f.Out, "\ncontroller: skipped (no classifier in --models)")
		return nil
	}
	re := regexp.MustCompile(search.DefaultSitesRegexp)
	var sites []string
	for _, s := range m.variants[0].ours.(*classifierStepper).model.Sites().Names() {
		if re.MatchString(s) {
			sites = append(sites, s)
		}
	}
	const k = 2 // samples per update, as configs/search-fashion-mnist-tiny.json
	ctl, err := search.NewController(search.ConvNetSpace{SearchSpace: autodropout.DefaultSearchSpace()}, sites, search.DefaultControllerConfig(), 1)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	var sample, update []float64
	for r := -1; r < f.Steps; r++ {
		t0 := time.Now()
		batch := make([]search.Scored, k)
		for i := range batch {
			p, err := ctl.Sample()
			if err != nil {
				return fmt.Errorf("controller sample: %w", err)
			}
			batch[i] = search.Scored{Choices: p.Choices, Reward: 0.8 + 0.01*float64(i+r)}
		}
		t1 := time.Now()
		if _, err := ctl.Update(batch); err != nil {
			return fmt.Errorf("controller update: %w", err)
		}
		if r >= 0 {
			sample = append(sample, t1.Sub(t0).Seconds()*1e3/k)
			update = append(update, time.Since(t1).Seconds()*1e3)
		}
	}
	res := &ControllerResult{Sites: len(sites), Samples: k, SampleMS: median(sample), UpdateMS: median(update)}
	steps := math.Ceil(54000 / float64(f.Batch))
	res.TrialS = steps * m.noneMS() / 1e3
	res.RoundVsTrial = (k*res.SampleMS + res.UpdateMS) / 1e3 / res.TrialS
	rep.Controller = res
	fmt.Fprintf(f.Out, "\ncontroller (%d sites, %d samples per update): sample %.1f ms, update %.1f ms; a round is %.2g of a trial (%s, one epoch of 54,000 examples: %.0f s)\n",
		res.Sites, k, res.SampleMS, res.UpdateMS, res.RoundVsTrial, m.name, res.TrialS)
	return nil
}

// ---------------------------------------------------------------- PyTorch

// pyBridge talks to scripts/bench_pytorch.py --serve.
type pyBridge struct {
	python, version string
	cmd             *exec.Cmd
	in              io.WriteCloser
	out             *bufio.Reader
	stderr          *bytes.Buffer
}

func findPython(python string) (string, error) {
	if python != "" {
		return exec.LookPath(python)
	}
	// Debian's python3-torch is installed for the system Python, which a
	// pyenv or virtualenv on PATH may hide.
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3", nil
	}
	return exec.LookPath("python3")
}

func findScript(script string) (string, error) {
	if _, err := os.Stat(script); err == nil {
		return script, nil
	}
	if !filepath.IsAbs(script) {
		if exe, err := os.Executable(); err == nil { // bin/autodropout next to scripts/
			alt := filepath.Join(filepath.Dir(exe), "..", script)
			if _, err := os.Stat(alt); err == nil {
				return alt, nil
			}
		}
	}
	return "", fmt.Errorf("%s not found (run from the repository root or give --pytorch-script)", script)
}

func startPyTorch(python, script string, threads int) (*pyBridge, error) {
	py, err := findPython(python)
	if err != nil {
		return nil, fmt.Errorf("no python3: %w", err)
	}
	sc, err := findScript(script)
	if err != nil {
		return nil, err
	}
	p := &pyBridge{python: py, cmd: exec.Command(py, sc, "--serve"), stderr: &bytes.Buffer{}}
	// One intra-op thread count for both sides, set through the protocol;
	// OpenMP's variable would also pin ours.
	p.cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	p.cmd.Stderr = p.stderr
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", py, err)
	}
	var hello struct{ Torch, Torchvision string }
	if err := p.call(map[string]any{"op": "hello"}, &hello); err != nil {
		p.close()
		return nil, err
	}
	p.version = "torch " + hello.Torch + ", torchvision " + hello.Torchvision
	if err := p.call(map[string]any{"op": "threads", "n": threads}, nil); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// call sends one request and decodes the answer into resp (may be nil).
func (p *pyBridge) call(req any, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("bench_pytorch.py: %w%s", err, p.stderrTail())
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("bench_pytorch.py exited: %w%s", err, p.stderrTail())
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(line, &status); err != nil {
		return fmt.Errorf("bench_pytorch.py: bad answer %q: %w", line, err)
	}
	if !status.OK {
		return errors.New("bench_pytorch.py: " + status.Error)
	}
	if resp != nil {
		return json.Unmarshal(line, resp)
	}
	return nil
}

func (p *pyBridge) stderrTail() string {
	s := strings.TrimSpace(p.stderr.String())
	if s == "" {
		return ""
	}
	return "\n" + s[max(0, len(s)-2000):]
}

func (p *pyBridge) build(id string, spec map[string]any) (int64, error) {
	var r struct{ Params int64 }
	err := p.call(map[string]any{"op": "build", "id": id, "spec": spec}, &r)
	return r.Params, err
}

func (p *pyBridge) run(id string, steps int) ([]float64, error) {
	var r struct{ Times []float64 }
	err := p.call(map[string]any{"op": "run", "id": id, "steps": steps}, &r)
	return r.Times, err
}

func (p *pyBridge) mask(pat autodropout.Pattern, shape []int64, reps int) ([]float64, error) {
	var r struct{ Times []float64 }
	err := p.call(map[string]any{"op": "mask", "spec": map[string]any{"pattern": pat, "shape": shape}, "reps": reps}, &r)
	return r.Times, err
}

func (p *pyBridge) close() {
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// ---------------------------------------------------------------- helpers

// ratioText prints a ratio with its interval, "1.02 (0.97–1.07)".
func ratioText(r float64, ci [2]float64) string {
	if ci[0] == ci[1] {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", r, ci[0], ci[1])
}

// pairedRatioCI is a 95% bootstrap interval of pairedRatio: the rounds'
// ratios resampled with replacement 2,000 times, from a fixed seed so that
// the same timings give the same interval.
func pairedRatioCI(a, b []float64) [2]float64 {
	r := roundRatios(a, b)
	if len(r) == 0 {
		return [2]float64{math.NaN(), math.NaN()}
	}
	const resamples = 2000
	rng := rand.New(rand.NewPCG(1, 2))
	meds, sample := make([]float64, resamples), make([]float64, len(r))
	for k := range meds {
		for i := range sample {
			sample[i] = r[rng.IntN(len(r))]
		}
		meds[k] = median(sample)
	}
	slices.Sort(meds)
	return [2]float64{meds[resamples*25/1000], meds[resamples*975/1000]}
}

// pairedRatio is the median over rounds of a[i]/b[i].
func pairedRatio(a, b []float64) float64 { return median(roundRatios(a, b)) }

// roundRatios is a[i]/b[i] for every round both ran.
func roundRatios(a, b []float64) []float64 {
	r := make([]float64, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// minorFaults is this process's count of minor page faults (0 where /proc
// is missing): each is a 4 KiB page of fresh memory touched.
func minorFaults() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64) // field 10 of proc(5): minflt
	return n
}

// cHeapInUseMB is what the C allocator has handed out and not had back.
func cHeapInUseMB() float64 {
	u, _ := train.MallocBytes()
	return float64(u) / (1 << 20)
}

// rssMB is this process's resident memory (0 where /proc is missing).
func rssMB() float64 { return float64(train.ResidentBytes()) / (1 << 20) }

var (
	libtorchFile = regexp.MustCompile(`libtorch(?:_cpu)?\.so\.([0-9][0-9.]*)`)
	blasFile     = regexp.MustCompile(`/\S*/(?:lib(?:open)?blas[^/\s]*\.so[^/\s]*)`)
)

// referenceBLAS says whether path is Debian's reference BLAS (the default
// libblas.so.3 alternative) rather than an optimized one.
func referenceBLAS(path string) bool {
	return strings.Contains(path, "/blas/libblas.so")
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Threads: libtorch.Threads(), Go: runtime.Version(), CPU: "unknown", Libtorch: "unknown", BLAS: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	// The version the build step found (as setup and `autodropout
	// version` say it); else the soname of the libtorch mapped into this
	// process.
	if v, _ := libtorch.Version(); v != "unknown" {
		m.Libtorch = v
	}
	if b, err := os.ReadFile("/proc/self/maps"); err == nil {
		if s := libtorchFile.FindSubmatch(b); s != nil && m.Libtorch == "unknown" {
			m.Libtorch = string(s[1])
		}
		// Debian's default libblas.so.3 is the reference BLAS; OpenBLAS
		// shows up as its own path (see docs/performance.md).
		if s := blasFile.Find(b); s != nil {
			m.BLAS = string(s)
		}
	}
	return m
}
