package trial

import (
	"cmp"
	"flag"
	"fmt"
	"math"
	"slices"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch/ts"
)

// Semi-supervised modes of a classifier (SemiSupervised.Semi).
const (
	SemiNone = "none" // supervised (also ""): on the labeled subset only, when there is one
	SemiUDA  = "uda"  // UDA (train.UDA): the rest of the training set is the unlabeled stream
)

// The defaults of the UDA options whose zero value stands for them (the
// sources are train.DefaultUDAWeight and its neighbours, and
// data.RandAugment's for the strong view).
const (
	DefaultUDARatio       = train.DefaultUDARatio
	DefaultUDAWeight      = train.DefaultUDAWeight
	DefaultUDATemperature = train.DefaultUDATemperature
	DefaultUDAThreshold   = train.DefaultUDAThreshold
	DefaultUDAOps         = 2 // torchvision's RandAugment num_ops
	DefaultUDAMagnitude   = 9 // torchvision's RandAugment magnitude
)

// SemiSupervised is a classifier's labeled subset and semi-supervised
// mode (classify only). LabeledPerClass carves a class-balanced labeled
// subset out of the training split (after the validation split and
// TrainSubset), drawn from Seed; without Semi the run trains on it alone
// (the supervised baseline of a semi-supervised comparison), with Semi
// "uda" the rest of the training split is UDA's unlabeled stream, its
// labels removed before it is built (data.Images.WithoutLabels). The
// validation and test splits are as without it.
type SemiSupervised struct {
	// LabeledPerClass is K, labeled training images per class; 0: every
	// training image is labeled.
	LabeledPerClass int `json:"labeled_per_class,omitempty"`
	// Semi is SemiNone ("", the default) or SemiUDA.
	Semi string `json:"semi,omitempty"`
	// UDARatio is μ, the unlabeled batch's size over BatchSize; 0 is
	// DefaultUDARatio.
	UDARatio int `json:"uda_ratio,omitempty"`
	// UDAWeight is λ, the consistency term's weight; 0 is
	// DefaultUDAWeight.
	UDAWeight float64 `json:"uda_weight,omitempty"`
	// UDATemperature is τ in (0, 1], the target's softmax temperature; 0
	// is DefaultUDATemperature.
	UDATemperature float64 `json:"uda_temperature,omitempty"`
	// UDAThreshold is β in (0, 1), the confidence below which an
	// unlabeled image adds nothing; 0 is DefaultUDAThreshold, a negative
	// value masks nothing (the flag's --uda-threshold 0).
	UDAThreshold float64 `json:"uda_threshold,omitempty"`
	// TSA is training signal annealing's schedule: linear, log or exp;
	// "" or "none": none.
	TSA string `json:"tsa,omitempty"`
	// UDAOps and UDAMagnitude are the strong view's RandAugment (after
	// the weak view's crop and flip); 0 is DefaultUDAOps,
	// DefaultUDAMagnitude.
	UDAOps       int `json:"uda_ops,omitempty"`
	UDAMagnitude int `json:"uda_magnitude,omitempty"`
}

// uda reports whether the mode is UDA.
func (m SemiSupervised) uda() bool { return m.Semi == SemiUDA }

// check names the first bad semi-supervised option (lm: any set).
func (m SemiSupervised) check(lm bool) error {
	type option struct {
		flag string
		set  bool
	}
	udaOpts := []option{
		{"uda-ratio", m.UDARatio != 0}, {"uda-weight", m.UDAWeight != 0}, {"uda-temperature", m.UDATemperature != 0},
		{"uda-threshold", m.UDAThreshold != 0}, {"tsa", m.TSA != "" && m.TSA != "none"},
		{"uda-ops", m.UDAOps != 0}, {"uda-magnitude", m.UDAMagnitude != 0},
	}
	if lm {
		for _, o := range append(udaOpts, option{"labeled-per-class", m.LabeledPerClass != 0}, option{"semi", m.Semi != ""}) {
			if o.set {
				return fmt.Errorf("--%s: only classify tasks read it, not lm", o.flag)
			}
		}
		return nil
	}
	switch {
	case m.Semi != "" && m.Semi != SemiNone && m.Semi != SemiUDA:
		return fmt.Errorf("--semi %q: want none or uda", m.Semi)
	case m.LabeledPerClass < 0:
		return fmt.Errorf("--labeled-per-class %d: want 0 (every image labeled) or more", m.LabeledPerClass)
	case m.uda() && m.LabeledPerClass == 0:
		return fmt.Errorf("--semi uda needs --labeled-per-class K: K labeled images per class, the rest of the training split unlabeled")
	}
	if !m.uda() {
		for _, o := range udaOpts {
			if o.set {
				return fmt.Errorf("--%s: only --semi uda reads it", o.flag)
			}
		}
		return nil
	}
	return m.checkUDA()
}

// checkUDA checks UDA's values (0 stands for each default).
func (m SemiSupervised) checkUDA() error {
	switch {
	case m.UDARatio < 0:
		return fmt.Errorf("--uda-ratio %d: want μ ≥ 1 unlabeled images per labeled one in a step (0: %d)", m.UDARatio, DefaultUDARatio)
	case !(m.UDAWeight >= 0) || math.IsInf(m.UDAWeight, 0):
		return fmt.Errorf("--uda-weight %v: want a finite λ > 0 (0: %v)", m.UDAWeight, DefaultUDAWeight)
	case !(m.UDATemperature >= 0 && m.UDATemperature <= 1):
		return fmt.Errorf("--uda-temperature %v: want τ in (0, 1] (1: no sharpening; 0: %v)", m.UDATemperature, DefaultUDATemperature)
	case !(m.UDAThreshold < 1) || math.IsNaN(m.UDAThreshold):
		return fmt.Errorf("--uda-threshold %v: want β in [0, 1) (0: no masking)", m.UDAThreshold)
	case m.TSA != "" && m.TSA != "none" && !slices.Contains(train.TSASchedules, m.TSA):
		return fmt.Errorf("--tsa %q: want none, linear, log or exp", m.TSA)
	case m.UDAOps < 0:
		return fmt.Errorf("--uda-ops %d: want 1 or more RandAugment operations (0: %d)", m.UDAOps, DefaultUDAOps)
	case m.UDAMagnitude < 0 || m.UDAMagnitude > 30:
		return fmt.Errorf("--uda-magnitude %d: want a RandAugment magnitude bin in 1..30 (0: %d)", m.UDAMagnitude, DefaultUDAMagnitude)
	}
	return nil
}

// resolved fills UDA's defaults (only in UDA mode: a supervised Spec
// stays as it was).
func (m SemiSupervised) resolved() SemiSupervised {
	if !m.uda() {
		return m
	}
	m.UDARatio = cmp.Or(m.UDARatio, DefaultUDARatio)
	m.UDAWeight = cmp.Or(m.UDAWeight, DefaultUDAWeight)
	m.UDATemperature = cmp.Or(m.UDATemperature, DefaultUDATemperature)
	m.UDAThreshold = cmp.Or(m.UDAThreshold, DefaultUDAThreshold)
	m.UDAOps = cmp.Or(m.UDAOps, DefaultUDAOps)
	m.UDAMagnitude = cmp.Or(m.UDAMagnitude, DefaultUDAMagnitude)
	return m
}

// threshold is β as train.UDA takes it: 0 for none.
func (m SemiSupervised) threshold() float64 { return max(m.UDAThreshold, 0) }

// Description describes the training mode, for messages and result.json.
func (m SemiSupervised) Description() string {
	r := m.resolved()
	if !r.uda() {
		if r.LabeledPerClass > 0 {
			return fmt.Sprintf("supervised on %d labeled images per class", r.LabeledPerClass)
		}
		return "supervised"
	}
	return fmt.Sprintf("uda (%d labeled per class, μ %d, λ %v, τ %v, β %v, tsa %s, strong view RandAugment %d ops at magnitude %d)",
		r.LabeledPerClass, r.UDARatio, r.UDAWeight, r.UDATemperature, r.threshold(), cmp.Or(r.TSA, "none"), r.UDAOps, r.UDAMagnitude)
}

// identity is the options' part of a run's identity ("" when supervised
// on every image, so older states stay valid).
func (m SemiSupervised) identity() string {
	if m.LabeledPerClass == 0 && !m.uda() {
		return ""
	}
	return " semi " + m.Description()
}

func (m *SemiSupervised) flags(fs *flag.FlagSet) {
	fs.IntVar(&m.LabeledPerClass, "labeled-per-class", m.LabeledPerClass, "train on K labeled images per class, drawn from the training split with --seed (0: every image labeled); with --semi uda the rest of the training split is the unlabeled stream")
	fs.StringVar(&m.Semi, "semi", m.Semi, "semi-supervised mode: none (the default) or uda (needs --labeled-per-class)")
	fs.IntVar(&m.UDARatio, "uda-ratio", m.UDARatio, fmt.Sprintf("uda: μ, unlabeled images per labeled one in a step (the unlabeled batch is μ × --batch-size) (default %d)", DefaultUDARatio))
	fs.Float64Var(&m.UDAWeight, "uda-weight", m.UDAWeight, fmt.Sprintf("uda: λ, weight of the consistency term (default %v)", DefaultUDAWeight))
	fs.Float64Var(&m.UDATemperature, "uda-temperature", m.UDATemperature, fmt.Sprintf("uda: τ in (0, 1], softmax temperature that sharpens the target (default %v)", DefaultUDATemperature))
	fs.Var(zeroMeansNone{&m.UDAThreshold, DefaultUDAThreshold, "a fraction below 1"}, "uda-threshold", "uda: β in [0, 1), confidence of the weak view's prediction below which an unlabeled image adds nothing (0: no masking)")
	fs.StringVar(&m.TSA, "tsa", m.TSA, "uda: training signal annealing of the labeled loss: none (the default), linear, log or exp")
	fs.IntVar(&m.UDAOps, "uda-ops", m.UDAOps, fmt.Sprintf("uda: RandAugment operations of the strong view (default %d)", DefaultUDAOps))
	fs.IntVar(&m.UDAMagnitude, "uda-magnitude", m.UDAMagnitude, fmt.Sprintf("uda: RandAugment magnitude bin of the strong view, 1..30 (default %d)", DefaultUDAMagnitude))
}

// args are the flags of m's non-zero options.
func (m SemiSupervised) args() []string {
	var a argList
	a.num("labeled-per-class", m.LabeledPerClass)
	a.str("semi", m.Semi)
	a.num("uda-ratio", m.UDARatio)
	a.float("uda-weight", m.UDAWeight)
	a.float("uda-temperature", m.UDATemperature)
	a.zeroMeansNone("uda-threshold", m.UDAThreshold)
	a.str("tsa", m.TSA)
	a.num("uda-ops", m.UDAOps)
	a.num("uda-magnitude", m.UDAMagnitude)
	return a
}

// carve splits the training indices (of examples with labels, classes
// in all) into the labeled subset and, in UDA mode, the unlabeled rest
// (nil otherwise). s is resolved.
func (s Spec) carve(labels []int64, classes int, trIdx []int) (labeled, unlabeled []int, err error) {
	if s.LabeledPerClass == 0 {
		return trIdx, nil, nil
	}
	labeled, rest, err := data.LabeledSplit(labels, trIdx, classes, s.LabeledPerClass, s.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("--labeled-per-class %d: %w", s.LabeledPerClass, err)
	}
	if !s.uda() {
		return labeled, nil, nil
	}
	if len(rest) == 0 {
		return nil, nil, fmt.Errorf("--labeled-per-class %d: every one of the %d training images is labeled, so the unlabeled set is empty (lower K, or hold out less with --val-frac)", s.LabeledPerClass, len(trIdx))
	}
	return labeled, rest, nil
}

// udaConfig is the training's UDA mode over the unlabeled images (nil
// when supervised): the weak view is the labeled loader's augmentation,
// the strong view adds RandAugment; each data-parallel rank streams its
// shard of them. s is resolved.
func (s Spec) udaConfig(sp *splits, model nn.SiteModel) (*train.UDA, error) {
	ra := &data.RandAugment{Ops: s.UDAOps, Magnitude: s.UDAMagnitude}
	var stream train.ViewSource
	var err error
	switch {
	case sp.unlabeledFolder != nil: // streamed from the files
		sp.folderViews, err = data.NewFolderViewStream(sp.unlabeledFolder, data.FolderViewConfig{BatchSize: s.UDARatio * s.BatchSize,
			Transform: s.streamTransform(true), RandAugment: ra, Seed: s.Seed, Log: sp.log,
			Shard: sp.rank, Shards: sp.world})
		stream = sp.folderViews
	case sp.unlabeled != nil:
		strong := sp.aug
		strong.RandAugment = ra
		stream, err = data.NewViewStream(sp.unlabeled, data.ViewConfig{BatchSize: s.UDARatio * s.BatchSize, Weak: sp.aug, Strong: strong, Seed: s.Seed,
			Shard: sp.rank, Shards: sp.world})
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--semi uda (--uda-ratio %d × --batch-size %d): %w", s.UDARatio, s.BatchSize, err)
	}
	tsa := s.TSA
	if tsa == "none" {
		tsa = ""
	}
	return &train.UDA{Unlabeled: stream, Weight: s.UDAWeight, Temperature: s.UDATemperature, Threshold: s.threshold(),
		TSA: tsa, Unregularized: unregularized(model.Sites())}, nil
}

// unregularized switches every site's regularizer off until restore: the
// target's pass of UDA. Nil when no site has one.
func unregularized(sites *nn.Sites) func() (restore func()) {
	names := sites.Names()
	any := false
	for _, n := range names {
		any = any || sites.Get(n) != nil
	}
	if !any {
		return nil
	}
	return func() func() {
		saved := make([]ts.ModuleT, len(names))
		for i, n := range names {
			saved[i] = sites.Get(n)
			_ = sites.Set(n, nil) // a name Names gave
		}
		return func() {
			for i, n := range names {
				_ = sites.Set(n, saved[i])
			}
		}
	}
}

// unlabeledN is the size of the unlabeled set (0: none).
func unlabeledN(sp *splits) int {
	switch {
	case sp.unlabeledFolder != nil:
		return sp.unlabeledFolder.Len()
	case sp.unlabeled != nil:
		return sp.unlabeled.N
	}
	return 0
}
