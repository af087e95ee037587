package main

import (
	"encoding/json"
	"github.com/autodropout/autodropout/bench"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A tiny run of every section writes a JSON report with a row per variant,
// positive times, ratios against none, and the parameter counts.
func TestBenchWritesReport(t *testing.T) {
	dir := toyData(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	err := runBench([]string{"--models", "wrn-10-1@1x28x28,transformer-xl", "--batch", "4", "--steps", "2", "--warmup", "0",
		"--threads", "1", "--vocab", "50", "--data-dir", dir, "--json", out,
		"--pattern", "../../configs/patterns/wrn-16-2-hand.json",
		"--lm-config", "../../configs/transformer-xl-small.json", "--lm-pattern", "../../configs/transformer-xl-patterns-hand.json"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Step {
		got = append(got, r.Model+"/"+r.Variant)
		if r.OursMS <= 0 || len(r.OursAll) != 2 || r.OursNone <= 0 {
			t.Errorf("%s/%s: median %v ms of %v, ratio %v", r.Model, r.Variant, r.OursMS, r.OursAll, r.OursNone)
		}
		if r.Variant == "none" && r.OursNone != 1 {
			t.Errorf("%s: none is %v× none", r.Model, r.OursNone)
		}
		if r.Variant != "none" && r.Sites == 0 {
			t.Errorf("%s/%s: on no site", r.Model, r.Variant)
		}
	}
	want := []string{"wrn-10-1@1x28x28/none", "wrn-10-1@1x28x28/dropout", "wrn-10-1@1x28x28/dropblock", "wrn-10-1@1x28x28/pattern",
		"transformer-xl/none", "transformer-xl/dropout", "transformer-xl/pattern"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// WRN-10-1 has one block per group: the hand file's first three sites.
	if len(rep.Mask) != 3 {
		t.Errorf("%d mask shapes, want 3 (one per group)", len(rep.Mask))
	}
	if rep.Loader == nil || rep.Loader.LoaderPerS <= 0 || rep.Loader.FedSteps != 2 {
		t.Errorf("loader result %+v", rep.Loader)
	}
	if c := rep.Controller; c == nil || c.Sites != 7 || c.SampleMS <= 0 || c.UpdateMS <= 0 {
		t.Errorf("controller result %+v", c)
	}
	if rep.Machine.Cores < 1 || rep.Machine.Threads != 1 {
		t.Errorf("machine %+v", rep.Machine)
	}
}

// Without a usable Python the comparison is skipped with its reason, and
// the run goes on.
func TestBenchWithoutPyTorch(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	err := runBench([]string{"--models", "wrn-10-1@1x8x8", "--batch", "2", "--steps", "1", "--warmup", "0", "--threads", "1",
		"--skip", "mask,loader,controller,images", "--pytorch", "--python", filepath.Join(t.TempDir(), "no-python"), "--json", out,
		"--pattern", "../../configs/patterns/wrn-16-2-hand.json"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	var rep bench.Report
	json.Unmarshal(b, &rep)
	if !strings.HasPrefix(rep.PyTorch, "skipped: ") || len(rep.Step) != 4 || rep.Step[0].TorchMS != nil {
		t.Errorf("pytorch %q, %d rows", rep.PyTorch, len(rep.Step))
	}
}

func TestParseBenchFlags(t *testing.T) {
	for _, args := range [][]string{{"--steps", "0"}, {"--skip", "everything"}, {"extra"}} {
		if _, err := parseBenchFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	f, err := parseBenchFlags([]string{"--skip", "mask, loader"})
	if err != nil || !f.Skip["mask"] || !f.Skip["loader"] || f.Skip["step"] {
		t.Errorf("skip %v, %v", f.Skip, err)
	}
}

// With --precision fp32,bf16 every variant runs in both precisions: each
// row names its precision, and the bf16 rows carry their ratio to the
// fp32 step of the same variant.
func TestBenchPrecisions(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	err := runBench([]string{"--models", "wrn-10-1@1x8x8", "--batch", "2", "--steps", "2", "--warmup", "0", "--threads", "1",
		"--skip", "mask,loader,controller,images", "--precision", "fp32,bf16", "--variants", "pattern", "--json", out,
		"--pattern", "../../configs/patterns/wrn-16-2-hand.json"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Step {
		got = append(got, r.Variant+"/"+r.Precision)
		if (r.Precision == "bf16") != (r.OursFP32 != nil) {
			t.Errorf("%s/%s: ratio to fp32 %v", r.Variant, r.Precision, r.OursFP32)
		}
		if r.Variant == "none" && r.OursNone != 1 {
			t.Errorf("%s/%s: none is %v× none (of its own precision)", r.Variant, r.Precision, r.OursNone)
		}
	}
	want := []string{"none/fp32", "pattern/fp32", "none/bf16", "pattern/bf16"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	if _, err := parseBenchFlags([]string{"--precision", "fp16"}); err == nil {
		t.Error("--precision fp16 accepted on the CPU")
	}
}
