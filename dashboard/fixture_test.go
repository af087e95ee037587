package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/autodropout/autodropout/search"
)

// fixture writes journals and result files the way search.Run and
// `autodropout experiment` lay them out, with seeded made-up numbers.
type fixture struct {
	t    testing.TB
	rng  *rand.Rand
	when time.Time
}

func newFixture(t testing.TB) *fixture {
	return &fixture{t: t, rng: rand.New(rand.NewSource(1)), when: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func ip(i int) *int         { return &i }
func fp(f float64) *float64 { return &f }

// line encodes e as one journal line.
func (f *fixture) line(e search.Event) []byte {
	if e.Time.IsZero() {
		f.when = f.when.Add(time.Second)
		e.Time = f.when
	}
	b, err := json.Marshal(e)
	if err != nil {
		f.t.Fatal(err)
	}
	return append(b, '\n')
}

func (f *fixture) runStarted(method string, budget int) []byte {
	cfg := fmt.Sprintf(`{"method":%q,"budget":%d,"parallel":2,"samples_per_update":4,"seed":1,"task":{"model":"convnet","data":"fashion-mnist","timeout":"10m"}}`, method, budget)
	return f.line(search.Event{Type: search.RunStarted, Config: json.RawMessage(cfg), ConfigHash: "abc", Seed: 1})
}

// patterns is a ConvNet pattern file for trial id.
func (f *fixture) patterns(id int) json.RawMessage {
	sizes := []int{1, 2, 3, 5}
	return json.RawMessage(fmt.Sprintf(`{"patterns":[{"site":"bn1","pattern":{"size":%d,"stride":%d,"repeat":%d,"rotate":%d,"shear_x":0.1,"shear_y":0,"share_c":false,"residual":false}},{"site":"bn2","pattern":{"size":%d,"stride":2,"repeat":3,"rotate":0,"shear_x":0,"shear_y":0.2,"share_c":true,"residual":true}}]}`,
		sizes[id%4], 1+id%3, 2+id%5, 15*(id%7), sizes[(id+1)%4]))
}

// trial returns the lines of one trial: proposed, started and (unless
// outcome is "") finished with reward or failed with a reason.
func (f *fixture) trial(id, step int, outcome string, reward float64) []byte {
	var out []byte
	out = append(out, f.line(search.Event{Type: search.TrialProposed, Trial: ip(id), Patterns: f.patterns(id),
		Choices: [][]int{{1, 2}, {3, 4}}, LogProb: fp(-20), Entropy: fp(29 - 0.01*float64(step)), Step: ip(step)})...)
	out = append(out, f.line(search.Event{Type: search.TrialStarted, Trial: ip(id)})...)
	cost := &search.Cost{WallS: 20 + f.rng.Float64(), CPUS: 8 + f.rng.Float64(), Steps: 32, Examples: 2048}
	switch outcome {
	case TrialFinished:
		out = append(out, f.line(search.Event{Type: search.TrialFinished, Trial: ip(id), Reward: fp(reward),
			Metrics: map[string]float64{"val_acc": reward}, Cost: cost})...)
	case TrialFailed:
		out = append(out, f.line(search.Event{Type: search.TrialFailed, Trial: ip(id), Cost: cost,
			Reason: "loss diverged (NaN) at step 7", Output: "..."})...)
	case TrialStopped: // multi-fidelity: ranked low after its first rung of 1 epoch
		out = append(out, f.line(search.Event{Type: search.TrialStopped, Trial: ip(id), Rung: ip(0), Epochs: 1,
			Reward: fp(reward), Metrics: map[string]float64{"val_acc": reward}, Cost: cost})...)
	}
	return out
}

func (f *fixture) update(step int, baseline float64) []byte {
	return f.line(search.Event{Type: search.ControllerUpdated, Step: ip(step), Baseline: fp(baseline), MeanReward: fp(baseline + 0.01), Loss: fp(-0.1)})
}

// search returns a whole journal of n trials (every 13th failed) with an
// update every 4 trials; RL's rewards creep up, random's do not.
func (f *fixture) search(method string, budget, n int) []byte {
	out := f.runStarted(method, budget)
	for id := 0; id < n; id++ {
		r := 0.62 + 0.05*f.rng.Float64()
		if method == "rl" {
			r += 0.06 * (1 - math.Exp(-float64(id)/float64(max(n, 1)/3+1)))
		}
		outcome := TrialFinished
		if id%13 == 12 {
			outcome = TrialFailed
		}
		out = append(out, f.trial(id, id/4, outcome, r)...)
		if method == "rl" && id%4 == 3 {
			out = append(out, f.update(id/4+1, r-0.01)...)
		}
	}
	return out
}

func write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// experiment lays out an experiment folder: search-rl and search-random
// (n trials of budget each), and final trainings of every label over
// seeds with a report.md, like `autodropout experiment`.
func (f *fixture) experiment(dir string, budget, n int) {
	write(f.t, filepath.Join(dir, "search-rl", "journal.jsonl"), f.search("rl", budget, n))
	write(f.t, filepath.Join(dir, "search-random", "journal.jsonl"), f.search("random", budget, n))
	test := map[string]float64{"none": 0.80, "dropout": 0.81, "dropblock": 0.812, "random-best": 0.815, "autodropout-best": 0.822}
	for label, acc := range test {
		for seed := 1; seed <= 3; seed++ {
			v := acc + 0.004*float64(seed-2)
			b := fmt.Sprintf(`{"val_acc":%g,"test_acc":%g,"wall_s":%g,"cpu_s":%g,"model":"convnet","dataset":"fashion-mnist","regularizer":%q,"seed":%d,"threads":1}`,
				v+0.01, v, 60+float64(seed), 58+float64(seed), label, seed)
			write(f.t, filepath.Join(dir, "final", label, fmt.Sprintf("seed-%d", seed), "result.json"), []byte(b))
		}
	}
	write(f.t, filepath.Join(dir, "report.md"), []byte("# report\n"))
}
