package trial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// splits are a classifier's loaders.
type splits struct {
	input                        nn.Input // an example's shape
	classes                      int
	train, val, test, curveTrain *data.Loader // curveTrain: the training examples unaugmented (Curve)
	trainN, valN, testN          int
	augment                      string       // the training augmentation, in words
	aug                          data.Augment // the training loader's, RandAugment aside: UDA's weak view
	unlabeled                    *data.Images // UDA's unlabeled set, labels removed (nil: supervised)
	// Streamed: UDA's unlabeled images (nil: supervised), the stream of
	// their views once built, and where the streams name unreadable files.
	unlabeledFolder *data.ImageFolder
	folderViews     *data.FolderViewStream
	log             io.Writer
	rank, world     int // this process's place among the data-parallel ranks (0 of 1: alone)
}

// runClassify trains an image classifier (s resolved), on this process
// alone (env nil) or as one rank of a data-parallel run.
func runClassify(ctx context.Context, s Spec, env *distributed.Env) (res Result, err error) {
	g, leave, err := joinRank(ctx, &s, env)
	if err != nil {
		return Result{}, err
	}
	defer func() { err = leave(err) }()
	dev, _, err := s.setup()
	if err != nil {
		return Result{}, err
	}
	if s.Out != "" {
		if err := os.MkdirAll(s.Out, 0o755); err != nil {
			return Result{}, err
		}
	}
	sp, err := s.loadImages(g.Rank(), g.World())
	if err != nil {
		return Result{}, err
	}
	vs := gnn.NewVarStore(dev)
	model, pretrainedSum, regDesc, err := s.buildClassifier(vs, sp.input, sp.classes)
	if err != nil {
		return Result{}, err
	}
	cfg, err := s.trainConfig(dev, sp, model, g)
	if err != nil {
		return Result{}, err
	}
	s.announce(sp, regDesc, cfg.Precision, g)
	id, err := s.classifyIdentity(pretrainedSum, cfg.Precision, g.World())
	if err != nil {
		return Result{}, err
	}
	release, saveErr, err := s.states(id, &cfg.Resume, &cfg.SaveState, func(st *train.State) string {
		return fmt.Sprintf("after epoch %d (step %d)", st.Epochs, st.Steps)
	})
	if err != nil {
		return Result{}, err
	}
	defer release()
	tr, err := train.Classifier(ctx, vs, model, sp.train, sp.val, sp.test, cfg)
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintf(s.Output, "done in %s: train loss %.4f, validation accuracy %s, test accuracy %s (%d parameters)\n",
		time.Duration(tr.WallS*float64(time.Second)).Round(time.Second), tr.TrainLoss, accText(tr.ValAcc), accText(tr.TestAcc), tr.Params)
	out := s.classifyResult(tr, sp, regDesc, pretrainedSum, g.World())
	if err := sp.recordSkipped(&out, g, s.Output); err != nil {
		return out, err
	}
	if s.Out != "" {
		if err := nn.SaveCheckpoint(vs, filepath.Join(s.Out, "model.ot")); err != nil {
			return out, err
		}
	}
	out, err = s.finish(out)
	return withSaveError(out, err, *saveErr)
}

// announce says what the training is about to do.
func (s Spec) announce(sp *splits, regDesc string, prec libtorch.Precision, g *distributed.Group) {
	fmt.Fprintf(s.Output, "training %s on %s with %s: %d train / %d validation / %d test examples, %d epochs of %d steps, %d threads, %s, seed %d, augmentation %s%s\n",
		s.Model, s.Data, regDesc, sp.trainN, sp.valN, sp.testN, s.Epochs, sp.train.Batches(), libtorch.Threads(), prec, s.Seed, sp.augment, processesText(g, s.BatchSize))
	if s.TrainSubset > sp.trainN && s.LabeledPerClass == 0 {
		fmt.Fprintf(s.Output, "note: --train-subset %d, but the training split has %d examples: all of them train\n", s.TrainSubset, sp.trainN)
	}
	if s.LabeledPerClass > 0 {
		fmt.Fprintf(s.Output, "%s; %d unlabeled images\n", s.SemiSupervised.Description(), unlabeledN(sp))
	}
}

// trainConfig is the training loop's Config for s on dev: the recipe,
// precision, UDA's terms and, for a rank, its group.
func (s Spec) trainConfig(dev gotch.Device, sp *splits, model nn.SiteModel, g *distributed.Group) (train.Config, error) {
	cfg := train.DefaultConfig()
	cfg.Epochs, cfg.LR, cfg.Device, cfg.Progress, cfg.Every = s.Epochs, s.LR, dev, s.Output, s.Every
	cfg.Seed, cfg.Curve, cfg.StopEpoch, cfg.CurveTrain = s.Seed, s.Curve, s.StopEpoch, sp.curveTrain
	cfg.Optimizer, cfg.WeightDecay, cfg.Schedule = s.recipe()
	cfg.Group, cfg.SaveEachEpoch = g, g != nil
	var err error
	if cfg.Precision, err = libtorch.Resolve(s.Precision, dev); err != nil {
		return cfg, fmt.Errorf("--precision: %w", err)
	}
	if cfg.UDA, err = s.udaConfig(sp, model); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// classifyResult is the result file's record of training tr on sp with
// world processes.
func (s Spec) classifyResult(tr *train.Result, sp *splits, regDesc, pretrainedSum string, world int) Result {
	out := Result{Model: s.Model, Dataset: s.Data, Regularizer: regDesc, Seed: s.Seed, Threads: libtorch.Threads(), Device: s.Device,
		Precision: tr.Precision, ValAcc: tr.ValAcc, TestAcc: tr.TestAcc, TrainLoss: tr.TrainLoss, Curve: tr.Curve,
		Epochs: tr.Epochs, Steps: tr.Steps, Examples: tr.Examples, Params: tr.Params, WallS: &tr.WallS,
		TrainN: sp.trainN, ValN: sp.valN, TestN: sp.testN, Pretrained: s.Pretrained, PretrainedSHA256: pretrainedSum,
		ResumedFrom: s.ResumeState, Augment: sp.augment, UDA: tr.UDA}
	if s.LabeledPerClass > 0 {
		out.Semi, out.UnlabeledN = s.SemiSupervised.Description(), unlabeledN(sp)
	}
	if world > 1 {
		out.Nproc = world
	}
	if s.StopEpoch > 0 && s.StopEpoch < s.Epochs {
		out.EpochsPlanned = s.Epochs
	}
	return out
}

// finish records the process's CPU time in r and writes it to Out.
func (s Spec) finish(r Result) (Result, error) {
	r.CPUS = ptr(cpuSeconds())
	if s.Out == "" {
		return r, nil
	}
	return r, WriteResult(s.Out, r)
}

// buildClassifier builds the model for the images in vs, loads the
// pretrained weights (returning their SHA-256) and puts the regularizer
// on its sites (returning its description).
func (s Spec) buildClassifier(vs *gnn.VarStore, in nn.Input, classes int) (model nn.SiteModel, pretrainedSum, regDesc string, err error) {
	model, err = nn.New(s.Model, vs.Root(), in, int64(classes))
	if err != nil {
		return nil, "", "", fmt.Errorf("--model: %w", err)
	}
	if canon, _ := nn.CanonicalName(s.Model); canon != s.Model && s.Output != nil {
		fmt.Fprintf(s.Output, "note: --model %s is %s\n", s.Model, canon)
	}
	if s.Pretrained != "" {
		if pretrainedSum, err = s.loadPretrained(vs, int64(classes), in.C); err != nil {
			return nil, "", "", err
		}
	}
	regDesc, err = s.assignRegularizer(model.Sites())
	return model, pretrainedSum, regDesc, err
}

// loadImages opens the dataset and builds the loaders: training
// (augmented), validation and, unless SkipTest, test. ImageNet read whole
// streams from its files (streamImages); the other datasets, and
// ImageNet's proxy of PerClass images per class, are decoded into memory.
func (s Spec) loadImages(rank, world int) (*splits, error) {
	if s.streamed() {
		return s.streamImages(rank, world)
	}
	full, testSet, err := data.Open(s.Data, s.DataDir, data.OpenOptions{ImageSize: s.ImageSize, PerClass: s.PerClass, Seed: s.Seed, Progress: s.Output})
	if err != nil {
		return nil, err
	}
	trIdx, valIdx, err := s.split(full.N)
	if err != nil {
		return nil, err
	}
	trIdx, rest, err := s.carve(full.Labels, full.Classes, trIdx)
	if err != nil {
		return nil, err
	}
	trainSet := full.Subset(trIdx)
	sp := &splits{input: nn.Input{C: int64(full.C), H: int64(full.H), W: int64(full.W)}, classes: full.Classes,
		trainN: trainSet.N, valN: len(valIdx), rank: rank, world: world}
	if rest != nil {
		sp.unlabeled = full.Subset(rest).WithoutLabels()
	}
	var aug data.Augment
	if !s.NoAugment {
		aug.CropPad = int(max(full.H/8, 1))
		if full.C == 3 {
			aug.Flip = true
		}
		if full.H > 64 { // large images: flips only
			aug.CropPad = 0
		}
	}
	sp.aug = aug
	aug.RandAugment = s.randAugment()
	sp.augment = augmentText(aug)
	if sp.train, err = data.NewLoader(trainSet, data.LoaderConfig{BatchSize: s.BatchSize, Shuffle: true, Seed: s.Seed, Augment: aug, Shard: rank, Shards: world, EvenShards: true}); err != nil {
		return nil, err
	}
	evalCfg := data.LoaderConfig{BatchSize: max(s.BatchSize, 256), Shard: rank, Shards: world}
	if len(valIdx) > 0 {
		if sp.val, err = data.NewLoader(full.Subset(valIdx), evalCfg); err != nil {
			return nil, err
		}
	}
	if s.Curve {
		if sp.curveTrain, err = data.NewLoader(trainSet, evalCfg); err != nil {
			return nil, err
		}
	}
	if !s.SkipTest {
		sp.testN = testSet.N
		if sp.test, err = data.NewLoader(testSet, evalCfg); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// split holds out the validation share of n training examples (seeded)
// and keeps TrainSubset of the rest.
func (s Spec) split(n int) (trIdx, valIdx []int, err error) {
	trIdx, valIdx, err = data.Split(n, s.ValFrac, s.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("--val-frac: %w", err)
	}
	if s.TrainSubset > 0 && s.TrainSubset < len(trIdx) {
		trIdx = trIdx[:s.TrainSubset]
	}
	return trIdx, valIdx, nil
}

// states loads ResumeState into *resume (checking that it belongs to the
// run id) and sets *save to write SaveState; release drops the loaded
// state. A failed save does not stop the run: *saveErr holds the last
// save's error, which the run reports after writing its result, so that
// a full disk costs the state and not the training.
func (s Spec) states(id map[string]string, resume **train.State, save *func(*train.State) error, where func(*train.State) string) (release func(), saveErr *error, err error) {
	release, saveErr = func() {}, new(error)
	note, _ := json.Marshal(s.resumeOptions())
	id[train.IdentityNote] = string(note)
	if s.ResumeState != "" {
		st, err := train.LoadState(s.ResumeState)
		if err != nil {
			return release, saveErr, err
		}
		if err := st.CheckIdentity(s.ResumeState, id); err != nil {
			st.Drop()
			return release, saveErr, s.explainMismatch(err, st.Identity[train.IdentityNote])
		}
		*resume, release = st, func() { st.Drop() }
		fmt.Fprintf(s.Output, "resuming %s from %s\n", where(st), s.ResumeState)
	}
	if s.SaveState != "" {
		if err := checkWritable(s.SaveState); err != nil {
			return release, saveErr, fmt.Errorf("--save-state: %w", err)
		}
		*save = func(st *train.State) error {
			defer st.Drop()
			st.Identity = id
			*saveErr = st.Save(s.SaveState)
			return nil
		}
	}
	return release, saveErr, nil
}

// withSaveError is a run's result and error once the result is written:
// a failed --save-state (saveErr) becomes the error when nothing else
// failed.
func withSaveError(r Result, err, saveErr error) (Result, error) {
	if err == nil && saveErr != nil {
		err = fmt.Errorf("--save-state: %w (the run finished and its result was kept; its state was not saved)", saveErr)
	}
	return r, err
}

// explainMismatch adds to a state's identity error the options that
// differ between the state's run (was, its IdentityNote; "" in states
// saved before it) and this one.
func (s Spec) explainMismatch(err error, was string) error {
	var wasArgs []string
	if json.Unmarshal([]byte(was), &wasArgs) != nil {
		return err // a state saved before the note
	}
	d := ArgsDiff(wasArgs, s.resumeOptions())
	if d == "" {
		d = "the same options: the pattern file's or another input's content differs"
	}
	return fmt.Errorf("%w; options: %s", err, d)
}

// checkWritable says, before a run spends its time, whether a file can be
// written at path: path is not a folder, and its folder (created if
// missing) takes a new file.
func checkWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder (want a file name)", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// classifyIdentity names the run a state belongs to: the seed, the
// epochs planned, and a hash of every option that changes the numbers
// (the patterns and pretrained weights by content). The stop, Out,
// Threads, Every, Curve, SkipTest and the state files may differ between
// the pieces of a run.
func (s Spec) classifyIdentity(pretrainedSum string, prec libtorch.Precision, world int) (map[string]string, error) {
	line := fmt.Sprintf("%q %q %q %d %v %d %v %q %q %v %v %d %q %q %d %d %v %q %v %q\n",
		s.Model, s.Data, s.DataDir, s.BatchSize, s.LR, s.TrainSubset, s.ValFrac, s.Regularizer.Name, s.Space,
		s.AllowOutsideSpace, s.DropRate, s.BlockSize, s.Sites, pretrainedSum, s.ImageSize, s.PerClass, !s.NoAugment,
		prec, s.PretrainedPartial, s.Device) + s.SemiSupervised.identity()
	if world > 1 { // other batches and masks: another run
		line += fmt.Sprintf("processes %d\n", world)
	}
	var files [][]byte
	if s.hasPatterns() {
		b, _, err := s.patternBytes()
		if err != nil {
			return nil, err
		}
		files = append(files, b)
	}
	if opt, wd, sched := s.recipe(); opt != "sgd" || wd != 5e-4 || sched != (train.Schedule{Kind: "cosine"}) {
		// only then, so that the other runs keep their identity
		line = strings.TrimSuffix(line, "\n") + fmt.Sprintf(" %s %v %+v\n", opt, wd, sched)
	}
	if s.RandAugment { // only then, so that the other runs keep their identity
		line = strings.TrimSuffix(line, "\n") + fmt.Sprintf(" randaugment %d %d\n", s.RAOps, s.RAMagnitude)
	}
	return identity(s.Seed, "epochs", s.Epochs, line, files...), nil
}

// loadPretrained loads s.Pretrained into vs and returns the file's
// SHA-256 (hex). By default only the classifier (classes outputs) and the
// stem (inChannels inputs) may be left to the model (nn.FineTuneSkips);
// with PretrainedPartial anything that does not fit is skipped. Skipped
// tensors are named in the output, as is a stripped DataParallel prefix.
func (s Spec) loadPretrained(vs *gnn.VarStore, classes, inChannels int64) (string, error) {
	sum, err := fileSHA256(s.Pretrained)
	if err != nil {
		return "", fmt.Errorf("--pretrained: %w", err)
	}
	opts := &nn.LoadOptions{Partial: true, StripPrefix: nn.DataParallelPrefix}
	if !s.PretrainedPartial {
		opts.Skippable = nn.FineTuneSkips(classes, inChannels)
	}
	rep, err := nn.LoadStateDict(vs, s.Pretrained, opts)
	if err != nil {
		if rep != nil && len(rep.Refused) > 0 {
			return "", fmt.Errorf("--pretrained: %w (another architecture? --pretrained-partial loads what fits)", err)
		}
		return "", fmt.Errorf("--pretrained: %w", err)
	}
	if rep.Stripped != "" {
		fmt.Fprintf(s.Output, "note: stripped the prefix %q (DataParallel) from every key of %s\n", rep.Stripped, s.Pretrained)
	}
	fmt.Fprintf(s.Output, "loaded %d tensors from %s (sha256 %s)\n", len(rep.Loaded), s.Pretrained, sum)
	if skipped := rep.Skipped(); len(skipped) > 0 {
		fmt.Fprintf(s.Output, "skipped %d tensors (missing, unexpected or of another shape; the model keeps its own initialization): %s\n", len(skipped), strings.Join(skipped, ", "))
	}
	return sum, nil
}

// fileSHA256 is the hex SHA-256 of the file's bytes.
func fileSHA256(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// assignRegularizer puts the chosen regularizer on the model's sites and
// describes what it did.
func (s Spec) assignRegularizer(sites *nn.Sites) (string, error) {
	switch s.Regularizer.Name {
	case "none":
		return "no regularizer", nil
	case "pattern":
		ps, name, err := s.readPatterns()
		if err != nil {
			return "", err
		}
		n, err := sites.SetPatterns(ps)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return fmt.Sprintf("patterns from %s at %d sites", name, n), nil
	}
	re, err := regexp.Compile(s.Sites)
	if err != nil {
		return "", fmt.Errorf("--sites: %w", err)
	}
	reg, err := autodropout.New(s.Regularizer.Name, autodropout.Options{Rate: s.DropRate, BlockSize: s.BlockSize})
	if err != nil {
		return "", err
	}
	n := sites.SetAll(reg, re.MatchString)
	if n == 0 {
		return "", fmt.Errorf("--sites %q matches none of the model's sites (%s)", s.Sites, strings.Join(sites.Names(), ", "))
	}
	return fmt.Sprintf("%s at %d sites", reg, n), nil
}

// readPatterns reads the patterns, checking every value against Space
// (the default space when empty) unless AllowOutsideSpace, and returns
// them with their source's name.
func (s Spec) readPatterns() ([]autodropout.SitePattern, string, error) {
	b, name, err := s.patternBytes()
	if err != nil {
		return nil, name, err
	}
	if s.AllowOutsideSpace {
		ps, err := autodropout.ParsePatterns(b)
		if err != nil {
			return nil, name, fmt.Errorf("read patterns %s: %w", name, err)
		}
		return ps, name, nil
	}
	space := autodropout.DefaultSearchSpace()
	if s.Space != "" {
		if space, err = autodropout.LoadSearchSpace(s.Space); err != nil {
			return nil, name, err
		}
	}
	ps, err := space.ParsePatterns(b)
	if errors.Is(err, autodropout.ErrOutsideSpace) { // only then do the flags help
		return nil, name, fmt.Errorf("read patterns %s: %w (--space FILE names another search space; --allow-outside-space accepts any well-formed pattern)", name, err)
	}
	if err != nil {
		return nil, name, fmt.Errorf("read patterns %s: %w", name, err)
	}
	return ps, name, nil
}

// augmentText describes an in-memory loader's augmentation.
func augmentText(a data.Augment) string {
	var parts []string
	if a.CropPad > 0 {
		parts = append(parts, fmt.Sprintf("crop(pad %d)", a.CropPad))
	}
	if a.Flip {
		parts = append(parts, "flip")
	}
	if a.RandAugment != nil {
		parts = append(parts, a.RandAugment.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

func accText(a *float64) string {
	if a == nil {
		return "not evaluated"
	}
	return fmt.Sprintf("%.4f", *a)
}

// processesText says how many processes train together, if more than one.
func processesText(g *distributed.Group, batch int) string {
	if g.World() == 1 {
		return ""
	}
	return fmt.Sprintf(", on %d processes (batch %d each)", g.World(), batch)
}
