package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/trial"
)

// asCommandEnv makes the test binary the autodropout command (TestMain),
// so that an experiment run from a test trains its models with this
// package's code in child processes, as the built command does.
const asCommandEnv = "AUTODROPOUT_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestLMStudyEndToEnd runs the language-model study's pipeline, shrunk to
// a toy corpus and model, with real trainings: a dropout × dropatt and
// variational grid, LSTM, random and Transformer-controller searches on a
// share of the text, the reward-noise stage at the trials' settings and
// 2-seed final runs, then the report. The real study
// (configs/study/lm-kjv.json) runs for 12 CPU-hours; a wiring fault must
// show here, not after hours of it.
func TestLMStudyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 trainings in child processes")
	}
	dir := t.TempDir()
	for name, lines := range map[string]int{"train": 400, "valid": 60, "test": 60} {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, "w%d w%d w%d the end\n", i%13, (i*7)%17, (i*3)%11)
		}
		if err := os.WriteFile(filepath.Join(dir, "ptb."+name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	recipe := write("recipe.json", `{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_head": 8, "d_inner": 32, "tgt_len": 8, "mem_len": 8},
 "optimizer": "adam", "lr": 0.003, "clip": 0.25, "max_step": 6, "batch_size": 4, "eval_batch_size": 4}`)
	task := fmt.Sprintf(`"task": {"kind": "lm", "model": "transformer-xl", "data": "ptb", "data_dir": %q, "lm_config": %q, "steps": 4, "train_subset": 600}`, dir, recipe)
	lstm := write("search.json", `{"method": "rl", "budget": 2, "parallel": 1, "samples_per_update": 2, "top_k": 2, `+task+`}`)
	tfm := write("search-transformer.json", `{"method": "rl", "budget": 2, "parallel": 1, "samples_per_update": 2, "top_k": 2,
 "controller": {"kind": "transformer", "layers": 1, "heads": 2, "width": 16}, `+task+`}`)
	study := write("study.json", fmt.Sprintf(`{"search": %q, "methods": ["rl", "random"], "search_seeds": [1],
 "grid": {"dropout": [0.2], "dropatt": [0, 0.1], "variational": [0.2]},
 "reward_noise": {"top": 1, "seeds": [2]},
 "final": {"kind": "lm", "model": "transformer-xl", "data": "ptb", "data_dir": %q, "lm_config": %q, "steps": 6, "train_subset": 1200, "seeds": [1, 2]},
 "parallel": 1,
 "variants": [{"name": "transformer", "search": %q, "methods": ["rl"], "final": true}]}`, lstm, dir, recipe, tfm))

	t.Setenv(asCommandEnv, "1") // the children: this binary as the command
	out := filepath.Join(dir, "run")
	stdout := captureStdout(t, func() error {
		return runExperiment([]string{"--config", study, "--out", out, "--binary", os.Args[0]})
	})
	if !strings.Contains(stdout, "experiment: 100% of the plan's") {
		t.Errorf("the experiment did not finish its plan:\n%s", stdout)
	}

	// The final comparison: every row, every seed, a test perplexity, on
	// the final task's share of the text.
	for _, label := range []string{"none", "dropout", "variational", "autodropout-best", "random-best", "transformer-rl-best"} {
		for _, seed := range []int{1, 2} {
			d := filepath.Join(out, "final", label, fmt.Sprintf("seed-%d", seed))
			r, err := trial.ReadResult(d)
			if err != nil {
				t.Errorf("final %s seed %d: %v", label, seed, err)
				continue
			}
			if r.TestPPL == nil || r.TrainTokens != 1200 || r.Steps != 6 {
				t.Errorf("final %s seed %d: test ppl %v, %d training tokens, %d steps; want a test perplexity, 1200 and 6", label, seed, r.TestPPL, r.TrainTokens, r.Steps)
			}
		}
	}
	// The grid tunes on validation alone; the reward-noise stage trains
	// at the trials' settings (their share of the text, their steps).
	grid, _ := filepath.Glob(filepath.Join(out, "grid", "*", "*", "result.json"))
	noise, _ := filepath.Glob(filepath.Join(out, "noise", "*", "*", "result.json"))
	if len(grid) != 4 || len(noise) != 8 {
		t.Errorf("%d grid and %d reward-noise results, want 4 (dropout and variational × dropatt 0 and 0.1) and 8 (none, dropout, variational × 2 seeds; 2 patterns)", len(grid), len(noise))
	}
	for _, f := range append(grid, noise...) {
		r, err := trial.ReadResult(filepath.Dir(f))
		want := 1200
		if strings.Contains(f, "/noise/") {
			want = 600
		}
		if err != nil || r.TestPPL != nil || r.TrainTokens != want {
			t.Errorf("%s: err %v, test ppl %v, %d training tokens; want no test set and %d tokens", f, err, r.TestPPL, r.TrainTokens, want)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"test perplexity (lower is better)", "| `transformer-rl-best` | `autodropout-best` |", "| `autodropout-best` | `random-best` |"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
