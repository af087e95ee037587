package search

import (
	"context"

	"github.com/autodropout/autodropout/autodropout"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// TestRealSearch runs a tiny search whose trials train convnet on 512
// Fashion-MNIST examples through the real autodropout binary.
func TestRealSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains real models")
	}
	const dataDir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dataDir); err != nil {
		t.Skip("no Fashion-MNIST:", err)
	}
	bin := buildBinary(t)
	cfg := Config{Budget: 2, Parallel: 1, SamplesPerUpdate: 2, Cores: 1,
		Task: Task{Model: "convnet", DataDir: dataDir, TrainSubset: 512, Epochs: 1, BatchSize: 64, Timeout: "5m"}}.WithDefaults()
	out := t.TempDir()
	s := &Search{Config: cfg, Sites: []string{"bn1", "bn2"}, Out: out, Executor: &LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary %+v", sum)
	if sum.Finished != 2 || sum.Failures != 0 {
		evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		t.Fatalf("summary %+v; journal %+v", sum, evs)
	}
	if sum.BestReward <= 0.1 || sum.BestReward > 1 || sum.CPUS <= 0 || sum.Updates != 1 {
		t.Errorf("summary %+v: want a reward above chance, CPU time and one update", sum)
	}
	for _, f := range []string{"summary.json", "controller.json", "journal.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestRealLMSearch runs a tiny language-model search: two trials train a
// one-layer Transformer-XL for a few steps on the fortunes corpus.
func TestRealLMSearch(t *testing.T) {
	bin, recipe := lmSearchSetup(t)
	cfg := Config{Budget: 2, Parallel: 1, SamplesPerUpdate: 2, Cores: 1,
		Task: Task{Kind: "lm", LMConfig: recipe, EvalTokens: 500, Timeout: "5m"}}.WithDefaults()
	out := t.TempDir()
	s := &Search{Config: cfg, Sites: []string{`^emb$`, `\.ff\.hidden$`}, Space: TransformerSpace{autodropout.DefaultTransformerSpace()},
		Out: out, Executor: &LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Finished != 2 || sum.BestReward <= 0 || sum.Updates != 1 {
		evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		t.Fatalf("summary %+v; journal %+v", sum, evs)
	}
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	for _, e := range evs {
		if e.Type == TrialFinished && (e.Metrics["val_ppl"] <= 1 || e.Cost.Examples != 10*8*16) {
			t.Errorf("finished trial %d: metrics %v cost %+v; want a perplexity and 1280 tokens", *e.Trial, e.Metrics, e.Cost)
		}
	}
}

// TestInProcessMatchesChild runs the same tiny language-model search
// with its trials in child processes (LocalExecutor) and in this process
// (InProcess): both trials' rewards agree bit for bit.
func TestInProcessMatchesChild(t *testing.T) {
	bin, recipe := lmSearchSetup(t)
	cfg := Config{Method: "random", Budget: 2, Parallel: 1, SamplesPerUpdate: 2, Cores: 1,
		Task: Task{Kind: "lm", LMConfig: recipe, Steps: 4, EvalTokens: 500, Timeout: "5m"}}.WithDefaults()
	rewards := map[string][]float64{}
	for name, ex := range map[string]Executor{"child": &LocalExecutor{Binary: bin}, "in-process": InProcess{}} {
		out := t.TempDir()
		s := &Search{Config: cfg, Sites: []string{`^emb$`, `\.ff\.hidden$`}, Space: TransformerSpace{autodropout.DefaultTransformerSpace()},
			Out: out, Executor: ex}
		if sum, err := s.Run(context.Background()); err != nil || sum.Finished != 2 {
			t.Fatalf("%s: summary %+v, error %v", name, sum, err)
		}
		evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
		for _, e := range evs {
			if e.Type == TrialFinished {
				rewards[name] = append(rewards[name], *e.Reward)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "trials", "0000", "output.log")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !reflect.DeepEqual(rewards["child"], rewards["in-process"]) || len(rewards["child"]) != 2 {
		t.Errorf("rewards %v in children, %v in process; want the same two", rewards["child"], rewards["in-process"])
	}
}

// TestRealLMMultiFidelitySearch runs successive halving on language-model
// trials: four trials train 4 of 10 steps, the best two continue from
// their rung states (--stop-step, --save-state, --resume-state) to the
// end, the other two stop; no rung state is left behind.
func TestRealLMMultiFidelitySearch(t *testing.T) {
	bin, recipe := lmSearchSetup(t)
	cfg := Config{Method: "random", Budget: 4, Parallel: 2, SamplesPerUpdate: 4, Cores: 2,
		Task:          Task{Kind: "lm", LMConfig: recipe, Steps: 10, EvalTokens: 500, Timeout: "5m"},
		MultiFidelity: &MultiFidelity{Rungs: []int{4, 10}, Reduction: 2}}.WithDefaults()
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	s := &Search{Config: cfg, Sites: []string{`^emb$`, `\.ff\.hidden$`}, Space: TransformerSpace{autodropout.DefaultTransformerSpace()},
		Out: out, Executor: &LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	sum, err := s.Run(context.Background())
	evs, _ := ReadJournal(filepath.Join(out, "journal.jsonl"))
	if err != nil || sum.Finished != 2 || sum.Stopped != 2 {
		t.Fatalf("summary %+v, error %v; journal %+v", sum, err, evs)
	}
	count := map[string]int{}
	for _, e := range evs {
		count[e.Type]++
		if e.Type == RungFinished && (e.Cost.Steps != 4 || e.Epochs != 4) {
			t.Errorf("rung result of trial %d: cost %+v at %v steps, want 4 steps", *e.Trial, e.Cost, e.Epochs)
		}
		if e.Type == TrialFinished && (e.Metrics["val_ppl"] <= 1 || e.Cost.Examples != 10*8*16 || e.Cost.Steps != 10) {
			t.Errorf("finished trial %d: metrics %v cost %+v; want a perplexity, 10 steps and 1280 tokens over both rungs", *e.Trial, e.Metrics, e.Cost)
		}
	}
	if count[RungFinished] != 4 || count[TrialPromoted] != 2 {
		t.Errorf("events %v: want 4 rung results and 2 promotions", count)
	}
	if states, _ := filepath.Glob(filepath.Join(out, "trials", "*", "rung-*.state")); len(states) > 0 {
		t.Errorf("rung states left: %v", states)
	}
}

// lmSearchSetup skips a language-model search test without the fortunes
// corpus or in -short mode, and returns the binary and a tiny recipe: a
// one-layer Transformer-XL trained for 10 steps.
func lmSearchSetup(t *testing.T) (bin, recipe string) {
	t.Helper()
	if testing.Short() {
		t.Skip("trains real models")
	}
	if _, err := os.Stat("/usr/share/games/fortunes"); err != nil {
		t.Skip("no fortunes corpus:", err)
	}
	recipe = filepath.Join(t.TempDir(), "lm.json")
	os.WriteFile(recipe, []byte(`{"model": {"n_layer": 1, "d_model": 32, "n_head": 2, "d_head": 16, "d_inner": 64, "tgt_len": 16, "mem_len": 16},
 "optimizer": "adam", "lr": 0.001, "clip": 0.25, "max_step": 10, "batch_size": 8, "eval_batch_size": 10}`), 0o644)
	return buildBinary(t), recipe
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "autodropout")
	build := exec.Command("go", "build", "-o", bin, "../cmd/autodropout")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}
