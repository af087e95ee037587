package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// trainFlags are the flags of autodropout train.
type trainFlags struct {
	model, dataset, dataDir string
	epochs, batchSize       int
	lr                      float64
	seed                    int64
	threads, subset         int
	valFrac                 float64
	test                    bool
	out                     string
	regularizer, pattern    string
	space                   string
	outsideSpace            bool
	rate                    float64
	blockSize               int
	sites                   string
	pretrained, device      string
	pretrainedPartial       bool
	imageSize, perClass     int
	augment                 bool
	progressEvery           time.Duration
	curve                   bool
	precision               string
	stopEpoch               int
	saveState, resumeState  string
}

func parseTrainFlags(args []string) (*trainFlags, error) {
	f := &trainFlags{}
	fs := newFlagSet("train")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: autodropout train [flags]            image classification (the default)\n       autodropout train --task lm [flags]  language models\n\nImage classification:")
		fs.PrintDefaults()
		fmt.Fprintln(w, "\nLanguage models (--task lm):")
		printLMFlags(w)
	}
	fs.StringVar(&f.model, "model", "convnet", "model: "+nn.ModelNames)
	fs.StringVar(&f.dataset, "data", "fashion-mnist", "dataset: "+strings.Join(data.Datasets, ", "))
	fs.StringVar(&f.dataDir, "data-dir", "", "folder of the dataset's files (default for fashion-mnist: "+data.FashionMNISTDir+")")
	fs.IntVar(&f.epochs, "epochs", 1, "training epochs")
	fs.IntVar(&f.batchSize, "batch-size", 128, "examples per step")
	fs.Float64Var(&f.lr, "lr", 0.05, "peak learning rate (SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine decay)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of every random choice: split, order, augmentation, initialization, masks")
	fs.IntVar(&f.threads, "threads", 0, "libtorch intra-op threads (0: all cores)")
	fs.IntVar(&f.subset, "train-subset", 0, "train on this many examples (0: all)")
	fs.Float64Var(&f.valFrac, "val-frac", 0.1, "fraction of the training set held out for validation")
	fs.StringVar(&f.out, "out", "", "folder for result.json and the checkpoint model.ot (empty: none)")
	fs.StringVar(&f.regularizer, "regularizer", "none", "regularizer at the sites: "+strings.Join(autodropout.Names(), ", ")+" (pattern needs --pattern)")
	fs.StringVar(&f.pattern, "pattern", "", "JSON file of per-site patterns (implies --regularizer pattern)")
	fs.StringVar(&f.space, "space", "", "search-space JSON file the --pattern values must come from (default: the default space)")
	fs.BoolVar(&f.outsideSpace, "allow-outside-space", false, "accept pattern values outside the search space (any well-formed pattern)")
	fs.Float64Var(&f.rate, "drop-rate", 0.1, "drop probability of dropout, spatial and dropblock")
	fs.IntVar(&f.blockSize, "block-size", 3, "dropblock's block side")
	fs.StringVar(&f.sites, "sites", `\.bn\d+$|^bn\d+$`, "regular expression of the sites a baseline regularizer goes to; the default matches the batch-norm outputs")
	fs.StringVar(&f.pretrained, "pretrained", "", "PyTorch state dict (.pth, torchvision format) to start from; a classifier of another size, and a stem for other input channels, are skipped; anything else that does not fit is refused (see --pretrained-partial); a DataParallel \"module.\" prefix is stripped")
	fs.BoolVar(&f.pretrainedPartial, "pretrained-partial", false, "with --pretrained: load whatever fits by name and shape and skip the rest (named in the output), even from another architecture")
	fs.StringVar(&f.device, "device", "cpu", "cpu, cuda or cuda:N")
	fs.IntVar(&f.imageSize, "image-size", 224, "imagenet: crop side")
	fs.IntVar(&f.perClass, "per-class", 0, "imagenet: training images per class (0: all)")
	fs.BoolVar(&f.test, "test", true, "evaluate on the test set (search trials skip it: their reward is the validation accuracy)")
	fs.BoolVar(&f.augment, "augment", true, "random crop (pad 4 on 32×32, 2 on 28×28) and, for colour images, horizontal flip")
	fs.DurationVar(&f.progressEvery, "progress", 5*time.Second, "interval between progress lines")
	fs.BoolVar(&f.curve, "curve", false, "evaluate the validation and training sets after every epoch and record the learning curve (result.json's curve)")
	fs.StringVar(&f.precision, "precision", string(defaultPrecision), precisionUsage)
	fs.IntVar(&f.stopEpoch, "stop-epoch", 0, "stop after this many epochs of the --epochs schedule (the learning rate follows the full cosine), evaluate, and write result.json with the epochs done: a rung of multi-fidelity search (0: train all --epochs)")
	fs.StringVar(&f.saveState, "save-state", "", "file for the resumable state after the last epoch trained: weights, batch-norm buffers, SGD momentum, epochs and steps done, and the run's identity")
	fs.StringVar(&f.resumeState, "resume-state", "", "continue from a --save-state file of the same run (same flags, pattern and seed, apart from --stop-epoch, --out, --threads, --progress and the state files); the result equals an unbroken run's bit for bit on the same machine and thread count")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.epochs < 1 {
		return nil, fmt.Errorf("--epochs %d: want at least 1", f.epochs)
	}
	if f.stopEpoch < 0 || f.stopEpoch > f.epochs {
		return nil, fmt.Errorf("--stop-epoch %d: want 0 (all) to --epochs %d", f.stopEpoch, f.epochs)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.pattern != "" {
		if f.regularizer != "none" && f.regularizer != "pattern" {
			return nil, fmt.Errorf("--pattern with --regularizer %s: choose one", f.regularizer)
		}
		f.regularizer = "pattern"
	}
	if f.regularizer == "pattern" && f.pattern == "" {
		return nil, fmt.Errorf("--regularizer pattern needs --pattern FILE")
	}
	if f.pretrainedPartial && f.pretrained == "" {
		return nil, fmt.Errorf("--pretrained-partial needs --pretrained FILE")
	}
	if _, err := parsePrecision(f.precision); err != nil {
		return nil, err
	}
	return f, nil
}

// Result is what train writes to result.json.
type Result struct {
	*train.Result
	Model       string  `json:"model"`
	Dataset     string  `json:"dataset"`
	Regularizer string  `json:"regularizer"`
	Seed        int64   `json:"seed"`
	Threads     int     `json:"threads"`
	Device      string  `json:"device"`
	TrainN      int     `json:"train_examples"`
	ValN        int     `json:"val_examples"`
	TestN       int     `json:"test_examples"`
	CPUS        float64 `json:"cpu_s"` // CPU time of the whole process (user + system)
	// Pretrained is the --pretrained file and PretrainedSHA256 the SHA-256
	// of its bytes (hex), so a result names the exact weights it started
	// from.
	Pretrained       string `json:"pretrained,omitempty"`
	PretrainedSHA256 string `json:"pretrained_sha256,omitempty"`
	// EpochsPlanned is --epochs, the schedule's length, when --stop-epoch
	// ends the run earlier (Epochs is then the epochs done).
	EpochsPlanned int `json:"epochs_planned,omitempty"`
	// ResumedFrom is the --resume-state file.
	ResumedFrom string `json:"resumed_from,omitempty"`
}

func runTrain(args []string) error {
	if isLMTask(args) {
		return runTrainLM(args)
	}
	f, err := parseTrainFlags(args)
	if err != nil {
		return err
	}
	dev, err := parseDevice(f.device)
	if err != nil {
		return err
	}
	if _, err := setThreads(f.threads); err != nil {
		return err
	}
	if err := libtorch.ManualSeed(f.seed); err != nil {
		return err
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return err
		}
	}

	full, testSet, err := data.Open(f.dataset, f.dataDir, data.OpenOptions{ImageSize: f.imageSize, PerClass: f.perClass, Seed: f.seed, Progress: os.Stdout})
	if err != nil {
		return err
	}
	trIdx, valIdx, err := data.Split(full.N, f.valFrac, f.seed)
	if err != nil {
		return fmt.Errorf("--val-frac: %w", err)
	}
	if f.subset > 0 && f.subset < len(trIdx) {
		trIdx = trIdx[:f.subset]
	}
	trainSet := full.Subset(trIdx)
	var aug data.Augment
	if f.augment {
		aug.CropPad = int(max(full.H/8, 1))
		if full.C == 3 {
			aug.Flip = true
		}
		if full.H > 64 { // large images: flips only
			aug.CropPad = 0
		}
	}
	trainLoader, err := data.NewLoader(trainSet, data.LoaderConfig{BatchSize: f.batchSize, Shuffle: true, Seed: f.seed, Augment: aug})
	if err != nil {
		return err
	}
	evalCfg := data.LoaderConfig{BatchSize: max(f.batchSize, 256)}
	var valLoader *data.Loader
	if len(valIdx) > 0 {
		if valLoader, err = data.NewLoader(full.Subset(valIdx), evalCfg); err != nil {
			return err
		}
	}
	var testLoader *data.Loader
	testN := 0
	if f.test {
		testN = testSet.N
		if testLoader, err = data.NewLoader(testSet, evalCfg); err != nil {
			return err
		}
	}

	vs := gnn.NewVarStore(dev)
	model, err := nn.New(f.model, vs.Root(), nn.Input{C: int64(full.C), H: int64(full.H), W: int64(full.W)}, int64(full.Classes))
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if canon, _ := nn.CanonicalName(f.model); canon != f.model {
		fmt.Printf("note: --model %s is %s\n", f.model, canon)
	}
	var pretrainedSum string
	if f.pretrained != "" {
		if pretrainedSum, err = loadPretrained(vs, f, int64(full.Classes), int64(full.C)); err != nil {
			return err
		}
	}
	regDesc, err := assignRegularizer(model.Sites(), f)
	if err != nil {
		return err
	}

	cfg := train.DefaultConfig()
	cfg.Epochs, cfg.LR, cfg.Device, cfg.Progress, cfg.Every = f.epochs, f.lr, dev, os.Stdout, f.progressEvery
	cfg.Seed, cfg.Curve = f.seed, f.curve
	if f.curve {
		if cfg.CurveTrain, err = data.NewLoader(trainSet, evalCfg); err != nil {
			return err
		}
	}
	if cfg.Precision, err = libtorch.Resolve(libtorch.Precision(f.precision), dev); err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	fmt.Printf("training %s on %s with %s: %d train / %d validation / %d test examples, %d epochs of %d steps, %d threads, %s, seed %d\n",
		f.model, f.dataset, regDesc, trainSet.N, len(valIdx), testN, f.epochs, trainLoader.Batches(), libtorch.Threads(), cfg.Precision, f.seed)

	cfg.StopEpoch = f.stopEpoch
	identity, err := trainIdentity(f, pretrainedSum, cfg.Precision)
	if err != nil {
		return err
	}
	if f.resumeState != "" {
		st, err := train.LoadState(f.resumeState)
		if err != nil {
			return err
		}
		defer st.Drop()
		if err := st.CheckIdentity(f.resumeState, identity); err != nil {
			return err
		}
		cfg.Resume = st
		fmt.Printf("resuming after epoch %d (step %d) from %s\n", st.Epochs, st.Steps, f.resumeState)
	}
	if f.saveState != "" {
		cfg.SaveState = func(st *train.State) error {
			defer st.Drop()
			st.Identity = identity
			return st.Save(f.saveState)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.Classifier(ctx, vs, model, trainLoader, valLoader, testLoader, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("done in %s: train loss %.4f, validation accuracy %s, test accuracy %s (%d parameters)\n",
		time.Duration(res.WallS*float64(time.Second)).Round(time.Second), res.TrainLoss, accText(res.ValAcc), accText(res.TestAcc), res.Params)
	if f.out == "" {
		return nil
	}
	if err := nn.SaveCheckpoint(vs, filepath.Join(f.out, "model.ot")); err != nil {
		return err
	}
	return writeJSON(filepath.Join(f.out, "result.json"), Result{
		Result: res, Model: f.model, Dataset: f.dataset, Regularizer: regDesc, Seed: f.seed,
		Threads: libtorch.Threads(), Device: f.device, TrainN: trainSet.N, ValN: len(valIdx), TestN: testN,
		CPUS: cpuSeconds(), Pretrained: f.pretrained, PretrainedSHA256: pretrainedSum,
		EpochsPlanned: planned(f), ResumedFrom: f.resumeState,
	})
}

func planned(f *trainFlags) int {
	if f.stopEpoch > 0 && f.stopEpoch < f.epochs {
		return f.epochs
	}
	return 0
}

// trainIdentity names the run a state belongs to: the seed, the epochs
// planned, and a hash of every flag that changes the numbers (the pattern
// and pretrained files by content). --stop-epoch, --out, --threads,
// --progress, --curve, --test and the state files may differ between the
// pieces of a run.
func trainIdentity(f *trainFlags, pretrainedSum string, prec libtorch.Precision) (map[string]string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %d %v %d %v %q %q %v %v %d %q %q %d %d %v %q %v %q\n",
		f.model, f.dataset, f.dataDir, f.batchSize, f.lr, f.subset, f.valFrac, f.regularizer, f.space,
		f.outsideSpace, f.rate, f.blockSize, f.sites, pretrainedSum, f.imageSize, f.perClass, f.augment,
		prec, f.pretrainedPartial, f.device)
	if f.pattern != "" {
		b, err := os.ReadFile(f.pattern)
		if err != nil {
			return nil, fmt.Errorf("--pattern: %w", err)
		}
		h.Write(b)
	}
	return map[string]string{
		"seed":   fmt.Sprint(f.seed),
		"epochs": fmt.Sprint(f.epochs),
		"flags":  hex.EncodeToString(h.Sum(nil)),
	}, nil
}

// loadPretrained loads f.pretrained into vs and returns the file's SHA-256
// (hex). By default only the classifier (classes outputs) and the stem
// (inChannels inputs) may be left to the model (nn.FineTuneSkips); with
// f.pretrainedPartial anything that does not fit is skipped. Skipped
// tensors are named in the output, as is a stripped DataParallel prefix.
func loadPretrained(vs *gnn.VarStore, f *trainFlags, classes, inChannels int64) (string, error) {
	sum, err := fileSHA256(f.pretrained)
	if err != nil {
		return "", fmt.Errorf("--pretrained: %w", err)
	}
	opts := &nn.LoadOptions{Partial: true, StripPrefix: nn.DataParallelPrefix}
	if !f.pretrainedPartial {
		opts.Skippable = nn.FineTuneSkips(classes, inChannels)
	}
	rep, err := nn.LoadStateDict(vs, f.pretrained, opts)
	if err != nil {
		if rep != nil && len(rep.Refused) > 0 {
			return "", fmt.Errorf("--pretrained: %w (another architecture? --pretrained-partial loads what fits)", err)
		}
		return "", fmt.Errorf("--pretrained: %w", err)
	}
	if rep.Stripped != "" {
		fmt.Printf("note: stripped the prefix %q (DataParallel) from every key of %s\n", rep.Stripped, f.pretrained)
	}
	fmt.Printf("loaded %d tensors from %s (sha256 %s)\n", len(rep.Loaded), f.pretrained, sum)
	if skipped := rep.Skipped(); len(skipped) > 0 {
		fmt.Printf("skipped %d tensors (missing, unexpected or of another shape; the model keeps its own initialization): %s\n", len(skipped), strings.Join(skipped, ", "))
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
func assignRegularizer(sites *nn.Sites, f *trainFlags) (string, error) {
	switch f.regularizer {
	case "none":
		return "no regularizer", nil
	case "pattern":
		ps, err := readPatterns(f)
		if err != nil {
			return "", err
		}
		n, err := sites.SetPatterns(ps)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.pattern, err)
		}
		return fmt.Sprintf("patterns from %s at %d sites", f.pattern, n), nil
	}
	re, err := regexp.Compile(f.sites)
	if err != nil {
		return "", fmt.Errorf("--sites: %w", err)
	}
	reg, err := autodropout.New(f.regularizer, autodropout.Options{Rate: f.rate, BlockSize: f.blockSize})
	if err != nil {
		return "", err
	}
	n := sites.SetAll(reg, re.MatchString)
	if n == 0 {
		return "", fmt.Errorf("--sites %q matches none of the model's sites (%s)", f.sites, strings.Join(sites.Names(), ", "))
	}
	return fmt.Sprintf("%s at %d sites", reg, n), nil
}

// readPatterns reads --pattern, checking every value against --space (the
// default space when empty) unless --allow-outside-space.
func readPatterns(f *trainFlags) ([]autodropout.SitePattern, error) {
	if f.outsideSpace {
		return autodropout.ReadPatterns(f.pattern)
	}
	space := autodropout.DefaultSearchSpace()
	if f.space != "" {
		var err error
		if space, err = autodropout.LoadSearchSpace(f.space); err != nil {
			return nil, err
		}
	}
	ps, err := space.ReadPatterns(f.pattern)
	if errors.Is(err, autodropout.ErrOutsideSpace) { // only then do the flags help
		return nil, fmt.Errorf("%w (--space FILE names another search space; --allow-outside-space accepts any well-formed pattern)", err)
	}
	if err != nil {
		return nil, err
	}
	return ps, nil
}

func parseDevice(s string) (gotch.Device, error) {
	switch {
	case s == "cpu":
		return gotch.CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		i := 0
		if s != "cuda" {
			if _, err := fmt.Sscanf(s, "cuda:%d", &i); err != nil {
				return gotch.CPU, fmt.Errorf("--device %q: want cpu, cuda or cuda:N", s)
			}
		}
		if gotch.CudaIfAvailable() == gotch.CPU {
			return gotch.CPU, fmt.Errorf("--device %s: this libtorch has no CUDA (build against a CUDA libtorch: LIBTORCH=/path make setup)", s)
		}
		return gotch.CudaBuilder(uint(i)), nil
	}
	return gotch.CPU, fmt.Errorf("--device %q: want cpu, cuda or cuda:N", s)
}

func accText(a *float64) string {
	if a == nil {
		return "not evaluated"
	}
	return fmt.Sprintf("%.4f", *a)
}

// cpuSeconds is the CPU time (user + system) the process has used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// writeJSON writes v atomically (a reader never sees half a file),
// creating the folder if needed.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// setThreads applies a --threads value (0: all cores) to libtorch and
// returns the thread count.
func setThreads(threads int) (int, error) {
	n, err := libtorch.ThreadsFromEnv(fmt.Sprint(threads))
	if err != nil {
		return 0, fmt.Errorf("--threads: %w", err)
	}
	return n, libtorch.SetThreads(n)
}
