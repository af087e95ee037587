package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// No flag's help names its default twice (issue 27: train -h printed
// "-sites … (default: batch-norm outputs) (default \"\\.bn\\d+$|^bn\\d+$\")").
func TestHelpDefaultsOnce(t *testing.T) {
	flagLine := regexp.MustCompile(`^  -\S+`)
	for _, c := range commands {
		var out, errb strings.Builder
		if code := run([]string{c.name, "-h"}, &out, &errb); code != 0 {
			t.Errorf("%s -h: exit %d: %s", c.name, code, errb.String())
			continue
		}
		var name, usage string
		check := func() {
			if n := strings.Count(usage, "(default"); n > 1 {
				t.Errorf("%s -h: flag %s names its default %d times:%s", c.name, name, n, usage)
			}
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if m := flagLine.FindString(line); m != "" {
				check()
				name, usage = m, ""
			}
			usage += "\n" + line
		}
		check()
	}
}

// train's messages say what to do (issue 27's table).
func TestTrainMessages(t *testing.T) {
	dir := toyData(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--data", "cifar10"}, []string{"dataset cifar10 has no default folder", "pass --data-dir DIR", "data_batch_1.bin"}},
		{[]string{"--data", "imagenet"}, []string{"dataset imagenet", "pass --data-dir DIR", "train/ and val/"}},
		{[]string{"--data-dir", dir, "--data", "mnist", "--model", "wrn16-2"}, []string{`(did you mean "wrn-16-2"?)`, "wrn-D-K", "resnet152", "efficientnet-b7"}},
		{[]string{"--data-dir", dir, "--data", "mnist", "--pretrained", filepath.Join("..", "..", "nn", "testdata", "whole_model.pth")},
			[]string{"not a state dict", "save model.state_dict() instead"}},
	} {
		err := runTrain(append([]string{"--threads", "1"}, tc.args...))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("train %v: error %v, want %q", tc.args, err, w)
			}
		}
	}
}

// A model name spelled another way is said once, as its canonical name,
// and EfficientNet trains on 1-channel images (its stem adapts, as
// ResNet's does; it said "efficientnet takes 3-channel images, got 1").
func TestTrainModelSpelling(t *testing.T) {
	dir := toyData(t)
	for _, tc := range []struct{ model, note string }{
		{"resnet-18", "note: --model resnet-18 is resnet18\n"},
		{"efficientnet-b0", ""},
	} {
		out := captureStdout(t, func() error {
			return runTrain([]string{"--data", "mnist", "--data-dir", dir, "--threads", "1", "--model", tc.model,
				"--train-subset", "8", "--batch-size", "8", "--val-frac", "0.5", "--test=false", "--augment=false", "--progress", "1h"})
		})
		if tc.note != "" && strings.Count(out, tc.note) != 1 {
			t.Errorf("--model %s: output does not say %q once:\n%s", tc.model, tc.note, out)
		}
		if tc.note == "" && strings.Contains(out, "note: --model") {
			t.Errorf("--model %s: a note for a canonical name:\n%s", tc.model, out)
		}
	}
}

// autodropout space surveys the maps of --data (issue 27: 32/16/8 even for
// Fashion-MNIST), of --model's sites, or --maps.
func TestSpaceMaps(t *testing.T) {
	for _, tc := range []struct {
		maps, data, model string
		want              [][2]int64
	}{
		{"", "fashion-mnist", "", [][2]int64{{28, 28}, {14, 14}, {7, 7}}},
		{"", "cifar10", "", [][2]int64{{32, 32}, {16, 16}, {8, 8}}},
		{"", "fashion-mnist", "wrn-16-2", [][2]int64{{28, 28}, {14, 14}, {7, 7}}},
		{"", "fashion-mnist", "convnet", [][2]int64{{28, 28}, {14, 14}}},
		{"5x6", "fashion-mnist", "", [][2]int64{{5, 6}}},
	} {
		got, from, err := surveyMaps(tc.maps, tc.data, tc.model)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("surveyMaps(%q, %q, %q) = %v (%s), %v; want %v", tc.maps, tc.data, tc.model, got, from, err, tc.want)
		}
	}
	if _, _, err := surveyMaps("", "svhn", ""); err == nil || !strings.Contains(err.Error(), "fashion-mnist") {
		t.Errorf("--data svhn: %v", err)
	}
	out := captureStdout(t, func() error { return runSpace([]string{"--samples", "20"}) })
	if !strings.Contains(out, "| 28×28 |") || !strings.Contains(out, "| 7×7 |") || strings.Contains(out, "32×32") {
		t.Errorf("space: output:\n%s", out)
	}
}

// The --space and --allow-outside-space hint comes only with a value
// outside the space; a typo in the pattern file gets the line of its key
// and a did-you-mean, and no hint (issue 27: it said "line 30 col 2:
// unknown field \"stide\" (--space FILE names another search space; …)"
// for a key on line 7). Through the command, so that it holds wherever
// the pattern file is read.
func TestPatternFileHint(t *testing.T) {
	data := toyData(t)
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.json")
	os.WriteFile(typo, []byte(strings.Replace(handPattern, `"stride": 1`, `"stide": 1`, 1)+strings.Repeat("\n", 20)), 0o644)
	outside := filepath.Join(dir, "outside.json")
	os.WriteFile(outside, []byte(strings.Replace(handPattern, `"rotate": 90`, `"rotate": 37`, 1)), 0o644)
	const hint = "--space FILE names another search space"
	for _, c := range []struct {
		file, want string
		hint       bool
	}{
		{typo, `line 3 col 41: patterns[1].pattern: unknown field "stide"; did you mean "stride"?`, false},
		{outside, `field "rotate": 37: not in the search space`, true},
	} {
		err := runTrain([]string{"--data", "mnist", "--data-dir", data, "--threads", "1", "--pattern", c.file})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.file, err, c.want)
			continue
		}
		if got := strings.Contains(err.Error(), hint); got != c.hint {
			t.Errorf("%s: error %q: hint shown %v, want %v", c.file, err, got, c.hint)
		}
	}
}
