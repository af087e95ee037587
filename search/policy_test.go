package search

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
)

var kinds = []string{KindLSTM, KindTransformer}

// threads sets libtorch's intra-op threads for the rest of the test. OpenMP
// keeps the count per OS thread, so the test's goroutine stays on its
// thread (Sample and Update run on the calling goroutine's thread).
func threads(t *testing.T, n int) {
	runtime.LockOSThread()
	prev := libtorch.Threads()
	if err := libtorch.SetThreads(n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		libtorch.SetThreads(prev)
		runtime.UnlockOSThread()
	})
}

// Proposals and updates do not depend on libtorch's thread count.
func TestPolicyThreads(t *testing.T) {
	space := ConvNetSpace{autodropout.DefaultSearchSpace()}
	for _, kind := range kinds {
		var runs [2][]Proposal
		for i, n := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s-%d", kind, n), func(t *testing.T) {
				threads(t, n)
				p, err := NewPolicy(space, testSites, ControllerConfig{Kind: kind, LR: 0.05}, 9)
				if err != nil {
					t.Fatal(err)
				}
				for round := 0; round < 2; round++ {
					var batch []Scored
					for j := 0; j < 4; j++ {
						pr, err := p.Sample()
						if err != nil {
							t.Fatal(err)
						}
						runs[i] = append(runs[i], pr)
						batch = append(batch, Scored{Choices: pr.Choices, Reward: float64(pr.Choices[1][j])})
					}
					if _, err := p.Update(batch); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
		for j := range runs[0] {
			if a, b := runs[0][j], runs[1][j]; !reflect.DeepEqual(a, b) {
				t.Errorf("%s: proposal %d differs with 1 and 2 threads: choices %v / %v, log-probability %v / %v", kind, j, a.Choices, b.Choices, a.LogProb, b.LogProb)
				break
			}
		}
	}
}

// score is the teacher-forced log-probability of choices under p.
func score(t *testing.T, p Policy, choices [][]int) float64 {
	t.Helper()
	var f forwardFunc
	switch c := p.(type) {
	case *Controller:
		f = c.forward
	case *TransformerController:
		f = c.forward
	default:
		t.Fatalf("policy %T", p)
	}
	_, lp, _, _, err := f(choices, false)
	if err != nil {
		t.Fatal(err)
	}
	return lp.Float64Values()[0]
}

// target is the best pattern of synthetic(0): reward 1.
func target(sites int) [][]int {
	toks := autodropout.DefaultSearchSpace().Tokens()
	ch := make([][]int, sites)
	for s := range ch {
		ch[s] = make([]int, len(toks))
		for k := range ch[s] {
			ch[s][k] = (s + k) % toks[k].Choices
		}
	}
	return ch
}

// Both controllers learn a reward whose best pattern is known (the
// fraction of 8 decisions that hit a target value) and beat random search
// at the same number of samples, over 5 seeds each: the mean reward of
// their samples, the best reward found, and the probability they give the
// target.
func TestPoliciesFindTarget(t *testing.T) {
	const N, B, seeds = 64, 8, 5
	space := ConvNetSpace{autodropout.DefaultSearchSpace()}
	sites := testSites[:1]
	reward := func(ch [][]int) float64 { return synthetic(0)(context.Background(), Trial{Choices: ch}).Reward }
	type result struct{ mean, best, gain []float64 }
	run := func(kind string) result {
		var r result
		for seed := int64(1); seed <= seeds; seed++ {
			var p Policy
			var lp0 float64
			rng := rand.New(rand.NewSource(seed))
			if kind != "random" {
				var err error
				if p, err = NewPolicy(space, sites, ControllerConfig{Kind: kind, LR: 0.05}, seed); err != nil {
					t.Fatal(err)
				}
				lp0 = score(t, p, target(1))
			}
			mean, best := 0.0, 0.0
			for b := 0; b < N/B; b++ {
				var batch []Scored
				for i := 0; i < B; i++ {
					var pr Proposal
					var err error
					if p != nil {
						pr, err = p.Sample()
					} else {
						pr, err = RandomProposal(space, sites, rng)
					}
					if err != nil {
						t.Fatal(err)
					}
					rw := reward(pr.Choices)
					batch = append(batch, Scored{Choices: pr.Choices, Reward: rw})
					mean += rw / N
					best = max(best, rw)
				}
				if p != nil {
					if _, err := p.Update(batch); err != nil {
						t.Fatal(err)
					}
				}
			}
			r.mean, r.best = append(r.mean, mean), append(r.best, best)
			if p != nil {
				r.gain = append(r.gain, score(t, p, target(1))-lp0)
			}
		}
		return r
	}
	avg := func(v []float64) (m, sd float64) {
		for _, x := range v {
			m += x / float64(len(v))
		}
		for _, x := range v {
			sd += (x - m) * (x - m) / float64(len(v)-1)
		}
		return m, math.Sqrt(sd)
	}
	rnd := run("random")
	rm, rsd := avg(rnd.mean)
	rb, _ := avg(rnd.best)
	t.Logf("random: mean reward %.3f ± %.3f, best %.3f", rm, rsd, rb)
	for _, kind := range kinds {
		r := run(kind)
		m, sd := avg(r.mean)
		b, _ := avg(r.best)
		g, gsd := avg(r.gain)
		// Welch's t of the per-seed mean rewards.
		tstat := (m - rm) / math.Sqrt(sd*sd/seeds+rsd*rsd/seeds)
		t.Logf("%s: mean reward %.3f ± %.3f (t = %.1f vs random), best %.3f; log p(target) rose %.2f ± %.2f nats (per seed %.2f)",
			kind, m, sd, tstat, b, g, gsd, r.gain)
		if m < rm+0.1 || tstat < 5 {
			t.Errorf("%s: mean reward %.3f does not beat random's %.3f by 0.1 with t ≥ 5 (t = %.1f)", kind, m, rm, tstat)
		}
		if b <= rb {
			t.Errorf("%s: mean best reward %.3f, random's %.3f", kind, b, rb)
		}
		// The target (1 of 2.2 million patterns) became more likely with
		// every seed, and 20 times more likely on (geometric) average.
		for i, gi := range r.gain {
			if gi <= 0 {
				t.Errorf("%s seed %d: the target's probability fell %.1f×", kind, i+1, math.Exp(-gi))
			}
		}
		if g < math.Log(20) {
			t.Errorf("%s: the target's probability grew %.1f× (geometric mean over seeds), want at least 20×", kind, math.Exp(g))
		}
	}
}

// tinySpace has 2 tokens of 2 and 3 values: 6 patterns per site.
type tinySpace struct{}

func (tinySpace) Tokens() []autodropout.Token {
	return []autodropout.Token{{Name: "a", Choices: 2}, {Name: "b", Choices: 3}}
}

func (tinySpace) PatternFile(sites []string, choices [][]int) (json.RawMessage, error) {
	return json.Marshal(choices)
}

// Each controller is a proper distribution over whole proposals (the
// probabilities of all 36 proposals of 2 sites sum to one, which a
// Transformer that let a position see later decisions would break), and
// the log-probability Sample reports is the one Update recomputes.
func TestPolicyIsADistribution(t *testing.T) {
	for _, kind := range kinds {
		p, err := NewPolicy(tinySpace{}, []string{"x", "y"}, ControllerConfig{Kind: kind, InitRange: 1}, 3)
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for n := 0; n < 36; n++ {
			ch := [][]int{{n % 2, n / 2 % 3}, {n / 6 % 2, n / 12 % 3}}
			total += math.Exp(score(t, p, ch))
		}
		if math.Abs(total-1) > 1e-9 {
			t.Errorf("%s: probabilities of all proposals sum to %v", kind, total)
		}
		for i := 0; i < 5; i++ {
			pr, err := p.Sample()
			if err != nil {
				t.Fatal(err)
			}
			if lp := score(t, p, pr.Choices); math.Abs(lp-pr.LogProb) > 1e-9 {
				t.Errorf("%s: sampled log-probability %v, recomputed %v", kind, pr.LogProb, lp)
			}
		}
		if p.Kind() != kind {
			t.Errorf("Kind() = %q, want %q", p.Kind(), kind)
		}
	}
}

// A Transformer restored from a checkpoint continues exactly as the one
// that wrote it, and checkpoints are refused under the other kind.
func TestTransformerCheckpointExact(t *testing.T) {
	space := ConvNetSpace{autodropout.DefaultSearchSpace()}
	a, err := NewTransformerController(space, testSites, ControllerConfig{LR: 0.05, Layers: 1, Heads: 4, Width: 16}, 5)
	if err != nil {
		t.Fatal(err)
	}
	step := func(c Policy) []Proposal {
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
	dir := t.TempDir()
	path := filepath.Join(dir, "controller.json")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(path, space, KindTransformer)
	if err != nil {
		t.Fatal(err)
	}
	b := p.(*TransformerController)
	if b.cfg != a.cfg {
		t.Fatalf("config %+v after restore, want %+v", b.cfg, a.cfg)
	}
	for i := 0; i < 2; i++ {
		if pa, pb := step(a), step(b); !reflect.DeepEqual(pa, pb) {
			t.Fatalf("round %d: proposals differ after restore", i)
		}
	}
	for i := range a.params {
		if !reflect.DeepEqual(a.params[i].val, b.params[i].val) || !reflect.DeepEqual(a.m[i], b.m[i]) || !reflect.DeepEqual(a.v[i], b.v[i]) {
			t.Fatalf("parameter %s or its Adam state differs after restore", a.params[i].name)
		}
	}
	if a.Step != 3 || a.Steps() != b.Steps() || a.Baseline != b.Baseline || a.draws != b.draws {
		t.Errorf("step %d/%d baseline %v/%v draws %d/%d", a.Step, b.Step, a.Baseline, b.Baseline, a.draws, b.draws)
	}

	// Kinds do not mix.
	for _, k := range []string{"", KindLSTM} {
		if _, err := LoadPolicy(path, space, k); err == nil || !strings.Contains(err.Error(), "holds a controller of kind transformer") {
			t.Errorf("loading a transformer checkpoint as kind %q: err %v", k, err)
		}
	}
	if _, err := LoadController(path, space); err == nil {
		t.Error("LoadController read a transformer checkpoint")
	}
	lstm, err := NewController(space, testSites, ControllerConfig{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	lpath := filepath.Join(dir, "lstm.json")
	if err := lstm.Save(lpath); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(lpath, space, KindTransformer); err == nil || !strings.Contains(err.Error(), "holds a controller of kind lstm") {
		t.Errorf("loading an LSTM checkpoint as a transformer: err %v", err)
	}
	// A checkpoint from before kinds existed is an LSTM's.
	var ck map[string]any
	raw, _ := os.ReadFile(lpath)
	json.Unmarshal(raw, &ck)
	delete(ck, "kind")
	raw, _ = json.Marshal(ck)
	os.WriteFile(lpath, raw, 0o644)
	if _, err := LoadController(lpath, space); err != nil {
		t.Errorf("checkpoint without a kind: %v", err)
	}
	// A checkpoint of another space is refused.
	small := ConvNetSpace{autodropout.DefaultSearchSpace()}
	small.Stride = small.Stride[:1]
	if _, err := LoadPolicy(path, small, KindTransformer); err == nil {
		t.Error("loaded a checkpoint into a different search space")
	}
}

// The controller's settings are checked by kind, and errors name the field.
func TestControllerConfigChecked(t *testing.T) {
	cfg, err := ReadConfig("../configs/search-fashion-mnist-transformer-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Controller; c.Kind != KindTransformer || c.Layers < 1 || c.Heads < 1 || c.Width < 1 {
		t.Errorf("transformer config: controller %+v", c)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ json, err string }{
		{`{"controller": {"kind": "gru"}}`, `controller.kind "gru"`},
		{`{"controller": {"kind": "transformer", "heads": 3}}`, "controller.heads 3"},
		{`{"controller": {"kind": "transformer", "layers": -1}}`, "controller.layers -1"},
		{`{"controller": {"kind": "transformer", "width": -4}}`, "controller.width -4"},
		{`{"controller": {"kind": "transformer", "hidden": 16}}`, "controller.hidden"},
		{`{"controller": {"layers": 2}}`, "layers, heads and width"},
		{`{"controller": {"kind": "lstm", "hidden": -1}}`, "controller.hidden -1"},
	} {
		p := filepath.Join(dir, "c.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want one containing %q", tc.json, err, tc.err)
		}
	}
	// "lstm" is the default: the same search, the same hash.
	a, b := Config{}.WithDefaults(), Config{Controller: ControllerConfig{Kind: KindLSTM}}.WithDefaults()
	if ha, _ := hash(a, testSites); ha != func() string { h, _ := hash(b, testSites); return h }() {
		t.Error(`controller.kind "lstm" hashes differently from the default`)
	}
	if _, err := NewController(tinySpace{}, testSites, ControllerConfig{Kind: KindTransformer}, 1); err == nil {
		t.Error("NewController made an LSTM from a transformer config")
	}
}

// childKindEnv names the controller kind of killSearch (empty: the LSTM).
const childKindEnv = "AUTODROPOUT_SEARCH_TEST_KIND"

// A search with the Transformer controller, killed at five points and
// resumed, records each trial once and proposes what an unkilled run
// proposes: TestResumeAfterKill with kind transformer (the children
// inherit the environment).
func TestTransformerResumeAfterKill(t *testing.T) {
	t.Setenv(childKindEnv, KindTransformer)
	if k := killSearch(t.TempDir()).Config.Controller.Kind; k != KindTransformer {
		t.Fatalf("killSearch runs kind %q", k)
	}
	TestResumeAfterKill(t)
}
