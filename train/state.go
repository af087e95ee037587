package train

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// State is a training run stopped between epochs (Classifier) or steps
// (TrainLM): everything needed to continue it as if it had never stopped.
// Its tensors (the model's variables, SGD's momentum buffers, Adam's
// moments, a language model's memories) are copies, owned by the State.
type State struct {
	// Identity names the run the state belongs to (seed, epochs planned,
	// a hash of the training flags and pattern …); a resume compares it
	// key by key and refuses a mismatch.
	Identity map[string]string `json:"identity"`
	Epochs   int               `json:"epochs_done"`
	Steps    int               `json:"steps_done"`
	Examples int64             `json:"examples"` // training examples seen (tokens for a language model)
	// LossScale and ScaleGood are the float16 loss scaler's state (zero
	// without one).
	LossScale float64 `json:"loss_scale,omitempty"`
	ScaleGood int     `json:"loss_scale_good,omitempty"`

	// A language model's place in its training stream (the next
	// segment), its last losses (the window of LMResult.TrainLoss) and
	// Adam's step count per trainable variable.
	Segment   int            `json:"segment,omitempty"`
	Recent    []float64      `json:"recent_losses,omitempty"`
	AdamSteps map[string]int `json:"adam_steps,omitempty"`

	Vars     map[string]*ts.Tensor `json:"-"` // by VarStore name
	Momentum map[string]*ts.Tensor `json:"-"` // by trainable variable name
	AdamM    map[string]*ts.Tensor `json:"-"` // Adam's first moments, by trainable variable name
	AdamV    map[string]*ts.Tensor `json:"-"` // Adam's second moments
	// RMSMeanSquare is RMSProp's mean square, by trainable variable name
	// (its momentum is in Momentum).
	RMSMeanSquare map[string]*ts.Tensor `json:"-"`
	Mems          []*ts.Tensor          `json:"-"` // a language model's memories, by layer
}

// tensorGroups are the State's named tensor maps, by their prefix in the
// archive.
func (s *State) tensorGroups() []struct {
	prefix string
	m      *map[string]*ts.Tensor
} {
	return []struct {
		prefix string
		m      *map[string]*ts.Tensor
	}{{"var/", &s.Vars}, {"momentum/", &s.Momentum}, {"adam_m/", &s.AdamM}, {"adam_v/", &s.AdamV}, {"rms_ms/", &s.RMSMeanSquare}}
}

// memPrefix names a memory in the archive: mem/000, mem/001, …
const memPrefix = "mem/"

// stateMagic starts every state file: a text line, then the JSON header,
// then libtorch's tensor archive.
const stateMagic = "autodropout train state v1\n"

// Save writes the state to path atomically.
func (s *State) Save(path string) error {
	var names []string
	var tensors []*ts.Tensor
	for _, group := range s.tensorGroups() {
		for _, k := range sortedKeys(*group.m) {
			names = append(names, group.prefix+k)
			tensors = append(tensors, (*group.m)[k])
		}
	}
	for i, m := range s.Mems {
		names = append(names, fmt.Sprintf("%s%03d", memPrefix, i))
		tensors = append(tensors, m)
	}
	archive, err := libtorch.EncodeTensors(names, tensors)
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	head, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	var b bytes.Buffer
	b.WriteString(stateMagic)
	b.Write(head)
	b.WriteByte('\n')
	b.Write(archive)
	if err := atomicfile.Write(path, b.Bytes()); err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	return nil
}

// LoadState reads a state written by State.Save.
func LoadState(path string) (*State, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	r := bufio.NewReader(bytes.NewReader(raw))
	magic, err := r.ReadString('\n')
	if err != nil || magic != stateMagic {
		return nil, fmt.Errorf("load state %s: not a training state (want a file written by --save-state)", path)
	}
	head, err := r.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("load state %s: truncated header", path)
	}
	s := &State{}
	if err := json.Unmarshal(head, s); err != nil {
		return nil, fmt.Errorf("load state %s: header: %w", path, err)
	}
	archive, _ := io.ReadAll(r)
	named, err := libtorch.DecodeTensors(archive, gotch.CPU)
	if err != nil {
		return nil, fmt.Errorf("load state %s: %w", path, err)
	}
	groups := s.tensorGroups()
	for _, g := range groups {
		*g.m = map[string]*ts.Tensor{}
	}
	mems := map[int]*ts.Tensor{}
next:
	for _, nt := range named {
		for _, g := range groups {
			if k, ok := strings.CutPrefix(nt.Name, g.prefix); ok {
				(*g.m)[k] = nt.Tensor
				continue next
			}
		}
		if k, ok := strings.CutPrefix(nt.Name, memPrefix); ok {
			if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(named) {
				mems[i] = nt.Tensor
				continue
			}
		}
		s.Drop()
		return nil, fmt.Errorf("load state %s: unexpected tensor %q", path, nt.Name)
	}
	for i := range len(mems) {
		if mems[i] == nil {
			s.Drop()
			return nil, fmt.Errorf("load state %s: memories %v are not numbered from 0", path, sortedKeys(mems))
		}
		s.Mems = append(s.Mems, mems[i])
	}
	return s, nil
}

// IdentityNote is a key of a State's Identity that describes the run
// rather than names it (its options, for messages): CheckIdentity does
// not compare it.
const IdentityNote = "options"

// CheckIdentity returns an error naming file and the first key whose value
// differs between the state and want.
func (s *State) CheckIdentity(file string, want map[string]string) error {
	keys := sortedKeys(want)
	for k := range s.Identity {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if k != IdentityNote && s.Identity[k] != want[k] {
			return fmt.Errorf("resume state %s belongs to another run: %s is %q there, %q here", file, k, s.Identity[k], want[k])
		}
	}
	return nil
}

// Drop frees the state's tensors.
func (s *State) Drop() {
	for _, g := range s.tensorGroups() {
		for _, t := range *g.m {
			t.MustDrop()
		}
	}
	for _, t := range s.Mems {
		t.MustDrop()
	}
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// captureState copies vs's variables and opt's momentum buffers.
//
// gotch hides the C++ optimizer, and libtorch offers no call that reads
// SGD's momentum_buffer, so readMomentum reads it through a probe step
// that changes nothing the run depends on.
func captureState(vs *gnn.VarStore, opt *gnn.Optimizer, momentum float64) (*State, error) {
	s := &State{Vars: map[string]*ts.Tensor{}}
	err := libtorch.NoGrad(func() {
		for name, v := range nn.Variables(vs) {
			s.Vars[name] = copyTensor(v)
		}
	})
	if err != nil {
		return nil, err
	}
	if momentum > 0 {
		if s.Momentum, err = readMomentum(vs, opt, momentum); err != nil {
			s.Drop()
			return nil, err
		}
	}
	return s, nil
}

// trainables returns vs's trainable variables by name.
func trainables(vs *gnn.VarStore) map[string]*ts.Tensor {
	out := nn.Variables(vs)
	for name, v := range out {
		if !v.MustRequiresGrad() {
			delete(out, name)
		}
	}
	return out
}

// readMomentum returns a copy of SGD's momentum buffer of every trainable
// variable, exactly. With every parameter p set to 0, every gradient to 0,
// momentum set to 1 and the learning rate to −1, libtorch's SGD step
// (d = g + wd·p = 0; buf = 1·buf + d = buf; d = d + 1·buf (Nesterov) or
// buf; p = p − lr·d) writes buf into p without rounding and leaves buf
// unchanged. The parameters and the momentum are then restored; the
// caller sets the learning rate before its next step.
func readMomentum(vs *gnn.VarStore, opt *gnn.Optimizer, momentum float64) (map[string]*ts.Tensor, error) {
	params := trainables(vs)
	out := map[string]*ts.Tensor{}
	err := withZeroParams(params, func() error {
		defer opt.SetMomentum(momentum)
		if err := setGrads(opt, params, nil); err != nil {
			return err
		}
		opt.SetMomentum(1)
		opt.SetLR(-1)
		if err := opt.Step(); err != nil {
			return fmt.Errorf("read momentum: %w", err)
		}
		return libtorch.NoGrad(func() {
			for name, p := range params {
				out[name] = copyTensor(p)
			}
		})
	})
	return out, err
}

// withZeroParams runs f with every parameter set to 0 (the probe steps'
// starting point) and restores the parameters afterwards, whatever f
// returns.
func withZeroParams(params map[string]*ts.Tensor, f func() error) error {
	saved := map[string]*ts.Tensor{}
	err := libtorch.NoGrad(func() {
		for name, p := range params {
			saved[name] = copyTensor(p)
			libtorch.Zero_(p)
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		_ = libtorch.NoGrad(func() {
			for name, p := range params {
				p.Copy_(saved[name])
				saved[name].MustDrop()
			}
		})
	}()
	return f()
}

// writeMomentum gives a fresh SGD optimizer (no state yet) the momentum
// buffers bufs: with every parameter at 0, gradient g = buf and learning
// rate 0, libtorch's first step stores buf = clone(g + wd·0) = g exactly
// and moves no parameter; the parameters are then restored. A trainable
// variable missing from bufs is an error.
func writeMomentum(vs *gnn.VarStore, opt *gnn.Optimizer, bufs map[string]*ts.Tensor) error {
	params := trainables(vs)
	for name := range params {
		if bufs[name] == nil {
			return fmt.Errorf("no momentum buffer for %s", name)
		}
	}
	return withZeroParams(params, func() error {
		if err := setGrads(opt, params, bufs); err != nil {
			return err
		}
		opt.SetLR(0)
		if err := opt.Step(); err != nil {
			return fmt.Errorf("write momentum: %w", err)
		}
		return nil
	})
}

// setGrads makes every parameter's gradient defined and equal to
// grads[name] (zero where grads is nil), by backward of Σ sum(p·c): its
// gradient is exactly c.
func setGrads(opt *gnn.Optimizer, params map[string]*ts.Tensor, grads map[string]*ts.Tensor) error {
	if err := opt.ZeroGrad(); err != nil {
		return err
	}
	for _, name := range sortedKeys(params) {
		p := params[name]
		c := grads[name]
		if c == nil {
			c = p.MustZerosLike(false)
			defer c.MustDrop()
		}
		prod, err := p.Mul(c, false)
		if err != nil {
			return fmt.Errorf("set gradient of %s: %w", name, err)
		}
		sum := prod.MustSum(prod.DType(), true)
		err = sum.Backward()
		sum.MustDrop()
		if err != nil {
			return fmt.Errorf("set gradient of %s: %w", name, err)
		}
	}
	return nil
}

// applyState loads s's variables into vs (every variable, by name, of the
// same shape) and its momentum into the fresh optimizer opt.
func applyState(vs *gnn.VarStore, opt *gnn.Optimizer, s *State, momentum float64) error {
	vars := nn.Variables(vs)
	if len(vars) != len(s.Vars) {
		return fmt.Errorf("the state has %d variables, the model %d", len(s.Vars), len(vars))
	}
	for name, v := range vars {
		src := s.Vars[name]
		if src == nil {
			return fmt.Errorf("the state has no variable %s", name)
		}
		if fmt.Sprint(src.MustSize()) != fmt.Sprint(v.MustSize()) {
			return fmt.Errorf("variable %s: shape %v in the state, %v in the model", name, src.MustSize(), v.MustSize())
		}
	}
	err := libtorch.NoGrad(func() {
		for name, v := range vars {
			v.Copy_(s.Vars[name])
		}
	})
	if err != nil || momentum == 0 {
		return err
	}
	return writeMomentum(vs, opt, s.Momentum)
}

// copyTensor returns a detached copy of t's values.
func copyTensor(t *ts.Tensor) *ts.Tensor {
	c := t.MustZerosLike(false)
	c.Copy_(t)
	return c
}

// captureLMState copies a language model's variables, Adam's moments and
// step counts (when opt is Adam; plain SGD keeps no state), the memories
// carried into the next segment and the loss scaler's state.
func captureLMState(vs *gnn.VarStore, opt Optimizer, mems []*ts.Tensor, amp *AMP) (*State, error) {
	s, err := captureState(vs, nil, 0)
	if err != nil {
		return nil, err
	}
	if a, ok := opt.(*Adam); ok {
		if s.AdamM, s.AdamV, s.AdamSteps, err = a.state(); err != nil {
			s.Drop()
			return nil, err
		}
	}
	if s.Mems, err = copyTensors(mems); err != nil {
		s.Drop()
		return nil, err
	}
	s.saveScaler(amp)
	return s, nil
}

// applyLMState loads s into a language model's variables, its optimizer
// and loss scaler, and returns copies of its memories (the caller's).
func applyLMState(vs *gnn.VarStore, opt Optimizer, s *State, amp *AMP) ([]*ts.Tensor, error) {
	if err := applyState(vs, nil, s, 0); err != nil {
		return nil, err
	}
	a, isAdam := opt.(*Adam)
	switch {
	case isAdam:
		if err := a.setState(s.AdamM, s.AdamV, s.AdamSteps); err != nil {
			return nil, err
		}
	case len(s.AdamM) > 0:
		return nil, fmt.Errorf("the state has Adam moments, the optimizer is not Adam")
	}
	s.restoreScaler(amp)
	return copyTensors(s.Mems)
}

// copyTensors copies xs (nil for none), the copies the caller's.
func copyTensors(xs []*ts.Tensor) ([]*ts.Tensor, error) {
	var out []*ts.Tensor
	err := libtorch.NoGrad(func() {
		for _, t := range xs {
			out = append(out, copyTensor(t))
		}
	})
	return out, err
}

// saveScaler records amp's float16 loss scaler (none: nothing).
func (s *State) saveScaler(amp *AMP) {
	if amp != nil && amp.Scaler != nil {
		s.LossScale, s.ScaleGood = amp.Scaler.Scale, amp.Scaler.good
	}
}

// restoreScaler gives amp's loss scaler the state saveScaler recorded.
func (s *State) restoreScaler(amp *AMP) {
	if amp != nil && amp.Scaler != nil && s.LossScale > 0 {
		amp.Scaler.Scale, amp.Scaler.good = s.LossScale, s.ScaleGood
	}
}
