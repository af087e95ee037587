package trial

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestTrainLMSplitErrors gives train --task lm corpora whose splits cannot
// be evaluated: each must fail before training, naming the split.
func TestTrainLMSplitErrors(t *testing.T) {
	long := strings.Repeat("a b c d e f g h\n", 100) // 900 tokens
	for _, tc := range []struct {
		name, train, valid, test string
		err                      string
	}{
		{"empty validation file", long, "", long, "ptb.valid.txt: no tokens"},
		{"empty test file", long, long, "", "ptb.test.txt: no tokens"},
		{"validation too short for 10 streams", long, "a b c\n", long, "validation split of ptb has 4 tokens, too few for 10 streams"},
		{"training too short for 16 streams", "a b c d e f g h\n", long, long, "training split of ptb has 9 tokens, too few for 16 streams"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, s := range map[string]string{"train": tc.train, "valid": tc.valid, "test": tc.test} {
				if err := os.WriteFile(filepath.Join(dir, "ptb."+name+".txt"), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := t.TempDir()
			err := runTrain([]string{"--task", "lm", "--data", "ptb", "--data-dir", dir, "--threads", "1",
				"--config", filepath.Join("..", "configs", "transformer-xl-small.json"), "--steps", "1", "--out", out})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one saying %q", err, tc.err)
			}
			if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
				t.Error("result.json written for a refused corpus")
			}
		})
	}
}

// A corpus of one's own (--data text) trains, with its vocabulary
// counted at --min-count; the corpora whose files give the vocabulary
// refuse --min-count.
func TestTrainLMText(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "w%d w%d w%d the end\n", i%13, (i*7)%17, i%5)
	}
	for _, name := range []string{"train", "valid", "test"} {
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	recipe := filepath.Join("..", "configs", "transformer-xl-small.json")
	if err := runTrain([]string{"--task", "lm", "--data", "text", "--data-dir", dir, "--min-count", "1", "--threads", "1",
		"--config", recipe, "--steps", "2", "--out", out}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dataset != "text" || r.Vocab != 2+17+2 || r.TestPPL == nil { // <eos>, <unk>, w0–w16, the, end
		t.Errorf("result: dataset %q, vocabulary %d, test ppl %v", r.Dataset, r.Vocab, r.TestPPL)
	}
	// Patterns on the position embedding ((M+T)×D) and the last output,
	// the kinds outside the default space.
	pat := filepath.Join(dir, "pattern.json")
	os.WriteFile(pat, []byte(`[{"sites": "^pos_emb$", "pattern": {"size": 2, "stride": 1, "repeat": 4, "noise": "zero"}},
		{"sites": "^out$", "pattern": {"size": 1, "stride": 2, "repeat": 8, "noise": "gaussian", "sigma": 0.5, "per_feature": true}}]`), 0o644)
	if err := runTrain([]string{"--task", "lm", "--data", "text", "--data-dir", dir, "--threads", "1", "--config", recipe, "--steps", "2", "--pattern", pat}); err != nil {
		t.Errorf("patterns on pos_emb and out: %v", err)
	}
	err = runTrain([]string{"--task", "lm", "--data", "ptb", "--data-dir", dir, "--min-count", "3", "--config", recipe, "--steps", "1"})
	if err == nil || !strings.Contains(err.Error(), "--min-count 3: only --data fortunes and text") {
		t.Errorf("--min-count with ptb: %v", err)
	}
}

// TestTrainLMStopResume: a language-model run stopped with --stop-step
// and continued with --resume-state ends as the unbroken run does; the
// rung evaluates validation only; a state of another run is refused.
// The test stays on one OS thread, as the command does (main.go's init).
func TestTrainLMStopResume(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "w%d w%d w%d the end\n", i%13, (i*7)%17, i%5)
	}
	for _, name := range []string{"train", "valid", "test"} {
		if err := os.WriteFile(filepath.Join(dir, "ptb."+name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recipe := filepath.Join(dir, "recipe.json")
	os.WriteFile(recipe, []byte(`{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_head": 8, "d_inner": 32, "tgt_len": 8, "mem_len": 8, "dropout": 0.2},
 "optimizer": "adam", "lr": 0.003, "clip": 0.25, "max_step": 8, "batch_size": 4, "eval_batch_size": 4}`), 0o644)
	state := filepath.Join(t.TempDir(), "rung.state")
	train := func(out string, extra ...string) (map[string]any, error) {
		args := append([]string{"--task", "lm", "--data", "ptb", "--data-dir", dir, "--threads", "1", "--config", recipe,
			"--regularizer", "dropout", "--eval-tokens", "400", "--out", out}, extra...)
		if err := runTrain(args); err != nil {
			return nil, err
		}
		var res map[string]any
		raw, err := os.ReadFile(filepath.Join(out, "result.json"))
		if err == nil {
			err = json.Unmarshal(raw, &res)
		}
		return res, err
	}
	whole, err := train(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rung, err := train(t.TempDir(), "--stop-step", "3", "--save-state", state)
	if err != nil {
		t.Fatal(err)
	}
	if rung["steps"] != 3.0 || rung["steps_planned"] != 8.0 || rung["test_ppl"] != nil || rung["val_ppl"] == nil {
		t.Errorf("rung result %v: want 3 of 8 steps, a validation perplexity and no test", rung)
	}
	resumed, err := train(t.TempDir(), "--resume-state", state)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"val_ppl", "test_ppl", "train_loss", "steps", "tokens"} {
		if resumed[k] != whole[k] {
			t.Errorf("%s: %v resumed, %v unbroken", k, resumed[k], whole[k])
		}
	}
	if resumed["resumed_from"] != state {
		t.Errorf("resumed_from %v, want %s", resumed["resumed_from"], state)
	}
	if _, err := train(t.TempDir(), "--stop-step", "9"); err == nil || !strings.Contains(err.Error(), "--stop-step 9: want 0 (all) to the run's 8 steps") {
		t.Errorf("--stop-step beyond the run: %v", err)
	}
	if _, err := train(t.TempDir(), "--resume-state", state, "--seed", "2"); err == nil || !strings.Contains(err.Error(), "seed is \"1\" there, \"2\" here") {
		t.Errorf("resume with another seed: %v, want a refusal naming the seed", err)
	}
	// Another option: the error names it, with both values.
	_, err = train(t.TempDir(), "--resume-state", state, "--drop-rate", "0.3")
	if err == nil || !strings.Contains(err.Error(), "options: --drop-rate 0.3 now, absent then") {
		t.Errorf("resume with another rate: %v, want a refusal naming --drop-rate", err)
	}
}

// TestTrainLMKJV trains two steps on the King James corpus, prepared on
// first use into --data-dir (Debian's bible-kjv packages, which make setup
// installs), and checks that the result names it and its vocabulary.
func TestTrainLMKJV(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir, out := t.TempDir(), t.TempDir()
	recipe := filepath.Join(dir, "recipe.json")
	os.WriteFile(recipe, []byte(`{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_head": 8, "d_inner": 32, "tgt_len": 8, "mem_len": 8},
 "optimizer": "adam", "lr": 0.003, "clip": 0.25, "max_step": 2, "batch_size": 4, "eval_batch_size": 4}`), 0o644)
	err := runTrain([]string{"--task", "lm", "--data", "kjv", "--data-dir", filepath.Join(dir, "kjv"), "--threads", "1",
		"--config", recipe, "--eval-tokens", "100", "--out", out, "--progress", "1h"})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Dataset string
		Vocab   int
	}
	raw, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err == nil {
		err = json.Unmarshal(raw, &res)
	}
	if err != nil || res.Dataset != "kjv" || res.Vocab != 10000 {
		t.Errorf("result %+v (%v): want dataset kjv, vocabulary 10000", res, err)
	}
	for _, n := range []string{"train", "valid", "test"} {
		if _, err := os.Stat(filepath.Join(dir, "kjv", "kjv."+n+".txt")); err != nil {
			t.Error(err)
		}
	}
}

// TestTrainLMRatesAndCurve: --drop-rate and --dropatt set the reference
// dropout's rates over the recipe's and are recorded, --curve-every
// records the learning curve, --train-subset keeps the first tokens of
// the training split, and the rates are refused with a regularizer that
// does not read them.
func TestTrainLMRatesAndCurve(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "w%d w%d w%d the end\n", i%13, (i*7)%17, i%5)
	}
	for _, name := range []string{"train", "valid", "test"} {
		if err := os.WriteFile(filepath.Join(dir, "ptb."+name+".txt"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recipe := filepath.Join(dir, "recipe.json")
	os.WriteFile(recipe, []byte(`{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_head": 8, "d_inner": 32, "tgt_len": 8, "mem_len": 8},
 "optimizer": "adam", "lr": 0.003, "clip": 0.25, "max_step": 5, "batch_size": 4, "eval_batch_size": 4}`), 0o644)
	base := []string{"--task", "lm", "--data", "ptb", "--data-dir", dir, "--threads", "1", "--config", recipe, "--eval-tokens", "400", "--progress", "1h"}
	out := t.TempDir()
	if err := runTrain(append(base, "--regularizer", "dropout", "--drop-rate", "0.3", "--dropatt", "0.2", "--curve-every", "2", "--out", out)); err != nil {
		t.Fatal(err)
	}
	r, err := ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, p := range r.LMCurve {
		steps = append(steps, p.Step)
	}
	if fmt.Sprint(steps) != "[2 4 5]" || r.DropRate != 0.3 || r.DropAtt != 0.2 {
		t.Errorf("curve at steps %v, rates %v/%v: want [2 4 5], 0.3/0.2", steps, r.DropRate, r.DropAtt)
	}
	if r.TrainTokens != 1800 { // 300 lines of 5 words and <eos>
		t.Errorf("train_tokens %d, want the whole split's 1800", r.TrainTokens)
	}
	// --train-subset keeps the first tokens of the training split; too few
	// for the batch's streams is refused naming the flag.
	out = t.TempDir()
	if err := runTrain(append(base, "--regularizer", "none", "--train-subset", "600", "--steps", "1", "--out", out)); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadResult(out); err != nil || r.TrainTokens != 600 {
		t.Errorf("--train-subset 600: train_tokens %d (%v), want 600", r.TrainTokens, err)
	}
	err = runTrain(append(base, "--regularizer", "none", "--train-subset", "5", "--steps", "1", "--out", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "--train-subset 5") || !strings.Contains(err.Error(), "too few") {
		t.Errorf("--train-subset 5: %v, want a refusal naming the flag", err)
	}
	err = runTrain(append(base, "--regularizer", "none", "--dropatt", "0.2", "--out", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "--dropatt") {
		t.Errorf("--dropatt with no regularizer: %v, want a refusal naming the flag", err)
	}
}
