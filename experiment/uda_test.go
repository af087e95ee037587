package experiment

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A semi-supervised experiment without searches: a UDA grid, the
// supervised row on the labeled subset alone, the UDA baselines and a
// fixed pattern, each training given the final's mode but the
// supervised row; the plan counts UDA's unlabeled batches.
func TestSemiSupervisedExperiment(t *testing.T) {
	dir := t.TempDir()
	args := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "fake-autodropout")
	os.WriteFile(fake, []byte(`#!/bin/sh
[ "$1" = version ] && { echo "autodropout fake"; exit 0; }
echo "$*" >> `+args+`
while [ $# -gt 0 ]; do
  case "$1" in --out) OUT=$2;; esac
  shift
done
mkdir -p "$OUT"
echo "{\"val_acc\": 0.8, \"test_acc\": 0.8, \"steps\": 4, \"examples\": 256, \"wall_s\": 0.1, \"cpu_s\": 0.1, \"regularizer\": \"x\"}" > "$OUT/result.json"
`), 0o755)
	pattern := filepath.Join(dir, "p.json")
	os.WriteFile(pattern, []byte(`{"patterns": []}`), 0o644)
	cfg, err := ParseConfig([]byte(`{"search": "", "supervised": true, "patterns": [{"name": "fixed", "file": "` + pattern + `"}],
		"grid": {"dropout": [0.1], "spatial": [0.05]},
		"final": {"model": "wrn-16-2", "epochs": 20, "batch_size": 32, "labeled_per_class": 100, "semi": "uda", "uda_ratio": 5, "seeds": [1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.finalLabels(), []string{"supervised", "none", "dropout", "spatial", "fixed"}; !slices.Equal(got, want) {
		t.Errorf("final labels %v, want %v", got, want)
	}
	var b strings.Builder
	if _, err := Run(context.Background(), cfg, Settings{Out: filepath.Join(dir, "run"), Binary: fake, Progress: &b}); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	raw, _ := os.ReadFile(args)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2+5*2 {
		t.Fatalf("%d trainings, want 2 grid and 10 final:\n%s", len(lines), raw)
	}
	for _, l := range lines {
		uda := strings.Contains(l, "--labeled-per-class 100 --semi uda --uda-ratio 5")
		supervised := strings.Contains(l, "/final/supervised/")
		switch {
		case !strings.Contains(l, "--labeled-per-class 100"):
			t.Errorf("a training without the labeled subset: %s", l)
		case supervised && (uda || strings.Contains(l, "--semi") || !strings.Contains(l, "--regularizer none")):
			t.Errorf("the supervised row trains UDA or a regularizer: %s", l)
		case !supervised && !uda:
			t.Errorf("a UDA row trains without UDA: %s", l)
		case strings.Contains(l, "/final/fixed/") && !strings.Contains(l, "--pattern "+pattern):
			t.Errorf("the fixed pattern's row lacks it: %s", l)
		}
	}
	if strings.Contains(b.String(), "searches of") {
		t.Errorf("an experiment without a search configuration ran a search stage:\n%s", b.String())
	}

	var plan strings.Builder
	scfg, err := cfg.SearchConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePlan(&plan, cfg, scfg, nil, 1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"supervised, none, dropout, spatial, fixed", "640 UDA steps × 160 unlabeled images (μ 5",
		"one supervised run:", "uda (100 labeled per class, μ 5"} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan.String())
		}
	}
}

func TestSemiSupervisedConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"supervised": true, "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "supervised row needs a semi-supervised final"},
		{`{"search_seeds": [1], "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "without a search configuration"},
		{`{"reward_noise": {"seeds": [2]}, "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "without a search configuration"},
		{`{"patterns": [{"name": "none", "file": "p.json"}], "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, `patterns[0].name "none"`},
		{`{"patterns": [{"name": "x-best", "file": "p.json"}], "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, `patterns[0].name "x-best"`},
		{`{"patterns": [{"name": "x"}], "final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3}}`, "patterns[0]: want a pattern file"},
		{`{"final": {"seeds": [1], "drop_rate": 0.1, "block_size": 3, "semi": "uda"}}`, "--semi uda needs --labeled-per-class"},
	} {
		if _, err := ParseConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.json, err, tc.want)
		}
	}
}
