package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// LM is a language model with segment-level memory, such as
// nn.TransformerXL: ForwardMem maps B×L token ids and per-layer memories
// to B×L×V logits and the next memories (detached).
type LM interface {
	ForwardMem(x *ts.Tensor, mems []*ts.Tensor, train bool) (*ts.Tensor, []*ts.Tensor)
}

// LMConfig sets up a language-model training run.
type LMConfig struct {
	Optimizer string  // "adam" (default) or "sgd"
	LR        float64 // peak learning rate, cosine-annealed to 0 over Steps
	Clip      float64 // max global gradient norm (0: none)
	Steps     int     // optimizer steps (segments); the stream restarts at its beginning when it runs out
	Duration  time.Duration
	BatchSize int64 // training streams
	EvalBatch int64 // evaluation streams (default 10)
	TgtLen    int64 // segment length
	Device    gotch.Device
	Precision libtorch.Precision // as Config.Precision
	Progress  io.Writer
	Every     time.Duration
	// Seed reseeds libtorch's generators before every step (StepSeed), so
	// the masks of step s depend on Seed and s only: a run continued from
	// a state draws the same masks as one that never stopped.
	Seed int64
	// StopStep, when in [1, Steps), ends the run after that many steps of
	// the Steps schedule (the learning rate follows the Steps-long
	// cosine): a rung of successive halving. The validation split is
	// evaluated then, the test split is not.
	StopStep int
	// Resume continues the run from a state saved after step Resume.Steps
	// (the caller has checked its identity). Nil: from the model's
	// initialization.
	Resume *State
	// SaveState, when set, receives the state after the last step this
	// call trains (the caller owns it), so that a later call with Resume
	// continues as if the run had never stopped.
	SaveState func(*State) error
	// CurveEvery, when positive, evaluates the validation split and as
	// many tokens from the start of the training split (in evaluation
	// mode, so without the regularizer) after every CurveEvery steps and
	// after the last, recording LMResult.Curve: over-fitting shows as the
	// validation perplexity rising while the training perplexity falls.
	// The evaluations draw no random numbers, so the training is the same
	// with and without them. A resumed run's curve starts at the resume.
	CurveEvery int
}

// LMPoint is one evaluation of a learning curve (LMConfig.CurveEvery).
type LMPoint struct {
	Step     int     `json:"step"`
	TrainPPL float64 `json:"train_ppl"` // on the first len(Valid) training tokens, evaluation mode
	ValPPL   float64 `json:"val_ppl"`
}

// StepSeed is the seed of libtorch's generators during step s (from 0)
// of a language-model run seeded with seed.
func StepSeed(seed int64, s int) int64 { return EpochSeed(seed, s) }

// LMResult summarises a run. Perplexities are exp(mean token cross-entropy).
type LMResult struct {
	TrainLoss  float64 `json:"train_loss"` // mean over the last 100 steps
	ValPPL     float64 `json:"val_ppl"`
	TestPPL    float64 `json:"test_ppl,omitempty"` // absent when the test split was not evaluated
	Steps      int     `json:"steps"`
	Tokens     int64   `json:"tokens"`
	WallS      float64 `json:"wall_s"`
	TrainS     float64 `json:"train_s"`
	TokensPerS float64 `json:"tokens_per_s"` // training tokens per second
	Params     int64   `json:"params"`
	Precision  string  `json:"precision"` // the precision used: fp32, bf16 or fp16
	// Curve is the learning curve, with LMConfig.CurveEvery.
	Curve []LMPoint `json:"curve,omitempty"`
}

// TrainLM trains model on c.Train and evaluates on c.Valid and c.Test.
// The memory is carried from each segment to the next and reset when the
// training stream wraps around. A NaN or infinite loss is ErrDiverged.
// The splits are checked first (CheckSplits), so a split too short for
// its streams is an error before any training, not after it. An empty
// c.Test is not evaluated (TestPPL stays 0 and is left out of the JSON);
// c.Valid must not be empty.
func TrainLM(ctx context.Context, vs *gnn.VarStore, model LM, c *data.Corpus, cfg LMConfig) (*LMResult, error) {
	cfg, stop, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if err := CheckSplits(c, cfg); err != nil {
		return nil, err
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := newLMRun(vs, model, c, cfg)
	if err != nil {
		return nil, err
	}
	defer r.drop()
	if err := r.train(ctx, stop, c); err != nil {
		return nil, err
	}
	if err := r.save(); err != nil {
		return nil, err
	}
	if stop < cfg.Steps {
		c = &data.Corpus{Name: c.Name, Vocab: c.Vocab, Train: c.Train, Valid: c.Valid} // a rung: no test
	}
	res := r.res
	res.TrainS = r.trainTime()
	res.TokensPerS = float64(res.Tokens-r.firstTokens) / res.TrainS
	res.TrainLoss = mean(r.recent)
	r.dropMems()
	if err := r.evaluate(c); err != nil {
		return nil, err
	}
	res.WallS = time.Since(r.start).Seconds()
	if cfg.Progress != nil {
		test := "test ppl not evaluated"
		if len(c.Test) > 0 {
			test = fmt.Sprintf("test ppl %.2f", res.TestPPL)
		}
		fmt.Fprintf(cfg.Progress, "  done: %d steps, %.0f tokens/s, val ppl %.2f, %s\n", res.Steps, res.TokensPerS, res.ValPPL, test)
	}
	return res, nil
}

// check checks cfg and fills its defaults; stop is the number of steps
// this call trains to (StopStep for a rung, else Steps).
func (cfg LMConfig) check() (_ LMConfig, stop int, _ error) {
	if cfg.TgtLen < 1 || cfg.BatchSize < 1 || (cfg.Steps < 1 && cfg.Duration <= 0) {
		return cfg, 0, fmt.Errorf("lm training: want tgt_len, batch size ≥ 1 and steps or a duration")
	}
	stop = cfg.Steps
	if cfg.StopStep > 0 && cfg.StopStep < cfg.Steps {
		stop = cfg.StopStep
	}
	if (cfg.StopStep > 0 || cfg.Resume != nil || cfg.SaveState != nil) && (cfg.Steps < 1 || cfg.Duration > 0) {
		return cfg, 0, fmt.Errorf("lm training: stopping at a step, saving and resuming want a number of steps and no duration (a duration ends at an unknown step)")
	}
	if r := cfg.Resume; r != nil && (r.Steps < 1 || r.Steps >= stop) {
		return cfg, 0, fmt.Errorf("resume after step %d of a run that stops after step %d", r.Steps, stop)
	}
	if cfg.EvalBatch < 1 {
		cfg.EvalBatch = 10
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	return cfg, stop, nil
}

// lmRun is one call of TrainLM: the model, its optimizer and the state of
// the training stream that its phases (train, save, evaluate) share.
type lmRun struct {
	vs     *gnn.VarStore
	model  LM
	cfg    LMConfig
	amp    *AMP
	opt    Optimizer
	tr     *data.Streams
	nseg   int // training segments in the stream
	res    *LMResult
	mems   []*ts.Tensor // the memories carried to the next segment
	recent []float64    // the last 100 steps' losses
	seg    int          // the next training segment
	start  time.Time
	// firstTokens is the tokens trained before this call (a resume's):
	// the pace counts this call's only.
	firstTokens int64
	// curveTime is the time the learning curve's evaluations took, which
	// the training time leaves out.
	curveTime time.Duration
}

// trainTime is the time this call has trained, without the curve's
// evaluations.
func (r *lmRun) trainTime() float64 { return (time.Since(r.start) - r.curveTime).Seconds() }

// newLMRun sets up the precision, the training stream and the optimizer,
// and applies cfg.Resume.
func newLMRun(vs *gnn.VarStore, model LM, c *data.Corpus, cfg LMConfig) (*lmRun, error) {
	r := &lmRun{vs: vs, model: model, cfg: cfg, start: time.Now()}
	var err error
	if r.amp, err = NewAMP(cfg.Precision, vs); err != nil {
		return nil, err
	}
	if r.tr, err = data.NewStreams(c.Train, cfg.BatchSize); err != nil {
		return nil, fmt.Errorf("train split: %w", err)
	}
	if r.opt, err = LMOptimizer(vs, cfg.Optimizer, cfg.LR); err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	r.res = &LMResult{Params: CountParams(vs), Precision: r.amp.String()}
	r.nseg = r.tr.Segments(cfg.TgtLen)
	if s := cfg.Resume; s != nil {
		if r.mems, err = applyLMState(vs, r.opt, s, r.amp); err != nil {
			r.drop()
			return nil, fmt.Errorf("resume: %w", err)
		}
		r.res.Steps, r.res.Tokens, r.seg, r.recent = s.Steps, s.Examples, s.Segment, append([]float64(nil), s.Recent...)
	}
	r.firstTokens = r.res.Tokens
	return r, nil
}

// drop frees the memories and the optimizer's moments.
func (r *lmRun) drop() {
	r.dropMems()
	if a, ok := r.opt.(*Adam); ok {
		a.Drop()
	}
}

func (r *lmRun) dropMems() {
	for _, m := range r.mems {
		m.MustDrop()
	}
	r.mems = nil
}

// train runs steps until stop (or cfg.Duration), printing progress and
// evaluating the learning curve on c.
func (r *lmRun) train(ctx context.Context, stop int, c *data.Corpus) error {
	cfg, res := r.cfg, r.res
	last := time.Now()
	for {
		if (cfg.Steps > 0 && res.Steps >= stop) || (cfg.Duration > 0 && time.Since(r.start) >= cfg.Duration) {
			if n := len(res.Curve); cfg.CurveEvery > 0 && (n == 0 || res.Curve[n-1].Step != res.Steps) {
				return r.curvePoint(c)
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.step(); err != nil {
			return err
		}
		if cfg.CurveEvery > 0 && res.Steps%cfg.CurveEvery == 0 {
			if err := r.curvePoint(c); err != nil {
				return err
			}
		}
		if cfg.Progress != nil && time.Since(last) >= cfg.Every {
			last = time.Now()
			fmt.Fprintf(cfg.Progress, "  step %d  loss %.3f  ppl %.1f  %.0f tokens/s  elapsed %.0fs\n",
				res.Steps, mean(r.recent), math.Exp(mean(r.recent)), float64(res.Tokens-r.firstTokens)/r.trainTime(), time.Since(r.start).Seconds())
		}
	}
}

// step trains on the next segment (the stream's first again, with fresh
// memories, after its last) at the cosine schedule's learning rate, with
// libtorch's generators seeded for the step.
func (r *lmRun) step() error {
	cfg, res := r.cfg, r.res
	if r.seg >= r.nseg {
		r.seg = 0
		r.dropMems()
	}
	if cfg.Steps > 0 {
		r.opt.SetLR(cfg.LR * 0.5 * (1 + math.Cos(math.Pi*float64(res.Steps)/float64(cfg.Steps))))
	}
	if err := libtorch.ManualSeed(StepSeed(cfg.Seed, res.Steps)); err != nil {
		return err
	}
	x, y, err := r.tr.SegmentTensors(r.seg, cfg.TgtLen, cfg.Device)
	if err != nil {
		return err
	}
	v, next, err := LMStepAMP(r.vs, r.opt, r.model, x, y, r.mems, cfg.Clip, r.amp)
	r.mems = next
	n := y.Numel()
	x.MustDrop()
	y.MustDrop()
	if err != nil {
		return fmt.Errorf("step %d: %w", res.Steps+1, err)
	}
	r.seg++
	res.Steps++
	res.Tokens += int64(n)
	r.recent = append(r.recent, v)
	if len(r.recent) > 100 {
		r.recent = r.recent[1:]
	}
	return nil
}

// curvePoint evaluates the validation split and the start of the
// training split and appends the point to the result's curve.
func (r *lmRun) curvePoint(c *data.Corpus) error {
	defer func(t time.Time) { r.curveTime += time.Since(t) }(time.Now())
	cfg := r.cfg
	exit, err := r.amp.Autocast()
	if err != nil {
		return err
	}
	defer exit()
	p := LMPoint{Step: r.res.Steps}
	if p.ValPPL, err = Perplexity(r.model, c.Valid, cfg.EvalBatch, cfg.TgtLen, cfg.Device); err != nil {
		return fmt.Errorf("curve at step %d: validation: %w", p.Step, err)
	}
	head := c.Train[:min(len(c.Train), len(c.Valid))]
	if p.TrainPPL, err = Perplexity(r.model, head, cfg.EvalBatch, cfg.TgtLen, cfg.Device); err != nil {
		return fmt.Errorf("curve at step %d: training: %w", p.Step, err)
	}
	r.res.Curve = append(r.res.Curve, p)
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "  curve: step %d  train ppl %.2f  val ppl %.2f\n", p.Step, p.TrainPPL, p.ValPPL)
	}
	return exit()
}

// save gives cfg.SaveState, when set, the state after the last step.
func (r *lmRun) save() error {
	if r.cfg.SaveState == nil {
		return nil
	}
	st, err := captureLMState(r.vs, r.opt, r.mems, r.amp)
	if err != nil {
		return fmt.Errorf("state after step %d: %w", r.res.Steps, err)
	}
	st.Steps, st.Examples, st.Segment, st.Recent = r.res.Steps, r.res.Tokens, r.seg, append([]float64(nil), r.recent...)
	return r.cfg.SaveState(st)
}

// evaluate measures the perplexity of c's validation and test splits
// (those not empty) under the run's precision.
func (r *lmRun) evaluate(c *data.Corpus) error {
	cfg, res := r.cfg, r.res
	exit, err := r.amp.Autocast()
	if err != nil {
		return err
	}
	defer exit()
	if len(c.Valid) > 0 {
		if res.ValPPL, err = Perplexity(r.model, c.Valid, cfg.EvalBatch, cfg.TgtLen, cfg.Device); err != nil {
			return fmt.Errorf("validation: %w", err)
		}
	}
	if len(c.Test) > 0 {
		if res.TestPPL, err = Perplexity(r.model, c.Test, cfg.EvalBatch, cfg.TgtLen, cfg.Device); err != nil {
			return fmt.Errorf("test: %w", err)
		}
	}
	return exit()
}

// CheckSplits reports whether c's splits are long enough for cfg: the
// training split must fill cfg.BatchSize streams, and the validation split
// (required) and test split (when not empty) cfg.EvalBatch streams (10
// when unset), with at least 2 tokens a stream (one prediction). The error
// names the split and its size.
func CheckSplits(c *data.Corpus, cfg LMConfig) error {
	if cfg.EvalBatch < 1 {
		cfg.EvalBatch = 10
	}
	splits := []struct {
		name     string
		ids      []int64
		streams  int64
		optional bool
	}{
		{"training", c.Train, cfg.BatchSize, false},
		{"validation", c.Valid, cfg.EvalBatch, false},
		{"test", c.Test, cfg.EvalBatch, true},
	}
	for _, s := range splits {
		if len(s.ids) == 0 && s.optional {
			continue
		}
		if len(s.ids) == 0 {
			return fmt.Errorf("%s split of %s is empty", s.name, corpusName(c))
		}
		if int64(len(s.ids)) < 2*s.streams {
			return fmt.Errorf("%s split of %s has %d tokens, too few for %d streams of at least 2 tokens (want ≥ %d tokens or a smaller batch)",
				s.name, corpusName(c), len(s.ids), s.streams, 2*s.streams)
		}
	}
	return nil
}

func corpusName(c *data.Corpus) string {
	if c.Name == "" {
		return "the corpus"
	}
	return c.Name
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// LMLoss is the mean token cross-entropy of B×L×V logits against B×L
// targets.
func LMLoss(logits, y *ts.Tensor) (*ts.Tensor, error) {
	sz, err := logits.Size()
	if err != nil {
		return nil, err
	}
	flat, err := logits.View([]int64{-1, sz[len(sz)-1]}, false)
	if err != nil {
		return nil, err
	}
	defer flat.MustDrop()
	yf, err := y.View([]int64{-1}, false)
	if err != nil {
		return nil, err
	}
	defer yf.MustDrop()
	return crossEntropy(flat, yf)
}

// Perplexity evaluates model without gradients and without dropout on ids
// laid out in b streams, carrying the memory across segments, and returns
// exp of the mean cross-entropy over every predicted token.
func Perplexity(model LM, ids []int64, b, tgtLen int64, dev gotch.Device) (float64, error) {
	st, err := data.NewStreams(ids, b)
	if err != nil {
		return 0, err
	}
	var sum float64
	var n int64
	var mems []*ts.Tensor
	ngErr := libtorch.NoGrad(func() {
		for seg := 0; seg < st.Segments(tgtLen); seg++ {
			var x, y *ts.Tensor
			if x, y, err = st.SegmentTensors(seg, tgtLen, dev); err != nil {
				return
			}
			logits, next := model.ForwardMem(x, mems, false)
			for _, m := range mems {
				m.MustDrop()
			}
			mems = next
			var loss *ts.Tensor
			loss, err = LMLoss(logits, y)
			logits.MustDrop()
			x.MustDrop()
			if err != nil {
				y.MustDrop()
				return
			}
			var v float64
			v, err = loss.Float64Value([]int64{})
			loss.MustDrop()
			if err != nil {
				y.MustDrop()
				return
			}
			k := int64(y.Numel())
			y.MustDrop()
			sum += v * float64(k)
			n += k
		}
	})
	for _, m := range mems {
		m.MustDrop()
	}
	if err == nil {
		err = ngErr
	}
	if err != nil {
		return 0, err
	}
	ppl := math.Exp(sum / float64(n))
	if math.IsNaN(ppl) {
		return 0, fmt.Errorf("%w: perplexity is NaN", ErrDiverged)
	}
	return ppl, nil
}

// clipGradNorm scales all gradients so that their global L2 norm is at
// most max (as torch.nn.utils.clip_grad_norm_).
func clipGradNorm(vs *gnn.VarStore, max float64) error {
	var grads []*ts.Tensor
	total := 0.0
	for _, v := range vs.TrainableVariables() {
		g, err := v.Grad(false)
		if err != nil {
			return err
		}
		if !g.MustDefined() {
			g.MustDrop()
			continue
		}
		sq, err := g.Square(false)
		if err != nil {
			return err
		}
		s, err := sq.Sum(gotch.Double, true)
		if err != nil {
			return err
		}
		total += s.Float64Values(true)[0]
		grads = append(grads, g)
	}
	norm := math.Sqrt(total)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("%w: gradient norm is %v", ErrDiverged, norm)
	}
	coef := max / (norm + 1e-6)
	for _, g := range grads {
		if coef < 1 {
			// Not gotch's MulScalar_: it leaks the handle it replaces.
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("scale gradient: %v", r)
					}
				}()
				scaleInPlace(g, coef)
			}()
			if err != nil {
				return err
			}
		}
		g.MustDrop()
	}
	return nil
}

// LMOptimizer builds a language model's optimizer by name: "adam" (also
// "", Adam) or "sgd" (plain, as the Transformer-XL recipes use it, with no
// state to save). An *Adam holds its moments until its Drop.
func LMOptimizer(vs *gnn.VarStore, name string, lr float64) (Optimizer, error) {
	if err := checkOptimizer(lr, 0, 0); err != nil {
		return nil, err
	}
	switch name {
	case "", "adam":
		return NewAdam(vs, lr)
	case "sgd":
		return gnn.NewSGDConfig(0, 0, 0, false).Build(vs, lr)
	}
	return nil, fmt.Errorf("unknown optimizer %q (want adam or sgd)", name)
}
