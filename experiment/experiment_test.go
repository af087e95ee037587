package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

func TestEstimateTask(t *testing.T) {
	const convnetMACs = 4241152 // nn.ForwardMACs("convnet", 1×28×28, 10)
	task := search.Config{Task: search.Task{TrainSubset: 2048}}.WithDefaults().Task
	c, err := EstimateTask(task, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * 2 * float64(convnetMACs) * 2048; c.TrainFLOPs != want {
		t.Errorf("train FLOPs %g, want %g", c.TrainFLOPs, want)
	}
	if want := 2 * float64(convnetMACs) * 6000; c.EvalFLOPs != want {
		t.Errorf("validation FLOPs %g, want %g (6,000 held-out examples)", c.EvalFLOPs, want)
	}
	final, _ := EstimateTask(task, true)
	if want := 2 * float64(convnetMACs) * 16000; final.EvalFLOPs != want {
		t.Errorf("final evaluation FLOPs %g, want %g (validation and test)", final.EvalFLOPs, want)
	}
	if _, err := EstimateTask(search.Task{Model: "convnet", Data: "svhn"}, false); err == nil || !strings.Contains(err.Error(), "svhn") {
		t.Errorf("unknown dataset: err %v", err)
	}
	// A language model's train_subset changes the passes over the text,
	// not the cost: a step is a batch of tokens either way.
	lm := search.Task{Kind: "lm", Model: "transformer-xl", Data: "kjv", LMConfig: "../configs/study/transformer-xl-kjv.json", Steps: 1500}
	whole, err := EstimateTask(lm, false)
	if err != nil {
		t.Fatal(err)
	}
	lm.TrainSubset = 200000
	part, err := EstimateTask(lm, false)
	if err != nil {
		t.Fatal(err)
	}
	if part.TrainFLOPs != whole.TrainFLOPs || !strings.Contains(whole.What, "1.8 passes over 844180 training tokens") || !strings.Contains(part.What, "7.7 passes over 200000 training tokens") {
		t.Errorf("lm: %g FLOPs %q, with train_subset %g FLOPs %q", whole.TrainFLOPs, whole.What, part.TrainFLOPs, part.What)
	}
	// One's own text: its size and vocabulary are read from the files.
	dir := t.TempDir()
	for _, n := range []string{"train", "valid", "test"} {
		os.WriteFile(filepath.Join(dir, n+".txt"), []byte(strings.Repeat("a b c a b a\n", 100)), 0o644)
	}
	text := search.Task{Kind: "lm", Model: "transformer-xl", Data: "text", DataDir: dir, LMConfig: "../configs/transformer-xl-small.json", Steps: 10}
	own, err := EstimateTask(text, true)
	if err != nil || !strings.Contains(own.What, "(vocab 5)") || !strings.Contains(own.What, "over 700 training tokens") { // <eos>, <unk>, a, b, c
		t.Errorf("text: %+v, %v", own, err)
	}
	text.DataDir = t.TempDir()
	if _, err := EstimateTask(text, true); err == nil || !strings.Contains(err.Error(), "train.txt not found") {
		t.Errorf("text without files: %v", err)
	}
}

// EstimateMemory of the ConvNet on Fashion-MNIST, by hand: its
// parameters (3·3·32 and batch norm 2·32, 3·3·32·64 and 2·64, 3136·128+128,
// 128·10+10) as
// float32 weights and gradients, SGD's momentum, and per example three
// 4-byte tensors per output (32·28², 64·14², 128, 10) plus the input;
// RMSProp keeps four buffers.
func TestEstimateMemory(t *testing.T) {
	task := search.Config{Task: search.Task{BatchSize: 8}}.WithDefaults().Task
	m, err := EstimateMemory(task)
	if err != nil {
		t.Fatal(err)
	}
	params := int64(288 + 2*32 + 18432 + 2*64 + 3136*128 + 128 + 1280 + 10)
	acts := 8 * (3*4*int64(32*28*28+64*14*14+128+10) + 4*28*28)
	if m.Params != params || m.Weights != 8*params || m.Optimizer != 4*params || m.Activations != acts || m.ActBytes != 4 {
		t.Errorf("estimate %+v, want %d parameters and %d bytes of activations", m, params, acts)
	}
	task.Optimizer, task.Precision = "rmsprop", "bf16"
	if m, _ := EstimateMemory(task); m.Optimizer != 16*params || m.ActBytes != 2 {
		t.Errorf("rmsprop, bf16: %+v", m)
	}
}

func TestReadExperimentConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ json, err string }{
		{`{"search": "s.json", "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, ""},
		{`{"methods": ["rl"], "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "without a search configuration"},
		{`{"search": "s.json", "final": {"drop_rate": 0.1, "block_size": 3}}`, "seeds"},
		{`{"search": "s.json", "final": {"seeds": [1], "drop_rate": 1.5, "block_size": 3}}`, "drop_rate"},
		{`{"search": "s.json", "final": {"seeds": [1]}, "parralel": 2}`, "unknown field"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}}`, ""},
	} {
		p := filepath.Join(dir, "e.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		c, err := ReadConfig(p)
		if tc.err == "" {
			if err != nil || c.Parallel != 1 || c.Final.Model == "" {
				t.Errorf("%s: %+v, %v", tc.json, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want one naming %s and %q", tc.json, err, p, tc.err)
		}
	}
}

// TestExperimentResumes runs a whole experiment with a fake trainer (a
// shell script writing result.json), then again: the second run trains
// nothing and rewrites the report.
func TestExperimentResumes(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := filepath.Join(dir, "fake-autodropout")
	// Validation accuracy grows with the pattern file's size, so rewards differ.
	os.WriteFile(fake, []byte(`#!/bin/sh
[ "$1" = version ] && { echo "autodropout fake"; exit 0; }
echo run >> `+count+`
PAT=""
while [ $# -gt 0 ]; do
  case "$1" in --out) OUT=$2;; --pattern) PAT=$2;; esac
  shift
done
N=0; [ -n "$PAT" ] && N=$(wc -c < "$PAT")
ACC=0.$(( 5000 + N % 4000 ))
mkdir -p "$OUT"
echo "{\"val_acc\": $ACC, \"test_acc\": $ACC, \"steps\": 4, \"examples\": 256, \"wall_s\": 0.1, \"cpu_s\": 0.1, \"regularizer\": \"x\"}" > "$OUT/result.json"
`), 0o755)
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 4, "parallel": 2, "samples_per_update": 2, "task": {"model": "convnet", "data": "fashion-mnist"}}`), 0o644)
	ecfg := filepath.Join(dir, "experiment.json")
	os.WriteFile(ecfg, []byte(`{"search": "`+scfg+`", "final": {"model": "convnet", "seeds": [1, 2], "drop_rate": 0.1, "block_size": 3}, "parallel": 2}`), 0o644)
	out := filepath.Join(dir, "run")
	cfg, err := ReadConfig(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	run := func() string {
		var b strings.Builder
		if _, err := Run(context.Background(), cfg, Settings{Out: out, Binary: fake, Progress: &b}); err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		return b.String()
	}
	run()
	lines := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "\n")
	}
	if n := lines(); n != 4+4+5*2 {
		t.Fatalf("%d trainings, want 8 trials and 10 final runs", n)
	}
	for _, label := range []string{"none", "dropout", "dropblock", "random-best", "autodropout-best"} {
		if _, err := os.Stat(filepath.Join(out, "final", label, "seed-2", "result.json")); err != nil {
			t.Errorf("final %s: %v", label, err)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "autodropout-best") {
		t.Errorf("report does not mention the best AutoDropout pattern:\n%s", report)
	}
	printed := run()
	if n := lines(); n != 18 {
		t.Errorf("rerun trained %d more models, want none", n-18)
	}
	if !strings.Contains(printed, "already done") {
		t.Errorf("rerun output does not say the final runs are done:\n%s", printed)
	}

	// Moved to another folder, the trainings are still the planned ones
	// (the patterns' paths changed, not the patterns).
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(out, moved); err != nil {
		t.Fatal(err)
	}
	out = moved
	run()
	if n := lines(); n != 18 {
		t.Errorf("a rerun in the moved folder trained %d more models, want none", n-18)
	}
	// With another final learning rate, the old trainings are refused,
	// not counted as done, and nothing is trained.
	changed := cfg
	changed.Final.LR = 0.01
	_, err = Run(context.Background(), changed, Settings{Out: out, Binary: fake, Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "--lr 0.05 then, 0.01 now") || !strings.Contains(err.Error(), "trainings in "+filepath.Join(out, "final")) {
		t.Errorf("changed configuration: %v", err)
	}
	if n := lines(); n != 18 {
		t.Errorf("the refused rerun trained %d models", n-18)
	}
	// Trainings recorded before spec.json existed are taken as they are.
	files, _ := filepath.Glob(filepath.Join(out, "final", "*", "*", SpecFile))
	if len(files) != 10 {
		t.Fatalf("%d spec files, want one per final training", len(files))
	}
	for _, f := range files {
		os.Remove(f)
	}
	if _, err := Run(context.Background(), changed, Settings{Out: out, Binary: fake, Progress: io.Discard}); err != nil {
		t.Errorf("trainings without spec.json: %v", err)
	}
}

func TestArgsDiff(t *testing.T) { // trial.ArgsDiff, as the experiment uses it
	for _, tc := range []struct {
		was, now []string
		want     string
	}{
		{[]string{"--lr", "0.1", "--test=false"}, []string{"--lr", "0.1", "--test=false"}, ""},
		{[]string{"--lr", "0.1"}, []string{"--lr", "0.2", "--randaugment"}, "--lr 0.1 then, 0.2 now; --randaugment now, absent then"},
		{[]string{"--seed", "2", "--warmup-epochs", "-1"}, []string{"--seed", "2"}, "--warmup-epochs -1 then, absent now"},
		{[]string{"--patterns", strings.Repeat("x", 50)}, []string{"--patterns", strings.Repeat("y", 50)}, "--patterns differs"},
	} {
		if got := trial.ArgsDiff(tc.was, tc.now); got != tc.want {
			t.Errorf("ArgsDiff(%q, %q) = %q, want %q", tc.was, tc.now, got, tc.want)
		}
	}
}

// The study's extensions: searches over several seeds and in a subspace,
// and a grid that tunes each baseline on validation accuracy before the
// final runs, which then use the tuned setting.
func TestStudyExperiment(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := filepath.Join(dir, "fake-autodropout")
	// Validation accuracy peaks at drop rate 0.2 and grows with the block
	// size; patterns score by their file's size.
	os.WriteFile(fake, []byte(`#!/bin/sh
[ "$1" = version ] && { echo "autodropout fake"; exit 0; }
echo "$*" >> `+count+`
PAT=""; R=0; B=0; S=1
while [ $# -gt 0 ]; do
  case "$1" in --out) OUT=$2;; --pattern) PAT=$2;; --drop-rate) R=$2;; --block-size) B=$2;; --seed) S=$2;; esac
  shift
done
N=0; [ -n "$PAT" ] && N=$(wc -c < "$PAT")
ACC=$(awk -v r=$R -v b=$B -v n=$N -v s=$S 'BEGIN { d = r - 0.2; if (d < 0) d = -d; printf "%.4f", 0.6 - d + b/100 + (n % 997)/100000 + s/10000 }')
mkdir -p "$OUT"
echo "{\"val_acc\": $ACC, \"test_acc\": $ACC, \"steps\": 4, \"examples\": 256, \"wall_s\": 0.1, \"cpu_s\": 0.1, \"regularizer\": \"x\"}" > "$OUT/result.json"
`), 0o755)
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 2, "parallel": 2, "samples_per_update": 2, "task": {"model": "convnet", "data": "fashion-mnist"}}`), 0o644)
	vcfg := filepath.Join(dir, "search-variant.json")
	os.WriteFile(vcfg, []byte(`{"budget": 3, "parallel": 1, "samples_per_update": 3, "task": {"model": "convnet", "data": "fashion-mnist"}}`), 0o644)
	sub := filepath.Join(dir, "dropblock-like.json")
	os.WriteFile(sub, []byte(`{"repeat": [1], "rotate": [0], "shear_x": [0], "shear_y": [0]}`), 0o644)
	ecfg := filepath.Join(dir, "study.json")
	os.WriteFile(ecfg, []byte(`{"search": "`+scfg+`", "search_seeds": [1, 2],
		"subspaces": [{"name": "dropblock-like", "space": "`+sub+`"}],
		"variants": [{"name": "other", "search": "`+vcfg+`", "methods": ["rl", "random"], "seeds": [3]}],
		"grid": {"dropout": [0.1, 0.2, 0.3], "spatial": [0.2], "dropblock": [0.1, 0.2], "block_sizes": [3, 5]},
		"reward_noise": {"top": 2, "seeds": [1, 7]},
		"final": {"model": "convnet", "seeds": [1, 2]}, "parallel": 2}`), 0o644)
	cfg, err := ReadConfig(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	sc, _ := search.ReadConfig(scfg)
	if err := WritePlan(&plan, cfg, sc, []string{"bn1", "bn2"}, 40); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dropblock-like-rl-best (seed 2, space " + sub, "other-random (seed 3, not retrained):", "baseline grids: 8 trainings", "dropout ×3, spatial ×1, dropblock ×4",
		"reward noise: 12 trainings at the trial's settings without the test set: 8 of the baselines (seeds 1 and [7]), 4 of the best patterns of the searches of seeds [1]",
		"none, dropout, spatial, dropblock, autodropout-best, random-best, dropblock-like-rl-best"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan.String())
		}
	}
	out := filepath.Join(dir, "run")
	var b strings.Builder
	res, err := Run(context.Background(), cfg, Settings{Out: out, Binary: fake, Progress: &b})
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	// Progress through the plan, from the output folder: nothing at the
	// first stage, everything at the report, and a line after each
	// training, not only at each stage.
	for _, want := range []string{"experiment: 0% of the plan's", "experiment: 100% of the plan's", "left at this run's pace"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, b.String())
		}
	}
	lines := strings.Split(b.String(), "\n")
	trainings := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "training ") && !strings.Contains(l, "done, running") {
			trainings++
			if i+1 == len(lines) || !strings.HasPrefix(lines[i+1], "experiment: ") {
				t.Errorf("no progress line after %q", l)
			}
		}
	}
	if trainings < 8 {
		t.Errorf("%d trainings' lines, want the grid's 8 at least:\n%s", trainings, b.String())
	}
	for _, d := range []string{"search-rl-seed1", "search-rl-seed2", "search-random-seed2", "search-dropblock-like-rl-seed1", "search-dropblock-like-rl-seed2",
		"search-other-rl-seed3", "search-other-random-seed3"} {
		if _, err := os.Stat(filepath.Join(out, d, "summary.json")); err != nil {
			t.Errorf("search %s: %v", d, err)
		}
	}
	if len(res.Searches) != 8 || len(res.Grid) != 8 {
		t.Errorf("%d searches and %d grid runs, want 8 and 8", len(res.Searches), len(res.Grid))
	}
	var order []string
	for _, o := range res.Searches {
		order = append(order, filepath.Base(o.Dir))
		if o.Label == "other-rl" && o.Summary.Trials != 3 {
			t.Errorf("the variant's search ran %d trials, want its own budget 3", o.Summary.Trials)
		}
	}
	// Seed by seed: whole seeds of every family first.
	if got, want := strings.Join(order, " "), "search-rl-seed1 search-random-seed1 search-dropblock-like-rl-seed1 search-rl-seed2 search-random-seed2 search-dropblock-like-rl-seed2 search-other-rl-seed3 search-other-random-seed3"; got != want {
		t.Errorf("searches ran in the order\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(out, "final", "other-rl")); err == nil {
		t.Errorf("a variant's best pattern was retrained in the final")
	}
	want := map[string]string{"dropout": "--drop-rate 0.2", "spatial": "--drop-rate 0.2", "dropblock": "--drop-rate 0.2 --block-size 5"}
	for fam, w := range want {
		if got := strings.Join(res.Tuned[fam].Args(), " "); !strings.Contains(got, w) {
			t.Errorf("tuned %s: %q, want %q", fam, got, w)
		}
	}
	calls, _ := os.ReadFile(count)
	var finalDropblock, gridTest int
	for _, l := range strings.Split(string(calls), "\n") {
		if strings.Contains(l, "/final/dropblock/") && strings.Contains(l, "--drop-rate 0.2 --block-size 5") {
			finalDropblock++
		}
		if strings.Contains(l, "/grid/") && !strings.Contains(l, "--test=false") {
			gridTest++
		}
	}
	if finalDropblock != 2 {
		t.Errorf("%d final dropblock runs with the tuned setting, want 2 (one per seed)\n%s", finalDropblock, calls)
	}
	if gridTest != 0 {
		t.Errorf("%d grid runs touched the test set", gridTest)
	}
	// The reward-noise stage: right after the full space's searches of
	// seed 1, every run at the trial's settings without the test set; the
	// baselines with the task's seed 1 and seed 7, the two best patterns
	// of each search with seed 7 only (the journal has seed 1's).
	var noise []string
	afterSeed1, beforeSubspace := -1, -1
	for i, l := range strings.Split(string(calls), "\n") {
		switch {
		case strings.Contains(l, "/noise/"):
			noise = append(noise, l)
			if !strings.Contains(l, "--test=false") {
				t.Errorf("a reward-noise run reads the test set: %s", l)
			}
		case strings.Contains(l, "search-random-seed1/trials/"):
			afterSeed1 = i
		case strings.Contains(l, "search-dropblock-like-rl-seed1/trials/") && beforeSubspace < 0:
			beforeSubspace = i
		}
		if strings.Contains(l, "/noise/") && (i < afterSeed1 || (beforeSubspace >= 0 && i > beforeSubspace)) {
			t.Errorf("reward-noise run at line %d, want after the last trial of search-random-seed1 (line %d) and before the subspace's (%d)", i, afterSeed1, beforeSubspace)
		}
	}
	if len(noise) != 12 {
		t.Errorf("%d reward-noise runs, want 12:\n%s", len(noise), strings.Join(noise, "\n"))
	}
	for _, d := range []string{"none/seed-1", "none/seed-7", "dropblock/seed-7", "search-rl-seed1-top1/seed-7", "search-random-seed1-top2/seed-7"} {
		if _, err := os.Stat(filepath.Join(out, "noise", d, "result.json")); err != nil {
			t.Errorf("reward noise %s: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "noise", "search-rl-seed1-top1", "seed-1")); err == nil {
		t.Errorf("a pattern was retrained with the trial's own seed")
	}
	rep, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"## Reward noise at the trials' settings", "| `search-rl-seed1` | 1 |", "pooled over the 4 groups retrained with two or more seeds (4 degrees of freedom"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, l := range []string{"spatial", "dropblock-like-rl-best", "random-best", "autodropout-best"} {
		if _, err := os.Stat(filepath.Join(out, "final", l, "seed-1", "result.json")); err != nil {
			t.Errorf("final %s: %v", l, err)
		}
	}
}

func TestReadConfigStudyFields(t *testing.T) {
	dir := t.TempDir()
	base := `"search": "s.json", "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}`
	for _, tc := range []struct{ json, err string }{
		{`{` + base + `, "methods": ["rl", "grid"]}`, "methods"},
		{`{` + base + `, "search_seeds": [1, 1]}`, "search_seeds"},
		{`{` + base + `, "search_seeds": [0, 1]}`, "search_seeds: seed 0 stands for the default seed 1"},
		{`{` + base + `, "subspaces": [{"name": "../x", "space": "a.json"}]}`, "subspaces[0].name"},
		{`{` + base + `, "subspaces": [{"name": "a"}]}`, "subspaces[0]: want a search-space file (space)"},
		{`{` + base + `, "subspaces": [{"name": "a", "space": "a.json"}, {"name": "a", "space": "b.json"}]}`, "used twice"},
		{`{` + base + `, "variants": [{"name": "", "search": "a.json"}]}`, "variants[0].name"},
		{`{` + base + `, "variants": [{"name": "a"}]}`, "variants[0]: want a search configuration file (search)"},
		{`{` + base + `, "variants": [{"name": "a", "search": "a.json", "methods": ["grid"]}]}`, "variants[0].methods"},
		{`{` + base + `, "subspaces": [{"name": "a", "space": "a.json"}], "variants": [{"name": "a", "search": "b.json"}]}`, "used twice"},
		{`{` + base + `, "grid": {"dropout": [0.1], "dropblock": [1.2]}}`, "grid.dropblock"},
		{`{` + base + `, "grid": {"dropout": [], "dropblock": [0.1]}}`, "grid"},
		{`{` + base + `, "grid": {"dropout": [0.1], "dropblock": [0.1], "block_sizes": [0]}}`, "grid.block_sizes"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}, "grid": {"dropout": [0.1], "dropblock": [0.1]}}`, "grid"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}, "grid": {"variational": [0.1]}}`, "grid.dropout: want at least one"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}, "grid": {"dropout": [0.1], "dropatt": [1]}}`, "grid.dropatt"},
		{`{"search": "s.json", "final": {"kind": "lm", "seeds": [1]}, "grid": {"dropout": [0.1], "variational": [0]}}`, "grid.variational"},
		{`{` + base + `, "reward_noise": {"top": 3}}`, "reward_noise.seeds: want at least one"},
		{`{` + base + `, "reward_noise": {"top": -1, "seeds": [2]}}`, "reward_noise.top"},
		{`{` + base + `, "reward_noise": {"seeds": [2, 2]}}`, "reward_noise.seeds: seed 2 listed twice"},
		{`{` + base + `, "reward_noise": {"seeds": [0, 2]}}`, "reward_noise.seeds: seed 0 stands for the default seed 1"},
		{`{` + base + `, "search_seeds": [1, 2], "reward_noise": {"seeds": [2], "search_seeds": [3]}}`, "reward_noise.search_seeds: 3 is not one of"},
	} {
		p := filepath.Join(dir, "e.json")
		os.WriteFile(p, []byte(tc.json), 0o644)
		if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want one naming %q", tc.json, err, tc.err)
		}
	}
}

// A multi-fidelity search's plan counts successive halving: with batches
// of 4, rungs at 1, 3 and 10 of 10 epochs and reduction 3, each batch
// trains 4 trials 1 epoch, 1 trial 2 more and 1 trial 7 more (13 of 40
// epochs) and validates 6 times (of 4).
func TestSearchPlanMultiFidelity(t *testing.T) {
	cfg := search.Config{Method: "rl", Budget: 8, SamplesPerUpdate: 4, Parallel: 1,
		Task:          search.Task{Model: "convnet", Data: "fashion-mnist", Epochs: 10, TrainSubset: 2048, BatchSize: 64},
		MultiFidelity: &search.MultiFidelity{Rungs: []int{1, 3, 10}, Reduction: 3}}
	c, err := EstimateTask(cfg.Task, false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	got, err := SearchPlan(&b, cfg, []string{"bn1"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := 2 * (c.TrainFLOPs*13/10 + 6*c.EvalFLOPs)
	if math.Abs(got-want) > 1e-6*want || !strings.Contains(b.String(), "multi-fidelity: rungs at [1 3 10]") {
		t.Errorf("FLOPs %g, want %g; plan:\n%s", got, want, b.String())
	}
}

// A reward-noise stage that names no search of the experiment is an
// error before anything runs, not a stage silently skipped.
func TestRewardNoiseWithoutItsSearch(t *testing.T) {
	dir := t.TempDir()
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 2, "seed": 1, "task": {"model": "convnet", "data": "fashion-mnist"}}`), 0o644)
	for _, tc := range []struct{ noise, err string }{
		{`{"seeds": [2], "search_seeds": [5]}`, "reward_noise.search_seeds [5]: no search"},
		{`{"seeds": [1]}`, "reward_noise.seeds [1]: want a seed besides the trials' own (1)"},
	} {
		cfg, err := ParseConfig([]byte(`{"search": "` + scfg + `", "reward_noise": ` + tc.noise + `,
			"final": {"model": "convnet", "seeds": [1], "drop_rate": 0.1, "block_size": 3}}`))
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := search.ReadConfig(scfg)
		if err := WritePlan(io.Discard, cfg, sc, []string{"bn1"}, 1); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: plan err %v, want one naming %q", tc.noise, err, tc.err)
		}
		out := filepath.Join(dir, "run")
		_, err = Run(context.Background(), cfg, Settings{Out: out, Binary: "/bin/false"})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want one naming %q", tc.noise, err, tc.err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("the failed experiment wrote %s", out)
		}
	}
}

// Progress counts what the output folder holds: finished trainings
// whole, a search by the share of its budget with an outcome.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	scfg := search.Config{Budget: 4, Task: search.Task{Model: "convnet", Data: "fashion-mnist", TrainSubset: 2048}}.WithDefaults()
	cfg, err := ParseConfig([]byte(`{"search": "s.json", "search_seeds": [1], "methods": ["rl"],
		"grid": {"dropout": [0.1], "dropblock": [0.1], "block_sizes": [3]},
		"final": {"model": "convnet", "train_subset": 2048, "seeds": [1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	searches := cfg.searches(scfg)
	p := newProgress(cfg, scfg, searches, dir)
	if p == nil || len(p.parts) != 2+4+1 { // 2 grid runs, 4 final runs (none, dropout, dropblock, the pattern), 1 search
		t.Fatalf("%d parts, want 7", len(p.parts))
	}
	if got := p.line(); !strings.HasPrefix(got, "experiment: 0% of the plan's") || strings.Contains(got, "left") {
		t.Errorf("nothing done: %q", got)
	}
	os.MkdirAll(filepath.Join(dir, "grid", "dropout-p0.1", "seed-1"), 0o755)
	os.WriteFile(filepath.Join(dir, "grid", "dropout-p0.1", "seed-1", "result.json"), []byte("{}"), 0o644)
	os.MkdirAll(filepath.Join(dir, searches[0].Dir), 0o755)
	j, err := search.OpenFileJournal(filepath.Join(dir, searches[0].Dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	r := 0.5
	for id := range 2 {
		j.Append(search.Event{Type: search.TrialFinished, Trial: &id, Reward: &r})
	}
	j.Close()
	want := p.parts[0].flops + p.parts[6].flops/2
	if got := p.done(); math.Abs(got-want) > 1e-9*want {
		t.Errorf("done %g FLOPs, want %g (a grid run and half the search)", got, want)
	}
	if got := p.line(); !strings.Contains(got, fmt.Sprintf("experiment: %.0f%% of the plan's", 100*want/p.total)) || !strings.Contains(got, "left at this run's pace") {
		t.Errorf("part done: %q", got)
	}
	// A resumed experiment: what was done before it started counts as done,
	// not toward its pace, so no estimate until it has done some work.
	resumed := newProgress(cfg, scfg, searches, dir)
	if got := resumed.line(); !strings.Contains(got, fmt.Sprintf("experiment: %.0f%% of the plan's", 100*want/p.total)) || strings.Contains(got, "left") {
		t.Errorf("resumed: %q", got)
	}
	// The search spends its budget. Without a best pattern (no top/ file)
	// the experiment leaves the pattern's final runs out: they count as
	// done, so a finished experiment reaches 100%.
	j, err = search.OpenFileJournal(filepath.Join(dir, searches[0].Dir, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for id := 2; id < 4; id++ {
		j.Append(search.Event{Type: search.TrialFailed, Trial: &id, Reason: "test"})
	}
	j.Close()
	want = p.parts[0].flops + p.parts[5].flops + p.parts[6].flops
	if got := p.done(); math.Abs(got-want) > 1e-9*want {
		t.Errorf("done %g FLOPs, want %g (a grid run, the search, the pattern's left-out final run)", got, want)
	}
	// With a best pattern, its final run is to train.
	os.MkdirAll(filepath.Join(dir, searches[0].Dir, "top"), 0o755)
	os.WriteFile(filepath.Join(dir, searches[0].Dir, "top", "01-0.5000.json"), []byte("{}"), 0o644)
	want = p.parts[0].flops + p.parts[6].flops
	if got := p.done(); math.Abs(got-want) > 1e-9*want {
		t.Errorf("done %g FLOPs, want %g (a grid run and the search)", got, want)
	}
}

// CheckFiles names the field whose file is missing, and says what the
// paths are relative to.
func TestCheckFiles(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, f := range []string{"s.json", "space.json"} {
		os.WriteFile(f, []byte("{}"), 0o644)
	}
	sub := func(space string) []Subspace {
		return []Subspace{{Name: "a", Space: "space.json"}, {Name: "b", Space: space}}
	}
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{Search: "s.json", Subspaces: sub("space.json"), Variants: []Variant{{Name: "v", Search: "s.json"}}}, ""},
		{Config{Search: "missing.json"}, "search: stat missing.json"},
		{Config{Search: "s.json", Subspaces: sub("nope.json")}, "subspaces[1].space: stat nope.json"},
		{Config{Search: "s.json", Variants: []Variant{{Name: "v", Search: "gone.json"}}}, "variants[0].search: stat gone.json"},
	} {
		err := tc.cfg.CheckFiles()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "relative to the working directory")):
			t.Errorf("%+v: error %v, want %q and what paths are relative to", tc.cfg, err, tc.err)
		}
	}
}

// TestExperimentRefuses: an experiment whose folder another run holds,
// or whose binary is not autodropout, trains nothing and says why.
func TestExperimentRefuses(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fake := filepath.Join(dir, "fake-autodropout")
	os.WriteFile(fake, []byte("#!/bin/sh\n[ \"$1\" = version ] && { echo \"autodropout fake\"; exit 0; }\necho run >> "+count+"\nexit 1\n"), 0o755)
	scfg := filepath.Join(dir, "search.json")
	os.WriteFile(scfg, []byte(`{"budget": 2, "task": {"model": "convnet", "data": "fashion-mnist"}}`), 0o644)
	cfg, err := ParseConfig([]byte(`{"search": "` + scfg + `", "final": {"model": "convnet", "seeds": [1], "drop_rate": 0.1, "block_size": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(dir, "held")
	os.MkdirAll(held, 0o755)
	l, err := runlock.Acquire(held)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, tc := range []struct{ name, out, bin, want string }{
		{"held folder", held, fake, held + " is in use by process " + strconv.Itoa(os.Getpid())},
		{"not autodropout", filepath.Join(dir, "free"), "/bin/echo", "/bin/echo does not answer as autodropout"},
	} {
		_, err := Run(context.Background(), cfg, Settings{Out: tc.out, Binary: tc.bin})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.want)
		}
		if tc.out == held && !errors.Is(err, search.ErrInUse) {
			t.Errorf("%s: err %v does not wrap search.ErrInUse", tc.name, err)
		}
	}
	if _, err := os.Stat(count); err == nil {
		t.Error("a refused experiment trained")
	}
}

// A language model's grid crosses the dropout and variational rates with
// the attention rates, and the tuned settings become the baselines.
func TestLMGrid(t *testing.T) {
	c, err := ParseConfig([]byte(`{"search": "s.json", "final": {"kind": "lm", "seeds": [3, 4]},
		"grid": {"dropout": [0.2, 0.4], "dropatt": [0, 0.1], "variational": [0.3]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range c.gridRuns() {
		names = append(names, g.family+"-"+g.name+" "+strings.Join(g.reg.Args(), " "))
	}
	want := []string{
		"dropout-p0.2-a0 --regularizer dropout --drop-rate 0.2",
		"dropout-p0.2-a0.1 --regularizer dropout --drop-rate 0.2 --dropatt 0.1",
		"dropout-p0.4-a0 --regularizer dropout --drop-rate 0.4",
		"dropout-p0.4-a0.1 --regularizer dropout --drop-rate 0.4 --dropatt 0.1",
		"variational-p0.3-a0 --regularizer variational --drop-rate 0.3",
		"variational-p0.3-a0.1 --regularizer variational --drop-rate 0.3 --dropatt 0.1",
	}
	if !slices.Equal(names, want) {
		t.Errorf("grid runs\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if c.Grid.Seed != 3 {
		t.Errorf("grid seed %d, want the first final seed 3", c.Grid.Seed)
	}
	tuned := map[string]trial.Regularizer{"dropout": {Name: "dropout", DropRate: 0.4, DropAtt: 0.1}}
	var base []string
	for _, r := range c.baselines(tuned) {
		base = append(base, r.label+" "+strings.Join(r.reg.Args(), " "))
	}
	if want := []string{"none --regularizer none", "dropout --regularizer dropout --drop-rate 0.4 --dropatt 0.1", "variational --regularizer variational"}; !slices.Equal(base, want) {
		t.Errorf("baselines %q, want %q", base, want)
	}
}
