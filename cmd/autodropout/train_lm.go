package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	gnn "github.com/sugarme/gotch/nn"
)

// isLMTask reports whether train's arguments ask for --task lm.
func isLMTask(args []string) bool {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == "task=lm" || (a == "task" && i+1 < len(args) && args[i+1] == "lm") {
			return true
		}
	}
	return false
}

// LMFileConfig is a configs/transformer-xl-*.json file (train.LMRecipe).
type LMFileConfig = train.LMRecipe

// LMResultFile is what train --task lm writes to result.json.
type LMResultFile struct {
	*train.LMResult
	Model       string  `json:"model"`
	Dataset     string  `json:"dataset"`
	Regularizer string  `json:"regularizer"`
	Config      string  `json:"config"`
	Seed        int64   `json:"seed"`
	Threads     int     `json:"threads"`
	Vocab       int     `json:"vocab"`
	EvalTokens  int     `json:"eval_tokens"` // validation tokens evaluated
	CPUS        float64 `json:"cpu_s"`       // CPU time of the whole process (user + system)
	// StepsPlanned is the run's steps when --stop-step ended it before
	// them (a rung of a multi-fidelity search); absent otherwise.
	StepsPlanned int `json:"steps_planned,omitempty"`
	// ResumedFrom is the --resume-state file.
	ResumedFrom string `json:"resumed_from,omitempty"`
}

// printLMFlags prints train --task lm's flags to w.
func printLMFlags(w io.Writer) {
	outer := current
	defer func() { current = outer }()
	if err := runTrainLM([]string{"-h"}); errors.Is(err, flag.ErrHelp) && current != nil {
		current.SetOutput(w)
		current.PrintDefaults()
	}
}

func runTrainLM(args []string) error {
	fs := newFlagSet("train --task lm")
	fs.String("task", "lm", "task: lm (language modelling)")
	model := fs.String("model", "transformer-xl", "model: transformer-xl")
	cfgPath := fs.String("config", "configs/transformer-xl-small.json", "model and recipe JSON")
	dataset := fs.String("data", "fortunes", "dataset: fortunes, kjv, ptb, wikitext2, wikitext103")
	dataDir := fs.String("data-dir", "", "folder of the corpus (fortunes default: "+data.FortunesDir+"; kjv: where it is prepared on first use, default ~/.cache/autodropout/kjv-1)")
	reg := fs.String("regularizer", "none", "none, dropout, variational or pattern")
	pattern := fs.String("pattern", "", "JSON list of {sites: regexp, pattern: transformer pattern} (implies --regularizer pattern)")
	outsideSpace := fs.Bool("allow-outside-space", false, "accept Transformer pattern values outside the default search space")
	steps := fs.Int("steps", 0, "optimizer steps (0: the config's max_step)")
	duration := fs.Duration("duration", 0, "stop training after this long (0: no limit)")
	seed := fs.Int64("seed", 1, "seed of the split, initialization and masks")
	threads := fs.Int("threads", 0, "libtorch intra-op threads (0: all cores)")
	out := fs.String("out", "", "folder for result.json")
	every := fs.Duration("progress", 5*time.Second, "interval between progress lines")
	minCount := fs.Int("min-count", 2, "fortunes: training words seen fewer times become <unk>")
	evalTokens := fs.Int("eval-tokens", 0, "evaluate on the first this many validation and test tokens (0: all)")
	device := fs.String("device", "cpu", "cpu, cuda or cuda:N")
	test := fs.Bool("test", true, "evaluate on the test split (search trials skip it: their reward is the validation perplexity)")
	precision := fs.String("precision", string(defaultPrecision), precisionUsage)
	stopStep := fs.Int("stop-step", 0, "stop after this many of the run's steps (the learning rate still follows the whole schedule), evaluate validation only, and save --save-state: a rung of a multi-fidelity search")
	saveState := fs.String("save-state", "", "file for the resumable state after the last step trained: weights, Adam's moments, the memories, the stream position, and the run's identity")
	resumeState := fs.String("resume-state", "", "continue from a --save-state file of the same run (same flags, pattern, config and seed, apart from --stop-step, --out, --threads, --progress, --test, --eval-tokens and the state files); the result equals an unbroken run's bit for bit on the same machine and thread count")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dev0, err := parseDevice(*device)
	if err != nil {
		return err
	}
	prec, err := libtorch.Resolve(libtorch.Precision(*precision), dev0)
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	if *model != "transformer-xl" {
		return fmt.Errorf("--task lm: model %q: want transformer-xl", *model)
	}
	if *pattern != "" {
		*reg = "pattern"
	}
	b, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	var cfg LMFileConfig
	if err := strictjson.Decode(b, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	n, err := setThreads(*threads)
	if err != nil {
		return err
	}
	if err := libtorch.ManualSeed(*seed); err != nil {
		return err
	}
	var c *data.Corpus
	switch *dataset {
	case "fortunes":
		dir := *dataDir
		if dir == "" {
			dir = data.FortunesDir
		}
		c, err = data.ReadFortunes(dir, data.FortuneOptions{Seed: *seed, MinCount: *minCount})
	case "kjv":
		c, err = data.ReadKJV(data.KJVOptions{Dir: *dataDir})
	case "ptb":
		c, err = data.ReadPTB(*dataDir)
	case "wikitext2", "wikitext103":
		c, err = data.ReadWikiText(*dataset, *dataDir)
	default:
		err = fmt.Errorf("--data %q: want fortunes, kjv, ptb, wikitext2 or wikitext103", *dataset)
	}
	if err != nil {
		return err
	}
	if *evalTokens > 0 {
		c.Valid = c.Valid[:min(len(c.Valid), *evalTokens)]
		c.Test = c.Test[:min(len(c.Test), *evalTokens)]
	}
	if !*test {
		c.Test = nil // never read: TrainLM skips an empty test split
	}
	if *steps > 0 {
		cfg.MaxStep = *steps
	}
	if *stopStep < 0 || *stopStep > cfg.MaxStep {
		return fmt.Errorf("--stop-step %d: want 0 (all) to the run's %d steps (--steps or the config's max_step)", *stopStep, cfg.MaxStep)
	}
	lmCfg := train.LMConfig{
		Optimizer: cfg.Optimizer, LR: cfg.LR, Clip: cfg.Clip, Steps: cfg.MaxStep, Duration: *duration,
		BatchSize: cfg.BatchSize, EvalBatch: cfg.EvalBatch, TgtLen: cfg.Model.TgtLen, Device: dev0,
		Precision: prec, Progress: os.Stdout, Every: *every, Seed: *seed, StopStep: *stopStep,
	}
	identity, err := lmIdentity(b, *dataset, *dataDir, *reg, *pattern, *outsideSpace, *minCount, prec, *device, *seed, cfg.MaxStep)
	if err != nil {
		return err
	}
	if *resumeState != "" {
		st, err := train.LoadState(*resumeState)
		if err != nil {
			return err
		}
		defer st.Drop()
		if err := st.CheckIdentity(*resumeState, identity); err != nil {
			return err
		}
		lmCfg.Resume = st
		fmt.Printf("resuming after step %d from %s\n", st.Steps, *resumeState)
	}
	if *saveState != "" {
		lmCfg.SaveState = func(st *train.State) error {
			defer st.Drop()
			st.Identity = identity
			return st.Save(*saveState)
		}
	}
	// Before building the model: a split too short for its streams must
	// not cost a training run to find out.
	if err := train.CheckSplits(c, lmCfg); err != nil {
		if *dataDir != "" {
			return fmt.Errorf("--data %s in %s: %w", *dataset, *dataDir, err)
		}
		return fmt.Errorf("--data %s: %w", *dataset, err)
	}
	cfg.Model.NToken = int64(c.Vocab.Len())
	vs := gnn.NewVarStore(dev0)
	m, err := nn.NewTransformerXL(vs.Root(), cfg.Model)
	if err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	if *reg == "pattern" && !*outsideSpace {
		if err := checkLMPatternSpace(*pattern); err != nil {
			return err
		}
	}
	if err := nn.SetLMRegularizer(m.Sites(), *reg, *pattern, cfg.Model); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("transformer-xl on %s: vocab %d, %d/%d/%d tokens, regularizer %s, %s\n", c.Name, c.Vocab.Len(), len(c.Train), len(c.Valid), len(c.Test), *reg, prec)
	res, err := train.TrainLM(ctx, vs, m, c, lmCfg)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		planned := 0
		if *stopStep > 0 && *stopStep < cfg.MaxStep {
			planned = cfg.MaxStep
		}
		return writeJSON(filepath.Join(*out, "result.json"), LMResultFile{LMResult: res, Model: *model, Dataset: c.Name,
			Regularizer: *reg, Config: *cfgPath, Seed: *seed, Threads: n, Vocab: c.Vocab.Len(), EvalTokens: len(c.Valid), CPUS: cpuSeconds(),
			StepsPlanned: planned, ResumedFrom: *resumeState})
	}
	return nil
}

// lmIdentity names the language-model run a state belongs to: the seed,
// the steps planned, and a hash of the recipe file's content and every
// flag that changes the training (the pattern file by content).
func lmIdentity(recipe []byte, dataset, dataDir, reg, pattern string, outsideSpace bool, minCount int, prec libtorch.Precision, device string, seed int64, steps int) (map[string]string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %v %d %q %q\n", dataset, dataDir, reg, outsideSpace, minCount, prec, device)
	h.Write(recipe)
	if pattern != "" {
		b, err := os.ReadFile(pattern)
		if err != nil {
			return nil, fmt.Errorf("--pattern: %w", err)
		}
		h.Write(b)
	}
	return map[string]string{"seed": fmt.Sprint(seed), "steps": fmt.Sprint(steps), "flags": hex.EncodeToString(h.Sum(nil))}, nil
}

// checkLMPatternSpace refuses Transformer patterns with values outside the
// default search space.
func checkLMPatternSpace(file string) error {
	ps, err := autodropout.ReadTransformerPatterns(file)
	if err != nil {
		return err
	}
	space := autodropout.DefaultTransformerSpace()
	for i, p := range ps {
		if !space.Contains(p.Pattern) {
			return fmt.Errorf("pattern file %s entry %d (sites %q): %v is outside the default Transformer search space %+v (--allow-outside-space accepts it)", file, i, p.Sites, p.Pattern, space)
		}
	}
	return nil
}
