package search

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/libtorch"
)

// Controller kinds, the values of ControllerConfig.Kind. An empty kind is
// the LSTM.
const (
	KindLSTM        = "lstm"
	KindTransformer = "transformer"
)

// A Policy is what the search loop needs of a controller: it proposes
// patterns, learns from their rewards, and saves its exact state.
// Controller (the LSTM, the default) and TransformerController implement
// it; NewPolicy and LoadPolicy pick one by ControllerConfig.Kind.
type Policy interface {
	// Sample draws one proposal.
	Sample() (Proposal, error)
	// Update takes one REINFORCE step over a batch of scored proposals.
	Update(batch []Scored) (UpdateStats, error)
	// Save writes the whole state to path atomically; LoadPolicy reads it.
	Save(path string) error
	// Steps is the number of updates done.
	Steps() int
	// MovingBaseline is the reward baseline after the last update.
	MovingBaseline() float64
	// Kind is KindLSTM or KindTransformer.
	Kind() string
}

// kindOf is cfg's controller kind with the empty kind read as the LSTM.
func kindOf(cfg ControllerConfig) string {
	if cfg.Kind == "" {
		return KindLSTM
	}
	return cfg.Kind
}

// NewPolicy returns the controller cfg.Kind names for the given sites of
// space, with weights and sampling seeded from seed.
func NewPolicy(space Space, sites []string, cfg ControllerConfig, seed int64) (Policy, error) {
	p, _, err := newPolicy(space, sites, cfg, seed)
	return p, err
}

func newPolicy(space Space, sites []string, cfg ControllerConfig, seed int64) (Policy, *core, error) {
	switch kindOf(cfg.withDefaults()) {
	case KindLSTM:
		c, err := NewController(space, sites, cfg, seed)
		if err != nil {
			return nil, nil, err
		}
		return c, &c.core, nil
	case KindTransformer:
		c, err := NewTransformerController(space, sites, cfg, seed)
		if err != nil {
			return nil, nil, err
		}
		return c, &c.core, nil
	}
	return nil, nil, fmt.Errorf("new controller: controller.%w", cfg.withDefaults().check())
}

// core is the state both controllers share: parameters and Adam's moments
// in Go slices, the step count, the baseline and the sampling generator.
// Every forward pass builds leaf tensors from the parameters, so libtorch
// only does the arithmetic and the autograd, and a checkpoint is an exact
// copy of the Go state. The network itself (layout and forward pass) is
// the embedding type's.
type core struct {
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
	init  initKind
}

// initKind is how a parameter starts.
type initKind int8

const (
	initUniform initKind = iota // uniform in ±init_range
	initZeros
	initOnes
)

func newCore(space Space, sites []string, cfg ControllerConfig, seed int64) (core, error) {
	if len(sites) == 0 {
		return core{}, fmt.Errorf("new controller: no dropout sites")
	}
	for _, t := range space.Tokens() {
		if t.Choices < 1 {
			return core{}, fmt.Errorf("new controller: token %s has no values", t.Name)
		}
	}
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return core{}, fmt.Errorf("new controller: %w", err)
	}
	return core{cfg: cfg, space: space, sites: sites, tokens: space.Tokens(), seed: seed}, nil
}

// add appends a parameter to the layout and returns its index.
// MovingBaseline is the moving-average reward baseline (Policy).
func (c *core) MovingBaseline() float64 { return c.Baseline }

func (c *core) add(name string, init initKind, shape ...int64) int {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	c.params = append(c.params, &param{name: name, shape: shape, val: make([]float64, n), init: init})
	return len(c.params) - 1
}

// initParams sets the parameters' first values, from a generator seeded by
// seed^0x5eed in layout order, zeroes Adam's moments and seeds sampling.
func (c *core) initParams() {
	init := rand.New(rand.NewSource(c.seed ^ 0x5eed))
	for _, p := range c.params {
		for i := range p.val {
			switch p.init {
			case initUniform:
				p.val[i] = (2*init.Float64() - 1) * c.cfg.InitRange
			case initOnes:
				p.val[i] = 1
			}
		}
	}
	c.m, c.v = c.zeros(), c.zeros()
	c.rng = rand.New(rand.NewSource(c.seed))
}

func (c *core) zeros() [][]float64 {
	z := make([][]float64, len(c.params))
	for i, p := range c.params {
		z[i] = make([]float64, len(p.val))
	}
	return z
}

func (c *core) uniform() float64 {
	c.draws++
	return c.rng.Float64()
}

// A forwardFunc runs a controller over all decisions of a proposal. With
// given == nil it samples; otherwise it scores the given choices (teacher
// forcing). It returns the choices, the summed log-probability and entropy
// as scalar tensors, and the leaf tensors of the parameters (requiring
// grad when grad is true); the caller drops the tensors.
type forwardFunc func(given [][]int, grad bool) (choices [][]int, logp, ent *ts.Tensor, leaves []*ts.Tensor, err error)

// A pass is one forward pass in the making: the parameters' leaf
// tensors, the choices so far, the running log-probability and entropy,
// and every intermediate tensor.
//
// Every intermediate stays referenced (keep) until the pass ends and is
// dropped then, which frees its memory at once instead of leaving it to
// gotch's finalizers.
type pass struct {
	c         *core
	given     [][]int
	choices   [][]int
	leaves    []*ts.Tensor
	logp, ent *ts.Tensor
	tmp       []*ts.Tensor
}

// begin checks given (nil: sample) and starts a pass.
func (c *core) begin(given [][]int, grad bool) (*pass, error) {
	if given != nil {
		if len(given) != len(c.sites) {
			return nil, fmt.Errorf("score: %d choice lists for %d sites", len(given), len(c.sites))
		}
		for s := range given {
			if len(given[s]) != len(c.tokens) {
				return nil, fmt.Errorf("score: site %d has %d choices, want %d", s, len(given[s]), len(c.tokens))
			}
			for ti, tok := range c.tokens {
				if ch := given[s][ti]; ch < 0 || ch >= tok.Choices {
					return nil, fmt.Errorf("score: site %d token %s: choice %d out of range", s, tok.Name, ch)
				}
			}
		}
	}
	p := &pass{c: c, given: given, choices: make([][]int, len(c.sites)), leaves: make([]*ts.Tensor, len(c.params))}
	for s := range p.choices {
		p.choices[s] = make([]int, len(c.tokens))
	}
	for i, pr := range c.params {
		t := p.keep(p.keep(ts.MustOfSlice(pr.val)).MustView(pr.shape, false))
		if grad {
			t = p.keep(t.MustSetRequiresGrad(true, false))
		}
		p.leaves[i] = t
	}
	p.logp = p.keep(ts.MustZeros([]int64{1}, gotch.Double, gotch.CPU))
	p.ent = p.keep(ts.MustZeros([]int64{1}, gotch.Double, gotch.CPU))
	return p, nil
}

// keep holds t until the pass ends and returns it.
func (p *pass) keep(t *ts.Tensor) *ts.Tensor {
	p.tmp = append(p.tmp, t)
	return t
}

// decide makes decision (site s, token ti) from the network's output h
// [1,H] and the token's softmax head (w [H,n], b [n]): logits divided by
// the temperature, squashed to C·tanh(logits/C), a log-softmax; then it
// samples a choice by inverting the CDF with a uniform from the Go
// generator (or takes the given one), and adds the choice's
// log-probability and the distribution's entropy to the pass's sums.
func (p *pass) decide(s, ti int, h, w, b *ts.Tensor) int {
	c := p.c
	k := p.keep
	logits := k(k(k(h.MustMm(w, false)).MustAdd(b, false)).MustMulScalar(ts.FloatScalar(1/c.cfg.Temperature), false))
	if C := off(c.cfg.TanhC); C > 0 {
		logits = k(k(k(logits.MustMulScalar(ts.FloatScalar(1/C), false)).MustTanh(false)).MustMulScalar(ts.FloatScalar(C), false))
	}
	lsm := k(k(logits.MustLogSoftmax(1, gotch.Double, false)).MustView([]int64{int64(c.tokens[ti].Choices)}, false))
	var choice int
	if p.given != nil {
		choice = p.given[s][ti]
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
	p.choices[s][ti] = choice
	p.logp = k(p.logp.MustAdd(k(k(lsm.MustNarrow(0, int64(choice), 1, false)).MustSum(gotch.Double, false)), false))
	e := k(k(k(lsm.MustExp(false)).MustMul(lsm, false)).MustSum(gotch.Double, false))
	p.ent = k(p.ent.MustSub(e, false))
	return choice
}

// end drops the intermediates and returns what a forwardFunc returns.
func (p *pass) end() ([][]int, *ts.Tensor, *ts.Tensor, []*ts.Tensor, error) {
	keep := map[*ts.Tensor]bool{p.logp: true, p.ent: true}
	for _, l := range p.leaves {
		keep[l] = true
	}
	for _, t := range p.tmp {
		if !keep[t] {
			t.MustDrop()
		}
	}
	return p.choices, p.logp, p.ent, p.leaves, nil
}

// sample draws one proposal with forward. The uniforms come from a Go
// generator seeded by the controller's seed, so proposals do not depend
// on libtorch's threads or generator.
func (c *core) sample(forward forwardFunc) (Proposal, error) {
	var p Proposal
	var err error
	if e := libtorch.NoGrad(func() {
		var lp, ent *ts.Tensor
		var ch [][]int
		var leaves []*ts.Tensor
		ch, lp, ent, leaves, err = forward(nil, false)
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

// update does one REINFORCE step over a batch: loss = mean over samples of
// -(reward - baseline)·logprob - entropy_weight·entropy, where each
// sample's log-probability is recomputed from its stored choices by
// forward and the baseline is the EMA before the batch; then Adam with
// global-norm clipping, then the baseline takes in the batch's rewards in
// order. Call it from one goroutine; it pins that goroutine's thread for
// grad.
func (c *core) update(batch []Scored, forward forwardFunc) (UpdateStats, error) {
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
		_, lp, ent, leaves, err := forward(s.Choices, true)
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
	Kind     string               `json:"kind,omitempty"` // absent: lstm (checkpoints before the Transformer)
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

// save writes the whole controller state (its kind, weights, Adam
// moments, baseline, step, generator seed and draw count) to path
// atomically (temp + rename). Floats are written by encoding/json, which
// round-trips float64 exactly.
func (c *core) save(path string) error {
	ck := checkpoint{Version: 1, Kind: kindOf(c.cfg), Config: c.cfg, Sites: c.sites, Step: c.Step, Baseline: c.Baseline, HasBase: c.hasBase,
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

// LoadPolicy restores a controller saved by Save for the same space. kind
// is the kind the caller expects (ControllerConfig.Kind; empty: the LSTM);
// a checkpoint of another kind is refused.
func LoadPolicy(path string, space Space, kind string) (Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load controller: %w", err)
	}
	var ck checkpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		return nil, fmt.Errorf("load controller %s: %w", path, err)
	}
	got := ck.Kind
	if got == "" {
		got = KindLSTM
	}
	if want := kindOf(ControllerConfig{Kind: kind}.withDefaults()); got != want {
		return nil, fmt.Errorf("load controller %s: it holds a controller of kind %s, and controller.kind asks for %s (start the search in a new folder)", path, got, want)
	}
	if k := kindOf(ck.Config); k != got {
		return nil, fmt.Errorf("load controller %s: kind %s, but its config says %s", path, got, k)
	}
	p, c, err := newPolicy(space, ck.Sites, ck.Config, ck.Seed)
	if err != nil {
		return nil, fmt.Errorf("load controller %s: %w", path, err)
	}
	for i, pr := range c.params {
		v, m, vv := ck.Params[pr.name], ck.AdamM[pr.name], ck.AdamV[pr.name]
		if len(v) != len(pr.val) || len(m) != len(pr.val) || len(vv) != len(pr.val) {
			return nil, fmt.Errorf("load controller %s: parameter %s has the wrong size (different search space?)", path, pr.name)
		}
		copy(pr.val, v)
		copy(c.m[i], m)
		copy(c.v[i], vv)
	}
	c.Step, c.Baseline, c.hasBase = ck.Step, ck.Baseline, ck.HasBase
	for c.draws < ck.Draws {
		c.uniform()
	}
	return p, nil
}
