package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsLMTask(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{{[]string{"--task", "lm"}, true}, {[]string{"-task=lm"}, true}, {[]string{"--model", "wrn-16-2"}, false}} {
		if got := isLMTask(c.args); got != c.want {
			t.Errorf("isLMTask(%q) = %v", c.args, got)
		}
	}
}

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
			err := runTrainLM([]string{"--task", "lm", "--data", "ptb", "--data-dir", dir, "--threads", "1",
				"--config", filepath.Join("..", "..", "configs", "transformer-xl-small.json"), "--steps", "1", "--out", out})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one saying %q", err, tc.err)
			}
			if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
				t.Error("result.json written for a refused corpus")
			}
		})
	}
}
