package search

import (
	"encoding/json"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"math"
	"math/rand"
	"os"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
)

// ControllerConfig holds the controller's hyperparameters. Zero fields take
// the defaults of DefaultControllerConfig.
type ControllerConfig struct {
	Hidden        int     `json:"hidden"`         // LSTM width (default 32)
	LR            float64 `json:"lr"`             // Adam step size (default 0.01)
	Beta1         float64 `json:"beta1"`          // Adam (default 0.9)
	Beta2         float64 `json:"beta2"`          // Adam (default 0.999)
	Eps           float64 `json:"eps"`            // Adam (default 1e-8)
	Temperature   float64 `json:"temperature"`    // logits are divided by it (default 1)
	TanhC         float64 `json:"tanh_c"`         // logits squashed to C·tanh(l/C); 0 turns it off (default 2.5)
	EntropyWeight float64 `json:"entropy_weight"` // entropy bonus (default 1e-3)
	BaselineDecay float64 `json:"baseline_decay"` // EMA decay of the baseline (default 0.9)
	ClipNorm      float64 `json:"clip_norm"`      // global gradient-norm clip; 0 off (default 5)
	InitRange     float64 `json:"init_range"`     // weights start uniform in ±init_range (default 0.1)
}

// DefaultControllerConfig returns the documented defaults (those of
// ENAS/NAS controllers, scaled to a small LSTM).
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{Hidden: 32, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		Temperature: 1, TanhC: 2.5, EntropyWeight: 1e-3, BaselineDecay: 0.9, ClipNorm: 5, InitRange: 0.1}
}

func (c ControllerConfig) withDefaults() ControllerConfig {
	d := DefaultControllerConfig()
	set := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Hidden == 0 {
		c.Hidden = d.Hidden
	}
	set(&c.LR, d.LR)
	set(&c.Beta1, d.Beta1)
	set(&c.Beta2, d.Beta2)
	set(&c.Eps, d.Eps)
	set(&c.Temperature, d.Temperature)
	set(&c.TanhC, d.TanhC)
	set(&c.EntropyWeight, d.EntropyWeight)
	set(&c.BaselineDecay, d.BaselineDecay)
	set(&c.ClipNorm, d.ClipNorm)
	set(&c.InitRange, d.InitRange)
	return c
}

// Negative values turn a default-on setting off (tanh_c, entropy_weight,
// clip_norm): JSON cannot tell 0 from absent.
func off(v float64) float64 { return max(v, 0) }

// A Proposal is one sampled set of patterns.
type Proposal struct {
	Patterns json.RawMessage // the pattern file (Space.PatternFile)
	Choices  [][]int         // per site, indexes into Space.Tokens()
	LogProb  float64         // summed log-probability of all choices
	Entropy  float64         // summed entropy of the decisions' distributions
}

// A Controller is an LSTM that emits, for every site in order, the tokens
// of a pattern in Space.Tokens() order. Parameters and Adam moments
// live in Go slices; every forward pass builds leaf tensors from them, so
// libtorch only does the arithmetic and the autograd, and a checkpoint is
// an exact copy of the Go state.
type Controller struct {
	cfg    ControllerConfig
	space  Space
	sites  []string
	tokens []autodropout.Token

	params []*param
	m, v   [][]float64

	Step     int     // updates done
	Baseline float64 // EMA of rewards
	hasBase  bool

	seed  int64
	draws int64
	rng   *rand.Rand
}

type param struct {
	name  string
	shape []int64
	val   []float64
}

// param layout: start [1,H]; per token type: emb_t [n_t,H], head_w_t
// [H,n_t], head_b_t [n_t]; lstm wx [H,4H], wh [H,4H], b [4H].
func (c *Controller) layout() {
	H := int64(c.cfg.Hidden)
	add := func(name string, shape ...int64) {
		n := int64(1)
		for _, s := range shape {
			n *= s
		}
		c.params = append(c.params, &param{name: name, shape: shape, val: make([]float64, n)})
	}
	add("start", 1, H)
	add("lstm.wx", H, 4*H)
	add("lstm.wh", H, 4*H)
	add("lstm.b", 4*H)
	for _, t := range c.tokens {
		n := int64(t.Choices)
		add("emb."+t.Name, n, H)
		add("head."+t.Name+".w", H, n)
		add("head."+t.Name+".b", n)
	}
}

// NewController returns a controller for the given sites of space, with
// weights and sampling seeded from seed.
func NewController(space Space, sites []string, cfg ControllerConfig, seed int64) (*Controller, error) {
	if len(sites) == 0 {
		return nil, fmt.Errorf("new controller: no dropout sites")
	}
	for _, t := range space.Tokens() {
		if t.Choices < 1 {
			return nil, fmt.Errorf("new controller: token %s has no values", t.Name)
		}
	}
	c := &Controller{cfg: cfg.withDefaults(), space: space, sites: sites, tokens: space.Tokens(), seed: seed}
	c.layout()
	init := rand.New(rand.NewSource(seed ^ 0x5eed))
	for _, p := range c.params {
		for i := range p.val {
			p.val[i] = (2*init.Float64() - 1) * c.cfg.InitRange
		}
	}
	c.m, c.v = c.zeros(), c.zeros()
	c.rng = rand.New(rand.NewSource(seed))
	return c, nil
}

func (c *Controller) zeros() [][]float64 {
	z := make([][]float64, len(c.params))
	for i, p := range c.params {
		z[i] = make([]float64, len(p.val))
	}
	return z
}

func (c *Controller) uniform() float64 {
	c.draws++
	return c.rng.Float64()
}

// Sample draws one proposal. The uniforms come from a Go generator seeded
// by the controller's seed, so proposals do not depend on libtorch's
// threads or generator.
func (c *Controller) Sample() (Proposal, error) {
	var p Proposal
	var err error
	if e := libtorch.NoGrad(func() {
		var lp, ent *ts.Tensor
		var ch [][]int
		var leaves []*ts.Tensor
		ch, lp, ent, leaves, err = c.forward(nil, false)
		if err == nil {
			p.Choices, p.LogProb, p.Entropy = ch, lp.Float64Values()[0], ent.Float64Values()[0]
			for _, t := range append(leaves, lp, ent) {
				t.MustDrop()
			}
		}
	}); e != nil {
		return p, e
	}
	if err != nil {
		return p, err
	}
	p.Patterns, err = c.space.PatternFile(c.sites, p.Choices)
	return p, err
}

// forward runs the LSTM over all decisions. With given == nil it samples;
// otherwise it scores the given choices (teacher forcing). It returns the
// choices, the summed log-probability and entropy as scalar tensors, and
// the leaf tensors of the parameters (requiring grad when grad is true).
func (c *Controller) forward(given [][]int, grad bool) (choices [][]int, logp, ent *ts.Tensor, leaves []*ts.Tensor, err error) {
	// gotch frees tensors in finalizers and does not keep an argument
	// alive during its C call, so every intermediate stays referenced in
	// tmp until the end, and is dropped then.
	var tmp []*ts.Tensor
	k := func(t *ts.Tensor) *ts.Tensor { tmp = append(tmp, t); return t }
	defer func() {
		keep := map[*ts.Tensor]bool{logp: true, ent: true}
		for _, l := range leaves {
			keep[l] = true
		}
		for _, t := range tmp {
			if !keep[t] {
				t.MustDrop()
			}
		}
	}()
	leaves = make([]*ts.Tensor, len(c.params))
	for i, p := range c.params {
		t := k(k(ts.MustOfSlice(p.val)).MustView(p.shape, false))
		if grad {
			t = k(t.MustSetRequiresGrad(true, false))
		}
		leaves[i] = t
	}
	H := int64(c.cfg.Hidden)
	start, wx, wh, b := leaves[0], leaves[1], leaves[2], leaves[3]
	x := start
	h := k(ts.MustZeros([]int64{1, H}, gotch.Double, gotch.CPU))
	cell := k(ts.MustZeros([]int64{1, H}, gotch.Double, gotch.CPU))
	logp = k(ts.MustZeros([]int64{1}, gotch.Double, gotch.CPU))
	ent = k(ts.MustZeros([]int64{1}, gotch.Double, gotch.CPU))
	choices = make([][]int, len(c.sites))
	for s := range c.sites {
		if given != nil && len(given[s]) != len(c.tokens) {
			return nil, nil, nil, nil, fmt.Errorf("score: site %d has %d choices, want %d", s, len(given[s]), len(c.tokens))
		}
		choices[s] = make([]int, len(c.tokens))
		for ti, tok := range c.tokens {
			emb, hw, hb := leaves[4+3*ti], leaves[5+3*ti], leaves[6+3*ti]
			gates := k(k(k(x.MustMm(wx, false)).MustAdd(k(h.MustMm(wh, false)), false)).MustAdd(b, false))
			ig := k(k(gates.MustNarrow(1, 0, H, false)).MustSigmoid(false))
			fg := k(k(gates.MustNarrow(1, H, H, false)).MustSigmoid(false))
			gg := k(k(gates.MustNarrow(1, 2*H, H, false)).MustTanh(false))
			og := k(k(gates.MustNarrow(1, 3*H, H, false)).MustSigmoid(false))
			cell = k(k(fg.MustMul(cell, false)).MustAdd(k(ig.MustMul(gg, false)), false))
			h = k(og.MustMul(k(cell.MustTanh(false)), false))
			logits := k(k(k(h.MustMm(hw, false)).MustAdd(hb, false)).MustMulScalar(ts.FloatScalar(1/c.cfg.Temperature), false))
			if C := off(c.cfg.TanhC); C > 0 {
				logits = k(k(k(logits.MustMulScalar(ts.FloatScalar(1/C), false)).MustTanh(false)).MustMulScalar(ts.FloatScalar(C), false))
			}
			lsm := k(k(logits.MustLogSoftmax(1, gotch.Double, false)).MustView([]int64{int64(tok.Choices)}, false))
			var choice int
			if given != nil {
				choice = given[s][ti]
				if choice < 0 || choice >= tok.Choices {
					return nil, nil, nil, nil, fmt.Errorf("score: site %d token %s: choice %d out of range", s, tok.Name, choice)
				}
			} else {
				lv := lsm.Float64Values()
				u, acc := c.uniform(), 0.0
				choice = len(lv) - 1
				for i, l := range lv {
					acc += math.Exp(l)
					if u < acc {
						choice = i
						break
					}
				}
			}
			choices[s][ti] = choice
			logp = k(logp.MustAdd(k(k(lsm.MustNarrow(0, int64(choice), 1, false)).MustSum(gotch.Double, false)), false))
			e := k(k(k(lsm.MustExp(false)).MustMul(lsm, false)).MustSum(gotch.Double, false))
			ent = k(ent.MustSub(e, false))
			x = k(emb.MustNarrow(0, int64(choice), 1, false))
		}
	}
	return choices, logp, ent, leaves, nil
}

// A Scored sample is a proposal's choices and the reward it earned.
type Scored struct {
	Choices [][]int
	Reward  float64
}

// UpdateStats reports one controller update.
type UpdateStats struct {
	Loss, MeanReward, Baseline, GradNorm float64
}

// Update does one REINFORCE step over a batch: loss = mean over samples of
// -(reward - baseline)·logprob - entropy_weight·entropy, where each
// sample's log-probability is recomputed from its stored choices and the
// baseline is the EMA before the batch; then Adam with global-norm
// clipping, then the baseline takes in the batch's rewards in order.
// Call it from one goroutine; it pins that goroutine's thread for grad.
func (c *Controller) Update(batch []Scored) (UpdateStats, error) {
	var st UpdateStats
	if len(batch) == 0 {
		c.Step++
		st.Baseline = c.Baseline
		return st, nil
	}
	if !c.hasBase {
		for _, s := range batch {
			st.MeanReward += s.Reward
		}
		c.Baseline, c.hasBase = st.MeanReward/float64(len(batch)), true
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		return st, err
	}
	defer release()
	grads := c.zeros()
	st.MeanReward = 0
	for _, s := range batch {
		_, lp, ent, leaves, err := c.forward(s.Choices, true)
		if err != nil {
			return st, fmt.Errorf("controller update: %w", err)
		}
		adv := s.Reward - c.Baseline
		n := float64(len(batch))
		a := lp.MustMulScalar(ts.FloatScalar(-adv/n), false)
		e := ent.MustMulScalar(ts.FloatScalar(off(c.cfg.EntropyWeight)/n), false)
		loss := a.MustSub(e, false)
		st.Loss += loss.Float64Values()[0]
		loss.MustBackward()
		for i, l := range leaves {
			g := l.MustGrad(false)
			if g.MustDefined() { // a parameter the pass never used has no gradient
				gv := g.Float64Values()
				for j := range gv {
					grads[i][j] += gv[j]
				}
			}
			g.MustDrop()
			l.MustDrop()
		}
		for _, t := range []*ts.Tensor{loss, a, e, lp, ent} {
			t.MustDrop()
		}
		st.MeanReward += s.Reward / n
	}
	var norm float64
	for _, g := range grads {
		for _, x := range g {
			norm += x * x
		}
	}
	norm = math.Sqrt(norm)
	st.GradNorm = norm
	scale := 1.0
	if cl := off(c.cfg.ClipNorm); cl > 0 && norm > cl {
		scale = cl / norm
	}
	c.Step++
	b1, b2 := c.cfg.Beta1, c.cfg.Beta2
	bc1, bc2 := 1-math.Pow(b1, float64(c.Step)), 1-math.Pow(b2, float64(c.Step))
	for i, p := range c.params {
		for j := range p.val {
			g := grads[i][j] * scale
			c.m[i][j] = b1*c.m[i][j] + (1-b1)*g
			c.v[i][j] = b2*c.v[i][j] + (1-b2)*g*g
			p.val[j] -= c.cfg.LR * (c.m[i][j] / bc1) / (math.Sqrt(c.v[i][j]/bc2) + c.cfg.Eps)
		}
	}
	for _, s := range batch {
		c.Baseline = c.cfg.BaselineDecay*c.Baseline + (1-c.cfg.BaselineDecay)*s.Reward
	}
	st.Baseline = c.Baseline
	return st, nil
}

type checkpoint struct {
	Version  int                  `json:"version"`
	Config   ControllerConfig     `json:"config"`
	Sites    []string             `json:"sites"`
	Step     int                  `json:"step"`
	Baseline float64              `json:"baseline"`
	HasBase  bool                 `json:"has_baseline"`
	Seed     int64                `json:"seed"`
	Draws    int64                `json:"draws"`
	Params   map[string][]float64 `json:"params"`
	AdamM    map[string][]float64 `json:"adam_m"`
	AdamV    map[string][]float64 `json:"adam_v"`
}

// Save writes the whole controller state (weights, Adam moments, baseline,
// step, generator seed and draw count) to path atomically (temp + rename).
// Floats are written by encoding/json, which round-trips float64 exactly.
func (c *Controller) Save(path string) error {
	ck := checkpoint{Version: 1, Config: c.cfg, Sites: c.sites, Step: c.Step, Baseline: c.Baseline, HasBase: c.hasBase,
		Seed: c.seed, Draws: c.draws, Params: map[string][]float64{}, AdamM: map[string][]float64{}, AdamV: map[string][]float64{}}
	for i, p := range c.params {
		ck.Params[p.name], ck.AdamM[p.name], ck.AdamV[p.name] = p.val, c.m[i], c.v[i]
	}
	b, err := json.Marshal(ck)
	if err != nil {
		return fmt.Errorf("save controller: %w", err)
	}
	return atomicfile.Write(path, b)
}

// LoadController restores a controller saved by Save for the same space.
func LoadController(path string, space Space) (*Controller, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load controller: %w", err)
	}
	var ck checkpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return nil, fmt.Errorf("load controller %s: %w", path, err)
	}
	c, err := NewController(space, ck.Sites, ck.Config, ck.Seed)
	if err != nil {
		return nil, fmt.Errorf("load controller %s: %w", path, err)
	}
	for i, p := range c.params {
		v, m, vv := ck.Params[p.name], ck.AdamM[p.name], ck.AdamV[p.name]
		if len(v) != len(p.val) || len(m) != len(p.val) || len(vv) != len(p.val) {
			return nil, fmt.Errorf("load controller %s: parameter %s has the wrong size (different search space?)", path, p.name)
		}
		copy(p.val, v)
		copy(c.m[i], m)
		copy(c.v[i], vv)
	}
	c.Step, c.Baseline, c.hasBase = ck.Step, ck.Baseline, ck.HasBase
	for c.draws < ck.Draws {
		c.uniform()
	}
	return c, nil
}
