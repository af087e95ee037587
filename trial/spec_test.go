package trial

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/autodropout/autodropout/distributed"
)

// A Spec's flags read back as the same Spec, and its JSON too.
func TestArgsRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{},
		{Model: "wrn-16-2", Data: "imagenet", DataDir: "/d", Epochs: 3, StopEpoch: 2, BatchSize: 64, LR: 0.1, TrainSubset: 100,
			ValFrac: 0.2, ImageSize: 64, PerClass: 5, NoAugment: true, Curve: true, Pretrained: "w.pth", PretrainedPartial: true,
			Regularizer: Regularizer{Name: "dropblock", DropRate: 0.2, BlockSize: 5, Sites: `^bn1$`},
			Seed:        7, Precision: "bf16", Device: "cuda:1", Threads: 2, Nproc: 2, SkipTest: true, Out: "o", SaveState: "s", ResumeState: "r", Every: time.Hour},
		{ValFrac: -1, Regularizer: Regularizer{Pattern: "p.json", Space: "space.json", AllowOutsideSpace: true}},
		{NoAugment: true, RandAugment: true, RAOps: 3, RAMagnitude: 5},
		{RandAugment: true},
		{Optimizer: "rmsprop", WeightDecay: 1e-5, LRSchedule: "exponential", LRDecay: 0.97, LRDecayEpochs: 2.4, WarmupEpochs: 5},
		{Regularizer: Regularizer{Patterns: json.RawMessage(`{"patterns":[]}`)}},
		{Task: LM, LMConfig: "c.json", Steps: 9, StopStep: 3, Duration: time.Minute, MinCount: 1, EvalTokens: 400,
			Regularizer: Regularizer{Name: "variational"}, Seed: 2},
	} {
		got, err := ParseArgs(s.Args())
		if err != nil {
			t.Errorf("%v: %v", s.Args(), err)
			continue
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("ParseArgs(%q) =\n%+v, want\n%+v", s.Args(), got, s)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
			t.Errorf("JSON %s read back as %+v (%v)", b, back, err)
		}
	}
}

// The zero Spec is the command's defaults; a flag given with its default
// value is the same trial.
func TestDefaults(t *testing.T) {
	z := Spec{}.resolved()
	want := Spec{Task: Classify, Model: "convnet", Data: "fashion-mnist", Regularizer: Regularizer{Name: "none", DropRate: 0.1, BlockSize: 3, Sites: DefaultSites},
		Seed: 1, Precision: "auto", Device: "cpu", Every: 5 * time.Second, Epochs: 1, BatchSize: 128, LR: 0.05, ValFrac: 0.1, ImageSize: 224}
	if !reflect.DeepEqual(z, want) {
		t.Errorf("Spec{} resolves to\n%+v, want\n%+v", z, want)
	}
	lm := Spec{Task: LM}.resolved()
	if lm.Model != "transformer-xl" || lm.Data != "fortunes" || lm.LMConfig != DefaultLMConfig || lm.MinCount != 2 || lm.Epochs != 0 {
		t.Errorf("Spec{Task: lm} resolves to %+v", lm)
	}
	explicit, err := ParseArgs([]string{"--epochs", "1", "--precision", "auto", "--seed", "1", "--val-frac", "0.1", "--test", "--augment"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(explicit.resolved(), z) {
		t.Errorf("explicit defaults resolve to\n%+v, want\n%+v", explicit.resolved(), z)
	}
	none, _ := ParseArgs([]string{"--val-frac", "0"})
	if none.ValFrac >= 0 || none.resolved().ValFrac != 0 {
		t.Errorf("--val-frac 0: ValFrac %v, resolved %v; want none held out", none.ValFrac, none.resolved().ValFrac)
	}
	for _, tc := range []struct {
		args []string
		want float64
	}{
		{nil, 5e-4},
		{[]string{"--optimizer", "rmsprop"}, 1e-5},
		{[]string{"--weight-decay", "0"}, 0},
		{[]string{"--weight-decay", "0", "--optimizer", "rmsprop"}, 0},
		{[]string{"--weight-decay", "1e-3"}, 1e-3},
	} {
		s, err := ParseArgs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseArgs(s.Args())
		if _, wd, _ := s.resolved().recipe(); err != nil || wd != tc.want || back.WeightDecay != s.WeightDecay {
			t.Errorf("%q: weight decay %v, want %v; through Args %v (%v)", tc.args, wd, tc.want, back.WeightDecay, err)
		}
	}
	if p, _ := ParseArgs([]string{"--pattern", "p.json"}); p.resolved().Regularizer.Name != "pattern" {
		t.Errorf("--pattern resolves to regularizer %q", p.resolved().Regularizer.Name)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" when accepted
	}{
		{[]string{"--task", "lm", "--regularizer", "pattern", "--pattern", "p.json"}, ""},
		{[]string{"--task", "vision"}, `--task "vision": want classify or lm`},
		{[]string{"--task", "lm", "--epochs", "3"}, "--epochs: only classify tasks read it, not lm"},
		{[]string{"--steps", "3"}, "--steps: only lm tasks read it, not classify"},
		{[]string{"--task", "lm", "--augment=false"}, "--augment: only classify tasks read it"},
		{[]string{"--task", "lm", "--regularizer", "dropblock"}, `--regularizer "dropblock": want none, dropout, variational or pattern`},
		{[]string{"--task", "lm", "--model", "gpt"}, `model "gpt": want transformer-xl`},
		{[]string{"--pattern", "p.json", "--regularizer", "dropout"}, "choose one"},
		{[]string{"--pattern", "p.json", "--patterns", "{}"}, "give the patterns once"},
		{[]string{"--regularizer", "pattern"}, "needs --pattern"},
		{[]string{"--pretrained-partial"}, "needs --pretrained"},
		{[]string{"--epochs", "-1"}, "--epochs -1: want at least 1"},
		{[]string{"--epochs", "2", "--stop-epoch", "3"}, "--stop-epoch 3: want 0 (all) to --epochs 2"},
		{[]string{"--stop-epoch", "2"}, "--stop-epoch 2: want 0 (all) to --epochs 1"},
		{[]string{"--val-frac", "1"}, "--val-frac 1"},
		{[]string{"--lr", "-1"}, "learning rate -1: want a finite number ≥ 0"},
		{[]string{"--drop-rate", "1"}, "--drop-rate 1"},
		{[]string{"--sites", "("}, "--sites"},
		{[]string{"--precision", "half"}, `--precision: precision "half": want fp32, bf16, fp16 or auto`},
		{[]string{"--device", "tpu"}, `--device "tpu": want cpu, cuda or cuda:N`},
		{[]string{"--device", "cuda:x"}, `--device "cuda:x"`},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--augment", "randaugment"}, "RandAugment is --randaugment"},
		{[]string{"--randaugment", "--ra-ops", "3", "--ra-magnitude", "30"}, ""},
		{[]string{"--ra-ops", "3"}, "--ra-ops 3: a setting of RandAugment, which needs --randaugment"},
		{[]string{"--task", "lm", "--duration", "-1s"}, "--duration -1s: want 0"},
		{[]string{"--optimizer", "adam"}, `--optimizer "adam": want sgd or rmsprop`},
		{[]string{"--lr-schedule", "step"}, `--lr-schedule "step"`},
		{[]string{"--lr-decay", "0.9"}, "--lr-decay 0.9: a setting of --lr-schedule exponential only"},
		{[]string{"--lr-schedule", "exponential", "--lr-decay", "1.5"}, "--lr-decay 1.5"},
		{[]string{"--warmup-epochs", "-1"}, "--warmup-epochs -1"},
		{[]string{"--weight-decay", "-1"}, "want 0 (none) or a decay rate"},
		{[]string{"--weight-decay", "NaN"}, "want 0 (none) or a decay rate"},
		// A baseline's option without the baseline that reads it.
		{[]string{"--drop-rate", "0.3"}, "--drop-rate: only --regularizer dropout, spatial, dropblock read it, and this run's regularizer is none"},
		{[]string{"--regularizer", "dropout", "--block-size", "5"}, "--block-size: only --regularizer dropblock read it"},
		{[]string{"--pattern", "p.json", "--sites", "bn"}, "this run's regularizer is pattern"},
		{[]string{"--regularizer", "dropblock", "--drop-rate", "0.2", "--block-size", "5", "--sites", "bn"}, ""},
		{[]string{"--image-size", "64"}, "--image-size 64: only --data imagenet reads it, not fashion-mnist"},
		{[]string{"--data", "imagenet", "--per-class", "5"}, ""},
		{[]string{"--space", "s.json"}, "--space, --allow-outside-space: only patterns"},
		{[]string{"--pattern", ""}, "--pattern is empty"},
		{[]string{"--patterns", " "}, "empty (want the JSON of a pattern file)"},
		// 0 where 0 stands for the default is refused, not read as it.
		{[]string{"--seed", "0"}, "--seed 0: seeds start at 1, or leave --seed out"},
		{[]string{"--drop-rate", "0.0"}, "--drop-rate 0: want a rate above 0 (--regularizer none drops nothing)"},
		{[]string{"--epochs", "00"}, "--epochs 0: want 1 or more"},
		{[]string{"--task", "lm", "--min-count", "0"}, "--min-count 0"},
		{[]string{"--semi", "uda", "--labeled-per-class", "4", "--uda-weight", "0"}, "--uda-weight 0"},
		{[]string{"--warmup-epochs", "0", "--train-subset", "0", "--threads", "0", "--val-frac", "0"}, ""}, // 0 means none or all
		{[]string{"--task", "lm", "--optimizer", "rmsprop"}, "--optimizer: only classify tasks read it"},
		{[]string{"--randaugment", "--ra-magnitude", "31"}, "--ra-magnitude 31: want a magnitude bin in 1..30"},
		{[]string{"--randaugment", "--ra-ops", "-1"}, "--ra-ops -1"},
		{[]string{"--task", "lm", "--randaugment"}, "--randaugment: only classify tasks read it"},
	} {
		_, err := ParseArgs(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A state's identity is what earlier versions of `autodropout train`
// computed for the same flags, so a rung state saved before still
// resumes. The hashes were computed with that code.
func TestIdentityUnchanged(t *testing.T) {
	dir := t.TempDir()
	pat := filepath.Join(dir, "pat.json")
	os.WriteFile(pat, []byte(`{"patterns": []}`), 0o644)
	s, _ := ParseArgs([]string{"--pattern", pat, "--epochs", "3", "--val-frac", "0"})
	id, err := s.resolved().classifyIdentity("abc", "bf16", 1)
	if err != nil || id["flags"] != "84c4c34026ecac546e35f77d0617f427ed136d0542c934ad7dc7f256a35e4804" || id["epochs"] != "3" || id["seed"] != "1" {
		t.Errorf("classify identity %v, %v", id, err)
	}
	s, _ = ParseArgs([]string{"--regularizer", "dropblock", "--augment=false", "--lr", "0.1"})
	if id, _ := s.resolved().classifyIdentity("", "fp32", 1); id["flags"] != "a5745ff1fd6e2a0372a6760acca13fa6fdf773bbe2f054e774fbad8492cd3abd" {
		t.Errorf("classify identity %v", id)
	}
	// RandAugment is another trial, and its settings count.
	ra, _ := ParseArgs([]string{"--regularizer", "dropblock", "--augment=false", "--lr", "0.1", "--randaugment"})
	raID, _ := ra.resolved().classifyIdentity("", "fp32", 1)
	ra.RandAugment = false
	base, _ := ra.resolved().classifyIdentity("", "fp32", 1)
	ra.RandAugment, ra.RAMagnitude = true, 10
	ra10, _ := ra.resolved().classifyIdentity("", "fp32", 1)
	if raID["flags"] == base["flags"] || raID["flags"] == ra10["flags"] || base["flags"] != "a5745ff1fd6e2a0372a6760acca13fa6fdf773bbe2f054e774fbad8492cd3abd" {
		t.Errorf("RandAugment's identities %v and %v (magnitude 10) and without it %v: want three", raID, ra10, base)
	}
	// SGD's recipe said explicitly is the same trial; RMSProp another.
	sgd, _ := ParseArgs([]string{"--regularizer", "dropblock", "--augment=false", "--lr", "0.1", "--optimizer", "sgd", "--weight-decay", "5e-4", "--lr-schedule", "cosine"})
	rms, _ := ParseArgs([]string{"--regularizer", "dropblock", "--augment=false", "--lr", "0.1", "--optimizer", "rmsprop"})
	sgdID, _ := sgd.resolved().classifyIdentity("", "fp32", 1)
	rmsID, _ := rms.resolved().classifyIdentity("", "fp32", 1)
	if sgdID["flags"] != base["flags"] || rmsID["flags"] == base["flags"] {
		t.Errorf("explicit SGD's identity %v, RMSProp's %v, the default's %v", sgdID, rmsID, base)
	}
	noWD, _ := ParseArgs([]string{"--regularizer", "dropblock", "--augment=false", "--lr", "0.1", "--weight-decay", "0"})
	if id, _ := noWD.resolved().classifyIdentity("", "fp32", 1); id["flags"] == base["flags"] {
		t.Errorf("--weight-decay 0 has the default's identity %v", id)
	}
	s, _ = ParseArgs([]string{"--task", "lm", "--pattern", pat})
	id, err = s.resolved().lmIdentity([]byte("recipe"), "fp32", 8)
	if err != nil || id["flags"] != "dd5043d014c27af43135f1c2c41744a4993876bd43580b1602462a4a43031215" || id["steps"] != "8" {
		t.Errorf("lm identity %v, %v", id, err)
	}
	// Inline patterns are the same trial as their file.
	s.Pattern, s.Patterns = "", json.RawMessage(`{"patterns": []}`)
	if id2, _ := s.resolved().lmIdentity([]byte("recipe"), "fp32", 8); !reflect.DeepEqual(id2, id) {
		t.Errorf("inline patterns: identity %v, file's %v", id2, id)
	}
}

// ReadResult reads what WriteResult wrote, and older files that lack
// fields.
func TestResultFile(t *testing.T) {
	dir := t.TempDir()
	acc, wall := 0.5, 2.0
	r := Result{Model: "convnet", Dataset: "mnist", Regularizer: "no regularizer", Seed: 3, Threads: 1, ValAcc: &acc, WallS: &wall, Steps: 4, Epochs: 1}
	if err := WriteResult(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResult(dir)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("read back %+v, %v; want %+v", got, err, r)
	}
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, ResultFile), []byte(`{"val_ppl": 90.5, "steps": 8, "tokens": 100, "regularizer": "x", "later_field": 1}`), 0o644)
	got, err = ReadResult(old)
	if err != nil || got.ValPPL == nil || *got.ValPPL != 90.5 || got.WallS != nil || got.CPUS != nil || got.ValAcc != nil {
		t.Errorf("old file read as %+v, %v", got, err)
	}
	os.WriteFile(filepath.Join(old, ResultFile), []byte(`{"val_acc": "high"}`), 0o644)
	if _, err := ReadResult(old); err == nil || !strings.Contains(err.Error(), filepath.Join(old, ResultFile)) {
		t.Errorf("bad file: %v, want an error naming it", err)
	}
}

// A data-parallel rank given "cuda" takes the GPU of its local rank, as
// torchrun's processes do; other devices, and a run alone, are kept.
func TestRankDevice(t *testing.T) {
	rank := &distributed.Env{Rank: 5, LocalRank: 1, WorldSize: 8}
	for _, tc := range []struct {
		device string
		env    *distributed.Env
		want   string
	}{
		{"cuda", rank, "cuda:1"},
		{"CUDA", rank, "cuda:1"},
		{"cuda:3", rank, "cuda:3"},
		{"cpu", rank, "cpu"},
		{"", rank, ""},
		{"cuda", nil, "cuda"},
	} {
		if got := rankDevice(tc.device, tc.env); got != tc.want {
			t.Errorf("rankDevice(%q, %v) = %q, want %q", tc.device, tc.env, got, tc.want)
		}
	}
}
