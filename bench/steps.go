package bench

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/configs"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

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
	oursPeak float64 // bytes, on a GPU: the largest over the timed steps
	pyPeak   float64
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
	pySkip   string  // why PyTorch does not run this model
	items    float64 // examples or tokens per step
	unit     string  // "images" or "tokens"
}

// deviceName is a device as PyTorch names it.
func deviceName(d gotch.Device) string {
	if d.IsCuda() {
		return fmt.Sprintf("cuda:%d", d.Value)
	}
	return "cpu"
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
	m := &benchModel{name: spec, in: in, items: float64(f.Batch), unit: "images"}
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
	vs := gnn.NewVarStore(f.dev())
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
		pspec := map[string]any{"kind": "classifier", "depth": depth, "width": width, "input": in, "classes": benchClasses, "device": deviceName(f.dev()),
			"batch": f.Batch, "regularizers": regSpecs(model.Sites()), "seed": 1, "precision": string(prec)}
		if bv.pyParams, err = py.build(bv.pyID, pspec); err != nil {
			return nil, fmt.Errorf("pytorch %s: %w", bv.pyID, err)
		}
	}
	return bv, nil
}

func buildLM(f *Settings, py *pyBridge) (*benchModel, error) {
	b, err := configs.ReadFile(f.LMConfig)
	if err != nil {
		return nil, fmt.Errorf("--lm-config: %w", err)
	}
	var cfg train.LMRecipe
	if err := strictjson.Decode(b, &cfg); err != nil {
		return nil, fmt.Errorf("--lm-config %s: %w", f.LMConfig, err)
	}
	cfg.Model.NToken = int64(f.Vocab)
	if cfg.BatchSize < 1 {
		return nil, fmt.Errorf("--lm-config %s: batch_size %d: want ≥ 1", f.LMConfig, cfg.BatchSize)
	}
	m := &benchModel{name: "transformer-xl", items: float64(cfg.BatchSize * cfg.Model.TgtLen), unit: "tokens"}
	for _, prec := range f.Precisions {
		for _, v := range []string{"none", "dropout", "pattern"} {
			if f.Variants != nil && !f.Variants[v] {
				continue
			}
			if err := libtorch.ManualSeed(1); err != nil {
				return nil, err
			}
			vs := gnn.NewVarStore(f.dev())
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
			x, err := ts.Randint(int64(f.Vocab), shape, gotch.Int64, f.dev())
			if err != nil {
				return nil, err
			}
			y, err := ts.Randint(int64(f.Vocab), shape, gotch.Int64, f.dev())
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
				pspec := map[string]any{"kind": "lm", "batch": cfg.BatchSize, "device": deviceName(f.dev()), "lr": cfg.LR, "clip": cfg.Clip, "optimizer": cfg.Optimizer,
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
			d, faults, err := v.timeOurs(f.dev(), r >= f.Warmup)
			if err != nil {
				return fmt.Errorf("%s %s step: %w", m.name, v.name, err)
			}
			if r >= f.Warmup {
				v.oursT = append(v.oursT, d)
				v.faults = append(v.faults, faults)
			}
			if py != nil && v.pyID != "" {
				times, peak, err := py.run(v.pyID, 1)
				if err != nil {
					return fmt.Errorf("pytorch %s: %w", v.pyID, err)
				}
				if r >= f.Warmup {
					for _, t := range times {
						v.pyT = append(v.pyT, t*1e3)
					}
					v.pyPeak = max(v.pyPeak, peak)
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
		r.Unit, r.OursPerSec = m.unit, m.items/(r.OursMS/1e3)
		if v.oursPeak > 0 {
			mb := v.oursPeak / (1 << 20)
			r.OursPeakMB = &mb
		}
		if len(v.pyT) > 0 {
			t, tn, ot := median(v.pyT), pairedRatio(v.pyT, none.pyT), pairedRatio(v.oursT, v.pyT)
			ci := pairedRatioCI(v.oursT, v.pyT)
			r.TorchMS, r.TorchNone, r.OursTorch, r.OursTorchCI = &t, &tn, &ot, &ci
			ps := m.items / (t / 1e3)
			r.TorchPerSec = &ps
			if v.pyPeak > 0 {
				mb := v.pyPeak / (1 << 20)
				r.TorchPeakMB = &mb
			}
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

// timeOurs times one of our steps in milliseconds, with its minor page
// faults. On a GPU it waits for the device before and after (the step's
// kernels run asynchronously) and, when record is set, keeps the peak
// memory of the step.
func (v *benchVariant) timeOurs(dev gotch.Device, record bool) (ms, faults float64, err error) {
	if dev.IsCuda() {
		if err := ts.CudaSynchronize(dev.Value); err != nil {
			return 0, 0, err
		}
		if _, _, err := libtorch.CUDAMemory(dev, true); err != nil && !errors.Is(err, libtorch.ErrNoCUDAMemory) {
			return 0, 0, err
		}
	}
	f0, t0 := minorFaults(), time.Now()
	if err := v.ours.step(); err != nil {
		return 0, 0, err
	}
	if dev.IsCuda() {
		if err := ts.CudaSynchronize(dev.Value); err != nil {
			return 0, 0, err
		}
	}
	ms, faults = time.Since(t0).Seconds()*1e3, float64(minorFaults()-f0)
	if dev.IsCuda() && record {
		if _, peak, err := libtorch.CUDAMemory(dev, false); err == nil {
			v.oursPeak = max(v.oursPeak, float64(peak))
		}
	}
	return ms, faults, nil
}

func (m *benchModel) close() {
	for _, v := range m.variants {
		v.ours.close()
	}
}

func (m *benchModel) noneMS() float64 { return median(m.variants[0].oursT) }
