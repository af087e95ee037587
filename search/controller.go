package search

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// ControllerConfig holds the controller's hyperparameters. Zero fields take
// the defaults of DefaultControllerConfig.
type ControllerConfig struct {
	Kind          string  `json:"kind,omitempty"` // "lstm" (the default; stored as "") or "transformer"
	Hidden        int     `json:"hidden"`         // LSTM width (default 32); lstm only
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

	// The Transformer's shape (kind "transformer" only).
	Layers int `json:"layers,omitempty"` // blocks of attention + MLP (default 2)
	Heads  int `json:"heads,omitempty"`  // attention heads, a divisor of width (default 2)
	Width  int `json:"width,omitempty"`  // model width (default 32)
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
	if c.Kind == KindLSTM {
		c.Kind = "" // "lstm" and "" are the same search (and config hash)
	}
	if c.Kind == KindTransformer {
		c.Layers = cmp.Or(c.Layers, 2)
		c.Heads = cmp.Or(c.Heads, 2)
		c.Width = cmp.Or(c.Width, 32)
	} else if c.Hidden == 0 {
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
// an exact copy of the Go state. It is the default Policy.
type Controller struct {
	core
}

// param layout: start [1,H]; lstm wx [H,4H], wh [H,4H], b [4H]; per token
// type: emb_t [n_t,H], head_w_t [H,n_t], head_b_t [n_t]. All start
// uniform in ±init_range.
func (c *Controller) layout() {
	H := int64(c.cfg.Hidden)
	c.add("start", initUniform, 1, H)
	c.add("lstm.wx", initUniform, H, 4*H)
	c.add("lstm.wh", initUniform, H, 4*H)
	c.add("lstm.b", initUniform, 4*H)
	for _, t := range c.tokens {
		n := int64(t.Choices)
		c.add("emb."+t.Name, initUniform, n, H)
		c.add("head."+t.Name+".w", initUniform, H, n)
		c.add("head."+t.Name+".b", initUniform, n)
	}
}

// NewController returns an LSTM controller for the given sites of space,
// with weights and sampling seeded from seed. cfg.Kind must be empty or
// "lstm" (NewPolicy picks the controller by kind).
func NewController(space Space, sites []string, cfg ControllerConfig, seed int64) (*Controller, error) {
	if k := kindOf(cfg); k != KindLSTM {
		return nil, fmt.Errorf("new controller: controller.kind is %s; NewController makes the LSTM (use NewPolicy)", k)
	}
	cr, err := newCore(space, sites, cfg, seed)
	if err != nil {
		return nil, err
	}
	c := &Controller{cr}
	c.layout()
	c.initParams()
	return c, nil
}

// Sample draws one proposal. The uniforms come from a Go generator seeded
// by the controller's seed, so proposals do not depend on libtorch's
// threads or generator.
func (c *Controller) Sample() (Proposal, error) { return c.sample(c.forward) }

// Update does one REINFORCE step over a batch (see the package doc).
// Call it from one goroutine; it pins that goroutine's thread for grad.
func (c *Controller) Update(batch []Scored) (UpdateStats, error) { return c.update(batch, c.forward) }

// Save writes the whole controller state (weights, Adam moments, baseline,
// step, generator seed and draw count) to path atomically (temp + rename).
// Floats are written by encoding/json, which round-trips float64 exactly.
func (c *Controller) Save(path string) error { return c.save(path) }

// Steps is the number of updates done.
func (c *Controller) Steps() int { return c.Step }

// Kind is KindLSTM.
func (c *Controller) Kind() string { return KindLSTM }

// forward runs the LSTM over all decisions (see forwardFunc).
func (c *Controller) forward(given [][]int, grad bool) (choices [][]int, logp, ent *ts.Tensor, leaves []*ts.Tensor, err error) {
	p, err := c.begin(given, grad)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	k := p.keep
	H := int64(c.cfg.Hidden)
	start, wx, wh, b := p.leaves[0], p.leaves[1], p.leaves[2], p.leaves[3]
	x := start
	h := k(ts.MustZeros([]int64{1, H}, gotch.Double, gotch.CPU))
	cell := k(ts.MustZeros([]int64{1, H}, gotch.Double, gotch.CPU))
	for s := range c.sites {
		for ti := range c.tokens {
			emb, hw, hb := p.leaves[4+3*ti], p.leaves[5+3*ti], p.leaves[6+3*ti]
			gates := k(k(k(x.MustMm(wx, false)).MustAdd(k(h.MustMm(wh, false)), false)).MustAdd(b, false))
			ig := k(k(gates.MustNarrow(1, 0, H, false)).MustSigmoid(false))
			fg := k(k(gates.MustNarrow(1, H, H, false)).MustSigmoid(false))
			gg := k(k(gates.MustNarrow(1, 2*H, H, false)).MustTanh(false))
			og := k(k(gates.MustNarrow(1, 3*H, H, false)).MustSigmoid(false))
			cell = k(k(fg.MustMul(cell, false)).MustAdd(k(ig.MustMul(gg, false)), false))
			h = k(og.MustMul(k(cell.MustTanh(false)), false))
			choice := p.decide(s, ti, h, hw, hb)
			x = k(emb.MustNarrow(0, int64(choice), 1, false))
		}
	}
	return p.end()
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

// LoadController restores an LSTM controller saved by Save for the same
// space; LoadPolicy reads either kind.
func LoadController(path string, space Space) (*Controller, error) {
	p, err := LoadPolicy(path, space, KindLSTM)
	if err != nil {
		return nil, err
	}
	return p.(*Controller), nil
}
