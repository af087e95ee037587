package search

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// A controller restored from a checkpoint continues exactly as the one
// that wrote it: same proposals, same updates.
func TestControllerCheckpointExact(t *testing.T) {
	space := ConvNetSpace{autodropout.DefaultSearchSpace()}
	a, err := NewController(space, testSites, ControllerConfig{LR: 0.05}, 5)
	if err != nil {
		t.Fatal(err)
	}
	step := func(c *Controller) []Proposal {
		var ps []Proposal
		var batch []Scored
		for i := 0; i < 3; i++ {
			p, err := c.Sample()
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
			batch = append(batch, Scored{Choices: p.Choices, Reward: float64(p.Choices[0][0])})
		}
		if _, err := c.Update(batch); err != nil {
			t.Fatal(err)
		}
		return ps
	}
	step(a)
	path := filepath.Join(t.TempDir(), "controller.json")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := LoadController(path, space)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		pa, pb := step(a), step(b)
		if !reflect.DeepEqual(pa, pb) {
			t.Fatalf("round %d: proposals differ after restore", i)
		}
	}
	for i := range a.params {
		if !reflect.DeepEqual(a.params[i].val, b.params[i].val) || !reflect.DeepEqual(a.m[i], b.m[i]) || !reflect.DeepEqual(a.v[i], b.v[i]) {
			t.Fatalf("parameter %s or its Adam state differs after restore", a.params[i].name)
		}
	}
	if a.Step != 3 || a.Step != b.Step || a.Baseline != b.Baseline || a.draws != b.draws {
		t.Errorf("step %d/%d baseline %v/%v draws %d/%d", a.Step, b.Step, a.Baseline, b.Baseline, a.draws, b.draws)
	}
	// A checkpoint of another space is refused.
	small := ConvNetSpace{autodropout.DefaultSearchSpace()}
	small.Stride = small.Stride[:1]
	if _, err := LoadController(path, small); err == nil {
		t.Error("loaded a checkpoint into a different search space")
	}
}

// The log-probability Sample reports is the one Update recomputes, and
// probabilities of one decision sum to one (entropy is positive and at
// most the uniform's).
func TestSampleLogProb(t *testing.T) {
	space := ConvNetSpace{autodropout.DefaultSearchSpace()}
	c, _ := NewController(space, testSites, ControllerConfig{}, 1)
	p, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	_, lp, ent, leaves, err := c.forward(p.Choices, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = leaves
	if got := lp.Float64Values()[0]; got != p.LogProb {
		t.Errorf("teacher-forced logprob %v, sampled %v", got, p.LogProb)
	}
	uniform, err := RandomProposal(space, testSites, c.rng)
	if err != nil {
		t.Fatal(err)
	}
	if e := ent.Float64Values()[0]; e != p.Entropy || e <= 0 || e > -uniform.LogProb+1e-9 {
		t.Errorf("entropy %v (sampled %v)", e, p.Entropy)
	}
}
