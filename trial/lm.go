package trial

import (
	"context"
	"fmt"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/configs"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/train"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// runLM trains a Transformer-XL language model (s resolved).
func runLM(ctx context.Context, s Spec) (Result, error) {
	dev, err := parseDevice(s.Device, true)
	if err != nil {
		return Result{}, err
	}
	prec, err := libtorch.Resolve(s.Precision, dev)
	if err != nil {
		return Result{}, fmt.Errorf("--precision: %w", err)
	}
	recipe, cfg, err := s.readRecipe()
	if err != nil {
		return Result{}, err
	}
	if _, _, err := s.setup(); err != nil {
		return Result{}, err
	}
	c, err := s.openCorpus()
	if err != nil {
		return Result{}, err
	}
	if s.StopStep > cfg.MaxStep {
		return Result{}, fmt.Errorf("--stop-step %d: want 0 (all) to the run's %d steps (--steps or the config's max_step)", s.StopStep, cfg.MaxStep)
	}
	lmCfg := s.lmTrainConfig(&cfg, dev, prec)
	id, err := s.lmIdentity(recipe, prec, cfg.MaxStep)
	if err != nil {
		return Result{}, err
	}
	release, saveErr, err := s.states(id, &lmCfg.Resume, &lmCfg.SaveState, func(st *train.State) string {
		return fmt.Sprintf("after step %d", st.Steps)
	})
	if err != nil {
		return Result{}, err
	}
	defer release()
	// Before building the model: a split too short for its streams must
	// not cost a training run to find out.
	if err := train.CheckSplits(c, lmCfg); err != nil {
		return Result{}, fmt.Errorf("%s: %w", s.dataText(), err)
	}
	cfg.Model.NToken = int64(c.Vocab.Len())
	vs := gnn.NewVarStore(dev)
	m, err := s.buildLM(vs, cfg.Model)
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintf(s.Output, "transformer-xl on %s: vocab %d, %d/%d/%d tokens, regularizer %s, %s\n", c.Name, c.Vocab.Len(), len(c.Train), len(c.Valid), len(c.Test), s.Regularizer.Name, prec)
	res, err := train.TrainLM(ctx, vs, m, c, lmCfg)
	if err != nil {
		return Result{}, err
	}
	out, err := s.finish(s.lmResult(res, c, cfg.MaxStep))
	return withSaveError(out, err, *saveErr)
}

// dataText names the data the run reads, as its flags give it: "--data
// kjv in DIR with --train-subset N and --eval-tokens M".
func (s Spec) dataText() string {
	what := "--data " + s.Data
	if s.DataDir != "" {
		what += " in " + s.DataDir
	}
	var with []string
	if s.TrainSubset > 0 {
		with = append(with, fmt.Sprintf("--train-subset %d", s.TrainSubset))
	}
	if s.EvalTokens > 0 {
		with = append(with, fmt.Sprintf("--eval-tokens %d", s.EvalTokens))
	}
	if len(with) > 0 {
		what += " with " + strings.Join(with, " and ")
	}
	return what
}

// lmTrainConfig is the language-model loop's config for the recipe cfg,
// whose model takes the dropout rates of s.
func (s Spec) lmTrainConfig(cfg *train.LMRecipe, dev gotch.Device, prec libtorch.Precision) train.LMConfig {
	if s.DropRate > 0 {
		cfg.Model.Dropout = s.DropRate
	}
	if s.DropAtt > 0 {
		cfg.Model.DropAtt = s.DropAtt
	}
	return train.LMConfig{
		Optimizer: cfg.Optimizer, LR: cfg.LR, Clip: cfg.Clip, Steps: cfg.MaxStep, Duration: s.Duration,
		BatchSize: cfg.BatchSize, EvalBatch: cfg.EvalBatch, TgtLen: cfg.Model.TgtLen, Device: dev,
		Precision: prec, Progress: s.Output, Every: s.Every, Seed: s.Seed, StopStep: s.StopStep,
		CurveEvery: s.CurveEvery,
	}
}

// lmResult is the result file's record of the run res on corpus c, of a
// schedule of maxStep steps.
func (s Spec) lmResult(res *train.LMResult, c *data.Corpus, maxStep int) Result {
	out := Result{Model: s.Model, Dataset: c.Name, Regularizer: s.Regularizer.Name, Seed: s.Seed, Threads: libtorch.Threads(),
		Precision: res.Precision, ValPPL: ptr(res.ValPPL), TrainLoss: res.TrainLoss, Steps: res.Steps, Tokens: res.Tokens,
		Params: res.Params, WallS: ptr(res.WallS), TrainS: res.TrainS, TokensPerS: res.TokensPerS,
		Config: s.LMConfig, Vocab: c.Vocab.Len(), TrainTokens: len(c.Train), EvalTokens: len(c.Valid), ResumedFrom: s.ResumeState,
		LMCurve: res.Curve, DropRate: s.DropRate, DropAtt: s.DropAtt}
	if res.TestPPL != 0 {
		out.TestPPL = ptr(res.TestPPL)
	}
	if s.StopStep > 0 && s.StopStep < maxStep {
		out.StepsPlanned = maxStep
	}
	return out
}

// readRecipe reads LMConfig, returning its bytes (for the run's
// identity) and the recipe with Steps applied.
func (s Spec) readRecipe() ([]byte, train.LMRecipe, error) {
	var cfg train.LMRecipe
	recipe, err := configs.ReadFile(s.LMConfig)
	if err != nil {
		return nil, cfg, fmt.Errorf("--config: %w", err)
	}
	if err := strictjson.Decode(recipe, &cfg); err != nil {
		return nil, cfg, fmt.Errorf("config %s: %w", s.LMConfig, err)
	}
	if s.Steps > 0 {
		cfg.MaxStep = s.Steps
	}
	return recipe, cfg, nil
}

// buildLM builds the Transformer-XL in vs and puts the regularizer on
// its sites.
func (s Spec) buildLM(vs *gnn.VarStore, mc nn.TransformerXLConfig) (*nn.TransformerXL, error) {
	m, err := nn.NewTransformerXL(vs.Root(), mc)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", s.LMConfig, err)
	}
	return m, s.setLMRegularizer(m.Sites(), mc)
}

// openCorpus reads the corpus, keeps TrainSubset tokens of its training
// split (data.SpreadSubset) and trims its evaluation splits to EvalTokens (the test
// split to none with SkipTest).
func (s Spec) openCorpus() (*data.Corpus, error) {
	var c *data.Corpus
	var err error
	switch s.Data {
	case "fortunes":
		dir := s.DataDir
		if dir == "" {
			dir = data.FortunesDir
		}
		c, err = data.ReadFortunes(dir, data.FortuneOptions{Seed: s.Seed, MinCount: s.MinCount})
	case "kjv":
		c, err = data.ReadKJV(data.KJVOptions{Dir: s.DataDir})
	case "ptb":
		c, err = data.ReadPTB(s.DataDir)
	case "wikitext2", "wikitext103":
		c, err = data.ReadWikiText(s.Data, s.DataDir)
	case "text":
		c, err = data.ReadText(s.DataDir, s.MinCount)
	default:
		err = fmt.Errorf("--data %q: want fortunes, kjv, ptb, wikitext2, wikitext103 or text", s.Data)
	}
	if err != nil {
		return nil, err
	}
	if s.TrainSubset > 0 {
		c.Train = data.SpreadSubset(c.Train, s.TrainSubset)
	}
	if s.EvalTokens > 0 {
		c.Valid = c.Valid[:min(len(c.Valid), s.EvalTokens)]
		c.Test = c.Test[:min(len(c.Test), s.EvalTokens)]
	}
	if s.SkipTest {
		c.Test = nil // never read: TrainLM skips an empty test split
	}
	return c, nil
}

// lmIdentity names the language-model run a state belongs to: the seed,
// the steps planned, and a hash of the recipe file's content and every
// option that changes the training (the patterns by content).
func (s Spec) lmIdentity(recipe []byte, prec libtorch.Precision, steps int) (map[string]string, error) {
	line := fmt.Sprintf("%q %q %q %v %d %q %q\n", s.Data, s.DataDir, s.Regularizer.Name, s.AllowOutsideSpace, s.MinCount, prec, s.Device)
	if s.DropRate != 0 || s.DropAtt != 0 { // absent otherwise: states saved before these options still resume
		line += fmt.Sprintf("rates %v %v\n", s.DropRate, s.DropAtt)
	}
	if s.TrainSubset != 0 { // as the rates: older states still resume
		line += fmt.Sprintf("train-subset %d spread\n", s.TrainSubset)
	}
	files := [][]byte{recipe}
	if s.hasPatterns() {
		b, _, err := s.patternBytes()
		if err != nil {
			return nil, err
		}
		files = append(files, b)
	}
	return identity(s.Seed, "steps", steps, line, files...), nil
}

// setLMRegularizer puts the regularizer on a Transformer-XL's sites;
// patterns must come from the default Transformer space unless
// AllowOutsideSpace.
func (s Spec) setLMRegularizer(sites *nn.Sites, mc nn.TransformerXLConfig) error {
	if s.Regularizer.Name != "pattern" {
		return nn.SetLMRegularizer(sites, s.Regularizer.Name, "", mc)
	}
	b, name, err := s.patternBytes()
	if err != nil {
		return err
	}
	ps, err := autodropout.ParseTransformerPatterns(b)
	if err != nil {
		return fmt.Errorf("read transformer patterns %s: %w", name, err)
	}
	if !s.AllowOutsideSpace {
		space := autodropout.DefaultTransformerSpace()
		for i, p := range ps {
			if !space.Contains(p.Pattern) {
				return fmt.Errorf("pattern file %s entry %d (sites %q): %v is outside the default Transformer search space %+v (--allow-outside-space accepts it)", name, i, p.Sites, p.Pattern, space)
			}
		}
	}
	return nn.SetLMPatterns(sites, ps, "pattern file "+name)
}
