package report

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/search"
)

// go test ./report -run TestGenerateTestdata -update rewrites testdata/ from
// the tables below; the other tests read the committed files.
var update = flag.Bool("update", false, "rewrite report/testdata")

// A recorded trial: its reward (NaN: failed with reason) and cost.
type genTrial struct {
	reward, entropy, cpu float64
	reason               string
}

var (
	genSites = []string{"block1.layer.0.bn2", "block2.layer.0.bn2", "block3.layer.0.bn2"}
	genRL    = []genTrial{
		{0.8012, 40.21, 121.4, ""}, {0.8233, 39.87, 118.9, ""},
		{0.8150, 37.52, 125.2, ""}, {math.NaN(), 36.94, 3420.0, "timed out after 30m0s"},
		{0.8420, 33.06, 119.7, ""}, {0.8391, 32.15, 122.8, ""},
		{0.8575, 28.43, 117.3, ""}, {0.8498, 27.91, 120.1, ""},
	}
	genRandom = []genTrial{
		{0.8105, 0, 119.8, ""}, {0.7920, 0, 123.5, ""},
		{0.8301, 0, 121.1, ""}, {0.8254, 0, 118.2, ""},
		{math.NaN(), 0, 14.6, "training diverged: loss NaN at step 57"}, {0.8199, 0, 120.6, ""},
		{0.8350, 0, 124.9, ""}, {0.8012, 0, 117.7, ""},
	}
	// Final training: label -> test accuracy per seed (1, 2, …); cpu_s is
	// left out of dropblock's results to exercise the wall × threads estimate.
	genFinal = []struct {
		label, regularizer string
		test               []float64
		cpu                []float64
	}{
		{"none", "no regularizer", []float64{0.8590, 0.8612, 0.8571}, []float64{1180.2, 1175.9, 1191.4}},
		{"dropout", "dropout(p=0.1) at 6 sites", []float64{0.8633, 0.8648, 0.8601}, []float64{1201.7, 1195.3, 1210.0}},
		{"dropblock", "dropblock(p=0.1, block=3) at 6 sites", []float64{0.8655, 0.8679}, nil},
		{"random-best", "patterns from search-random/top/01-0.8350.json at 3 sites", []float64{0.8661, 0.8640}, []float64{1250.1, 1244.8}},
		{"autodropout-best", "patterns from search-rl/top/01-0.8575.json at 3 sites", []float64{0.8702, 0.8688, 0.8725}, []float64{1262.5, 1258.0, 1270.3}},
	}
)

func TestGenerateTestdata(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata")
	}
	root := filepath.Join("testdata", "demo")
	for _, d := range []string{root, filepath.Join("testdata", "lm")} {
		if err := os.RemoveAll(d); err != nil { // journals are appended to
			t.Fatal(err)
		}
	}
	space := autodropout.DefaultSearchSpace()
	uniform := 0.0
	for _, tok := range space.Tokens() {
		uniform += math.Log(float64(tok.Choices))
	}
	uniform *= float64(len(genSites))
	for _, g := range []struct {
		dir, method string
		trials      []genTrial
	}{{"search-rl", "rl", genRL}, {"search-random", "random", genRandom}} {
		genSearch(t, filepath.Join(root, g.dir), g.method, g.trials, space, uniform)
	}
	for _, f := range genFinal {
		for i, acc := range f.test {
			res := map[string]any{
				"train_loss": 0.41 + 0.01*float64(i), "val_acc": acc + 0.0021, "test_acc": acc, "epochs": 10, "steps": 4220,
				"examples": 540000, "wall_s": 640.0 + 5*float64(i), "params": 691386, "model": "wrn-16-2",
				"dataset": "fashion-mnist", "regularizer": f.regularizer, "seed": i + 1, "threads": 2, "device": "cpu",
			}
			if f.cpu != nil {
				res["cpu_s"] = f.cpu[i]
			}
			writeGenJSON(t, filepath.Join(root, "final", f.label, fmt.Sprintf("seed-%d", i+1), "result.json"), res)
		}
	}
	// A trial's own result.json, which the report must not count as a run.
	writeGenJSON(t, filepath.Join(root, "search-rl", "trials", "0000", "result.json"),
		map[string]any{"val_acc": 0.8012, "test_acc": 0.80, "wall_s": 63.0, "regularizer": "trial"})

	genLM(t, filepath.Join("testdata", "lm"))
}

func genSearch(t *testing.T, dir, method string, trials []genTrial, space *autodropout.SearchSpace, uniform float64) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := search.OpenFileJournal(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	tick := func(s float64) time.Time { now = now.Add(time.Duration(s * float64(time.Second))); return now }
	app := func(e search.Event) {
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	cfg := search.Config{Method: method, Budget: len(trials), Parallel: 2, SamplesPerUpdate: 2, Seed: 7, Task: search.Task{Model: "wrn-16-2"}}.WithDefaults()
	raw, _ := json.Marshal(cfg)
	app(search.Event{Type: search.RunStarted, Time: tick(0), Config: raw, ConfigHash: "0123456789abcdef", Seed: 7})
	rng := rand.New(rand.NewSource(int64(len(method)))) // rl and random propose different patterns
	toks := space.Tokens()
	files := make([][]autodropout.SitePattern, len(trials))
	baseline := math.NaN()
	for b := 0; b*2 < len(trials); b++ {
		for id := 2 * b; id < 2*b+2; id++ {
			choices := make([][]int, len(genSites))
			for i, site := range genSites {
				choices[i] = make([]int, len(toks))
				for k, tok := range toks {
					choices[i][k] = rng.Intn(tok.Choices)
				}
				p, err := space.Pattern(choices[i])
				if err != nil {
					t.Fatal(err)
				}
				files[id] = append(files[id], autodropout.SitePattern{Site: site, Pattern: p})
			}
			pf, err := autodropout.EncodePatterns(files[id])
			if err != nil {
				t.Fatal(err)
			}
			ent := trials[id].entropy
			if method == "random" {
				ent = uniform
			}
			step := b
			app(search.Event{Type: search.TrialProposed, Time: tick(0.2), Trial: &id, Patterns: pf, Choices: choices,
				LogProb: ptr(-ent * 0.9), Entropy: ptr(ent), Step: &step})
		}
		for id := 2 * b; id < 2*b+2; id++ {
			app(search.Event{Type: search.TrialStarted, Time: tick(0.1), Trial: &id})
		}
		sum := 0.0
		for id := 2 * b; id < 2*b+2; id++ {
			tr := trials[id]
			cost := &search.Cost{WallS: tr.cpu / 1.9, CPUS: tr.cpu, Steps: 422, Examples: 54000}
			e := search.Event{Time: tick(tr.cpu / 1.9 / 2), Trial: &id, Cost: cost}
			if math.IsNaN(tr.reward) {
				e.Type, e.Reason, e.Output = search.TrialFailed, tr.reason, "…\n"+tr.reason+"\n"
			} else {
				e.Type, e.Reward = search.TrialFinished, ptr(tr.reward)
				e.Metrics = map[string]float64{"val_acc": tr.reward, "test_acc": tr.reward - 0.004, "train_loss": 0.6}
				sum += tr.reward
			}
			app(e)
		}
		if method != "rl" {
			continue
		}
		mean := sum / 2 // a failure counts as failure_reward 0
		if math.IsNaN(baseline) {
			baseline = mean
		}
		loss := -(mean - baseline) * 30
		baseline = 0.9*baseline + 0.1*mean
		step := b + 1
		app(search.Event{Type: search.ControllerUpdated, Time: tick(0.5), Step: &step, Baseline: ptr(baseline), MeanReward: ptr(mean), Loss: ptr(loss)})
	}
	// summary.json and top/, as search.finish writes them.
	sum := search.Summary{Method: method, Budget: len(trials), BestTrial: -1}
	type fin struct {
		id int
		r  float64
	}
	var fins []fin
	for id, tr := range trials {
		sum.Trials++
		sum.CPUS += tr.cpu
		sum.WallS += tr.cpu / 1.9
		if math.IsNaN(tr.reward) {
			sum.Failures++
			continue
		}
		sum.Finished++
		sum.MeanReward += tr.reward
		fins = append(fins, fin{id, tr.reward})
		if sum.BestTrial < 0 || tr.reward > sum.BestReward {
			sum.BestReward, sum.BestTrial = tr.reward, id
		}
	}
	sum.MeanReward /= float64(sum.Finished)
	if method == "rl" {
		sum.Updates = len(trials) / 2
	}
	writeGenJSON(t, filepath.Join(dir, "summary.json"), sum)
	for k := 0; k < 2; k++ {
		bi := 0
		for i := range fins {
			if fins[i].r > fins[bi].r {
				bi = i
			}
		}
		f := fins[bi]
		fins = append(fins[:bi], fins[bi+1:]...)
		if err := os.MkdirAll(filepath.Join(dir, "top"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := autodropout.WritePatterns(filepath.Join(dir, "top", fmt.Sprintf("%02d-%.4f.json", k+1, f.r)), files[f.id]); err != nil {
			t.Fatal(err)
		}
	}
}

// genLM writes a Transformer-XL search of four trials (rewards 80/ppl) and
// two final training runs with perplexities.
func genLM(t *testing.T, root string) {
	dir := filepath.Join(root, "search")
	if err := os.MkdirAll(filepath.Join(dir, "top"), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := search.OpenFileJournal(filepath.Join(dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	now := time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC)
	app := func(e search.Event) {
		now = now.Add(40 * time.Second)
		e.Time = now
		if err := j.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	app(search.Event{Type: search.RunStarted, Config: json.RawMessage(`{"method":"rl","budget":4,"task":{"task":"lm","model":"transformer-xl"}}`), Seed: 3})
	ppls := []float64{160, 150, 148, 152}
	pat := func(size int) []autodropout.TransformerSitePattern {
		return []autodropout.TransformerSitePattern{
			{Sites: `\.ff\.hidden$`, Pattern: autodropout.TransformerPattern{Size: size, Stride: 2, Repeat: 4, Noise: "zero"}},
			{Sites: `\.attn\.probs$`, Pattern: autodropout.TransformerPattern{Size: 1, Stride: 1, Repeat: 8, Noise: "gaussian", Sigma: 0.5, PerFeature: true}},
		}
	}
	for id, ppl := range ppls {
		pf, _ := json.Marshal(pat(id + 1))
		step := id / 2
		app(search.Event{Type: search.TrialProposed, Trial: &id, Patterns: pf, Choices: [][]int{{id, 1, 2, 0, 0}, {0, 0, 3, 1, 1}},
			LogProb: ptr(-9.1), Entropy: ptr(9.5 - float64(id)*0.4), Step: &step})
		app(search.Event{Type: search.TrialFinished, Trial: &id, Reward: ptr(80 / ppl),
			Metrics: map[string]float64{"val_ppl": ppl}, Cost: &search.Cost{WallS: 300, CPUS: 590 + float64(id)}})
		if id%2 == 1 {
			s := step + 1
			app(search.Event{Type: search.ControllerUpdated, Step: &s, Baseline: ptr(0.52), MeanReward: ptr(80/ppls[id-1]/2 + 80/ppl/2), Loss: ptr(0.01)})
		}
	}
	b, _ := json.MarshalIndent(pat(3), "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "top", fmt.Sprintf("01-%.4f.json", 80/148.0)), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, r := range []struct {
		label    string
		val, tst float64
	}{{"none", 151.2, 149.8}, {"autodropout-best", 140.5, 139.1}} {
		writeGenJSON(t, filepath.Join(root, "final", r.label, "seed-1", "result.json"), map[string]any{
			"train_loss": 4.9, "val_ppl": r.val, "test_ppl": r.tst, "steps": 2000, "tokens": 4096000, "wall_s": 900.0 + float64(i),
			"cpu_s": 1780.0 + float64(i), "model": "transformer-xl", "dataset": "ptb", "regularizer": r.label, "seed": 1, "threads": 2,
		})
	}
}

func writeGenJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ptr(f float64) *float64 { return &f }
