package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// A language-model search runs through the same machinery: its trials
// carry Transformer pattern files, one entry per sublayer expression.
func TestTransformerSearch(t *testing.T) {
	space := TransformerSpace{autodropout.DefaultTransformerSpace()}
	sites := []string{`^emb$`, `\.ff\.hidden$`}
	seen := 0
	exec := ExecutorFunc(func(ctx context.Context, tr Trial) Result {
		p := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(p, tr.Patterns, 0o644); err != nil {
			return Result{Err: err}
		}
		ps, err := autodropout.ReadTransformerPatterns(p)
		if err != nil {
			return Result{Err: err}
		}
		if len(ps) != 2 || ps[0].Sites != sites[0] || ps[1].Sites != sites[1] {
			return Result{Err: fmt.Errorf("pattern file for other sites: %s", tr.Patterns)}
		}
		for i, sp := range ps {
			want, err := space.Pattern(tr.Choices[i])
			if err != nil || want != sp.Pattern {
				t.Errorf("trial %d site %s: pattern %+v, choices give %+v (%v)", tr.ID, sp.Sites, sp.Pattern, want, err)
			}
		}
		seen++
		// Lower perplexity for small sizes on the embedding.
		ppl := 60 + 5*float64(ps[0].Pattern.Size)
		return Result{Reward: 80 / ppl, Metrics: map[string]float64{"val_ppl": ppl}}
	})
	for _, method := range []string{"rl", "random"} {
		out := t.TempDir()
		cfg := Config{Method: method, Budget: 6, Parallel: 1, SamplesPerUpdate: 3, Task: Task{Kind: "lm"}}.WithDefaults()
		s := &Search{Config: cfg, Sites: sites, Space: space, Executor: exec, Out: out}
		sum, err := s.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Finished != 6 || sum.Failures != 0 {
			t.Fatalf("%s: summary %+v", method, sum)
		}
		tops, _ := filepath.Glob(filepath.Join(out, "top", "*.json"))
		if len(tops) != 5 {
			t.Fatalf("%s: top/ has %d files", method, len(tops))
		}
		if _, err := autodropout.ReadTransformerPatterns(tops[0]); err != nil {
			t.Errorf("%s: top pattern: %v", method, err)
		}
	}
	if seen != 12 {
		t.Errorf("executor saw %d trials, want 12", seen)
	}
}

// A task's Spec carries its options, and only those (the trial's
// defaults fill the rest).
func TestTaskSpec(t *testing.T) {
	for _, tc := range []struct {
		task Task
		want string
	}{
		{Config{}.WithDefaults().Task, "--model convnet --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05"},
		{Config{Task: Task{ValFrac: 0.05, PerClass: 85, ImageSize: 160, Device: "cuda", TrainSubset: 9}}.WithDefaults().Task,
			"--model convnet --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05 --train-subset 9 --val-frac 0.05 --image-size 160 --per-class 85 --device cuda"},
		{Config{Task: Task{Augment: new(bool)}}.WithDefaults().Task,
			"--model convnet --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05 --augment=false"},
		{Config{Task: Task{RandAugment: true, RAOps: 3, RAMagnitude: 5}}.WithDefaults().Task,
			"--model convnet --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05 --randaugment --ra-ops 3 --ra-magnitude 5"},
		{Config{Task: Task{Device: "cuda", Nproc: 4, BatchSize: 64}}.WithDefaults().Task,
			"--model convnet --data fashion-mnist --epochs 1 --batch-size 64 --lr 0.05 --device cuda --nproc 4"},
		{Config{Task: Task{Optimizer: "rmsprop", LRSchedule: "exponential", WarmupEpochs: 5}}.WithDefaults().Task,
			"--model convnet --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05 --optimizer rmsprop --lr-schedule exponential --warmup-epochs 5"},
		{Config{Task: Task{Kind: "lm", Steps: 50, EvalTokens: 2000, DataDir: "/d"}}.WithDefaults().Task,
			"--task lm --model transformer-xl --data fortunes --data-dir /d --config configs/transformer-xl-small.json --steps 50 --eval-tokens 2000"},
		{Config{Task: Task{Kind: "lm", Data: "kjv", TrainSubset: 33333}}.WithDefaults().Task,
			"--task lm --model transformer-xl --data kjv --train-subset 33333 --config configs/transformer-xl-small.json"},
	} {
		if got := tc.task.Spec().String(); got != tc.want {
			t.Errorf("args %q, want %q", got, tc.want)
		}
	}
	if err := (Config{Task: Task{Kind: "rank"}}).WithDefaults().Check(); err == nil || !strings.Contains(err.Error(), "task.kind") {
		t.Errorf("kind rank: err %v", err)
	}
}

// A space file with the off token: every site's proposal gains a ninth
// decision, and a choice of true writes "off": true to the pattern file
// that train reads.
func TestOffTokenSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "space.json")
	os.WriteFile(path, []byte(`{"off": [false, true]}`), 0o644)
	space, sites, err := SpaceFor(Config{SearchSpace: path, Task: Task{Model: "convnet", Data: "fashion-mnist", SitesRegexp: DefaultSitesRegexp}})
	if err != nil {
		t.Fatal(err)
	}
	toks := space.Tokens()
	if len(toks) != 9 || toks[8].Name != "off" {
		t.Fatalf("tokens %v, want off as the ninth", toks)
	}
	choices := make([][]int, len(sites))
	for i := range choices {
		choices[i] = make([]int, 9)
		choices[i][8] = i % 2
	}
	raw, err := space.PatternFile(sites, choices)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := autodropout.ParsePatterns(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, sp := range ps {
		if sp.Pattern.Off != (i%2 == 1) {
			t.Errorf("site %s: off %v, want %v", sp.Site, sp.Pattern.Off, i%2 == 1)
		}
	}
}
