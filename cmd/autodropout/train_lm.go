package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
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

// LMFileConfig is a configs/transformer-xl-*.json file: the model's sizes
// and the training recipe.
type LMFileConfig struct {
	Model     nn.TransformerXLConfig `json:"model"`
	Optimizer string                 `json:"optimizer"`
	LR        float64                `json:"lr"`
	Clip      float64                `json:"clip"`
	MaxStep   int                    `json:"max_step"`
	BatchSize int64                  `json:"batch_size"`
	EvalBatch int64                  `json:"eval_batch_size"`
	Source    string                 `json:"source,omitempty"` // where the values come from
}

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
}

func runTrainLM(args []string) error {
	fs := flag.NewFlagSet("train --task lm", flag.ContinueOnError)
	fs.String("task", "lm", "task: lm (language modelling)")
	model := fs.String("model", "transformer-xl", "model: transformer-xl")
	cfgPath := fs.String("config", "configs/transformer-xl-small.json", "model and recipe JSON")
	dataset := fs.String("data", "fortunes", "dataset: fortunes, ptb, wikitext2, wikitext103")
	dataDir := fs.String("data-dir", "", "folder of the corpus (fortunes default: "+data.FortunesDir+")")
	reg := fs.String("regularizer", "none", "none, dropout, variational or pattern")
	pattern := fs.String("pattern", "", "JSON list of {sites: regexp, pattern: transformer pattern} (implies --regularizer pattern)")
	steps := fs.Int("steps", 0, "optimizer steps (0: the config's max_step)")
	duration := fs.Duration("duration", 0, "stop training after this long (0: no limit)")
	seed := fs.Int64("seed", 1, "seed of the split, initialization and masks")
	threads := fs.Int("threads", 0, "libtorch intra-op threads (0: all cores)")
	out := fs.String("out", "", "folder for result.json")
	every := fs.Duration("progress", 5*time.Second, "interval between progress lines")
	minCount := fs.Int("min-count", 2, "fortunes: training words seen fewer times become <unk>")
	evalTokens := fs.Int("eval-tokens", 0, "evaluate on the first this many validation and test tokens (0: all)")
	device := fs.String("device", "cpu", "cpu, cuda or cuda:N")
	precision := fs.String("precision", string(defaultPrecision), precisionUsage)
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
	if err := json.Unmarshal(b, &cfg); err != nil {
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
	case "ptb":
		c, err = data.ReadPTB(*dataDir)
	case "wikitext2", "wikitext103":
		c, err = data.ReadWikiText(*dataset, *dataDir)
	default:
		err = fmt.Errorf("--data %q: want fortunes, ptb, wikitext2 or wikitext103", *dataset)
	}
	if err != nil {
		return err
	}
	if *evalTokens > 0 {
		c.Valid = c.Valid[:min(len(c.Valid), *evalTokens)]
		c.Test = c.Test[:min(len(c.Test), *evalTokens)]
	}
	cfg.Model.NToken = int64(c.Vocab.Len())
	vs := gnn.NewVarStore(dev0)
	m, err := nn.NewTransformerXL(vs.Root(), cfg.Model)
	if err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	if err := assignLMRegularizer(m.Sites(), *reg, *pattern, cfg.Model); err != nil {
		return err
	}
	if *steps > 0 {
		cfg.MaxStep = *steps
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("transformer-xl on %s: vocab %d, %d/%d/%d tokens, regularizer %s, %s\n", c.Name, c.Vocab.Len(), len(c.Train), len(c.Valid), len(c.Test), *reg, prec)
	res, err := train.TrainLM(ctx, vs, m, c, train.LMConfig{
		Optimizer: cfg.Optimizer, LR: cfg.LR, Clip: cfg.Clip, Steps: cfg.MaxStep, Duration: *duration,
		BatchSize: cfg.BatchSize, EvalBatch: cfg.EvalBatch, TgtLen: cfg.Model.TgtLen, Device: dev0,
		Precision: prec, Progress: os.Stdout, Every: *every,
	})
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		return writeJSON(filepath.Join(*out, "result.json"), LMResultFile{LMResult: res, Model: *model, Dataset: c.Name,
			Regularizer: *reg, Config: *cfgPath, Seed: *seed, Threads: n, Vocab: c.Vocab.Len(), EvalTokens: len(c.Valid), CPUS: cpuSeconds()})
	}
	return nil
}

// assignLMRegularizer sets the sites: dropout puts Dropout(dropout) on
// every site but the attention probabilities, which get Dropout(dropatt)
// (the reference's placement, plus Q/K/V); variational shares one mask
// along time instead (probabilities keep plain dropatt); pattern reads a
// pattern file.
func assignLMRegularizer(s *nn.Sites, reg, patternFile string, c nn.TransformerXLConfig) error {
	isProb := func(n string) bool { return strings.HasSuffix(n, ".prob") }
	switch reg {
	case "none":
		return nil
	case "dropout", "variational":
		if reg == "dropout" {
			d, err := autodropout.NewDropout(c.Dropout)
			if err != nil {
				return fmt.Errorf("dropout: %w", err)
			}
			s.SetAll(d, func(n string) bool { return !isProb(n) })
		} else {
			d, err := autodropout.NewVariationalDropout(c.Dropout)
			if err != nil {
				return fmt.Errorf("variational: %w", err)
			}
			s.SetAll(d, func(n string) bool { return !isProb(n) })
		}
		if c.DropAtt > 0 {
			da, err := autodropout.NewDropout(c.DropAtt)
			if err != nil {
				return fmt.Errorf("dropatt: %w", err)
			}
			s.SetAll(da, isProb)
		}
		return nil
	case "pattern":
		ps, err := autodropout.ReadTransformerPatterns(patternFile)
		if err != nil {
			return err
		}
		for i, p := range ps {
			re := regexp.MustCompile(p.Sites) // checked by ReadTransformerPatterns
			d, err := autodropout.NewTransformerDropout(p.Pattern)
			if err != nil {
				return fmt.Errorf("pattern file %s entry %d: %w", patternFile, i, err)
			}
			if s.SetAll(d, re.MatchString) == 0 {
				return fmt.Errorf("pattern file %s entry %d: sites %q match no site", patternFile, i, p.Sites)
			}
		}
		return nil
	}
	return fmt.Errorf("--regularizer %q: want none, dropout, variational or pattern", reg)
}
