package search

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigNamesTheBadField gives ParseConfig one bad field at a time:
// the error must name it (as in the JSON).
func TestConfigNamesTheBadField(t *testing.T) {
	for _, tc := range []struct{ json, err string }{
		{`{"task": {"batch_size": -5}}`, "task.batch_size -5"},
		{`{"task": {"epochs": 9}, "multi_fidelity": {"rungs": [1, 3, 9]}}`, "multi_fidelity.reduction 0"},
		{`{"task": {"epochs": 9}, "multi_fidelity": {"rungs": [1, 3, 10], "reduction": 3}}`, "last rung is 10 epochs, want task.epochs 9"},
		{`{"task": {"epochs": 9}, "multi_fidelity": {"rungs": [3, 3, 9], "reduction": 3}}`, "multi_fidelity.rungs [3 3 9]: want epochs of 1 or more, strictly increasing"},
		{`{"task": {"epochs": 9}, "multi_fidelity": {"rungs": [0, 9], "reduction": 3}}`, "multi_fidelity.rungs [0 9]"},
		{`{"task": {"epochs": 9}, "multi_fidelity": {"rungs": [9], "reduction": 3}}`, "want at least two rungs"},
		{`{"task": {"kind": "lm"}, "multi_fidelity": {"rungs": [1, 2], "reduction": 3}}`, "multi_fidelity: set task.steps, the last rung"},
		{`{"task": {"kind": "lm", "steps": 100}, "multi_fidelity": {"rungs": [10, 50], "reduction": 3}}`, "last rung is 50 steps, want task.steps 100"},
		{`{"task": {"kind": "lm", "steps": 100}, "multi_fidelity": {"rungs": [100], "reduction": 3}}`, "want at least two rungs (steps, strictly increasing"},
		{`{"multi_fidelity": {"rungs": [1, 2], "reduction": 2, "eta": 3}}`, "eta"},
		{`{"task": {"precision": "fp8"}}`, `task.precision "fp8"`},
		{`{"task": {"kind": "lm", "augment": false}}`, "task.augment: not used by lm"},
		{`{"task": {"val_frac": 1.5}}`, "task.val_frac 1.5"},
		{`{"task": {"kind": "lm", "randaugment": true}}`, "task.randaugment: not used by lm"},
		{`{"task": {"ra_ops": 3}}`, "needs randaugment: true"},
		{`{"task": {"optimizer": "adam"}}`, `task.optimizer or schedule: --optimizer "adam"`},
		{`{"task": {"kind": "lm", "optimizer": "rmsprop"}}`, "task.optimizer: not used by lm"},
		{`{"task": {"kind": "lm", "nproc": 2}}`, "task.nproc: not used by lm"},
		{`{"task": {"nproc": -2}}`, "task.nproc -2"},
		{`{"task": {"randaugment": true, "ra_magnitude": 31}}`, "ra_magnitude 31"},
		{`{"task": {"val_frac": -0.1}}`, "task.val_frac -0.1"},
		{`{"task": {"train_subset": -10}}`, "task.train_subset -10"},
		{`{"task": {"epochs": -1}}`, "task.epochs -1"},
		{`{"task": {"lr": -0.1}}`, "task.lr -0.1"},
		{`{"task": {"per_class": 5}}`, "task.per_class"},
		{`{"task": {"data": "imagenet", "per_class": -5}}`, "task.per_class -5"},
		{`{"task": {"image_size": 64}}`, "task.image_size"},
		{`{"task": {"data": "svhn"}}`, `task.data "svhn"`},
		{`{"task": {"data": "mnist"}}`, "task.data_dir"},
		{`{"task": {"kind": "vision"}}`, `task.kind "vision"`},
		{`{"task": {"device": "gpu"}}`, `task.device "gpu"`},
		{`{"task": {"device": "cuda:-1"}}`, `task.device "cuda:-1"`},
		{`{"task": {"timeout": "-5m"}}`, "task.timeout"},
		{`{"task": {"timeout": "soon"}}`, "task.timeout"},
		{`{"task": {"sites_regexp": "("}}`, "task.sites_regexp"},
		{`{"task": {"sites": ["bn1", "bn1"]}}`, "task.sites"},
		{`{"task": {"sites": ["bn1"], "sites_regexp": "bn"}}`, "task.sites and sites_regexp: set one"},
		{`{"task": {"steps": 10}}`, "task.steps: not used by classify"},
		{`{"task": {"lm_config": "x.json"}}`, "task.lm_config: not used by classify"},
		{`{"task": {"eval_tokens": 10}}`, "task.eval_tokens: not used by classify"},
		{`{"task": {"kind": "lm", "batch_size": 8}}`, "task.batch_size: not used by lm"},
		{`{"task": {"kind": "lm", "epochs": 2}}`, "task.epochs: not used by lm"},
		{`{"task": {"kind": "lm", "val_frac": 0.2}}`, "task.val_frac: not used by lm"},
		{`{"task": {"kind": "lm", "sites_regexp": "x"}}`, "task.sites_regexp: not used by lm"},
		{`{"task": {"kind": "lm", "steps": -1}}`, "task.steps -1"},
		{`{"task": {"kind": "lm", "eval_tokens": -1}}`, "task.eval_tokens -1"},
		{`{"task": {"kind": "lm", "model": "convnet"}}`, `task.model "convnet"`},
		{`{"task": {"kind": "lm", "data": "cifar10"}}`, `task.data "cifar10"`},
		{`{"budget": -3}`, "budget -3"},
		{`{"budget": 2000000}`, "budget 2000000"},
		{`{"parallel": -1}`, "parallel -1"},
		{`{"cores": -2}`, "cores -2"},
		{`{"top_k": -1}`, "top_k -1"},
		{`{"samples_per_update": -4}`, "samples_per_update -4"},
		{`{"method": "evolution"}`, `method "evolution"`},
		{`{"controller": {"hidden": -1}}`, "controller.hidden -1"},
		{`{"controller": {"hidden": 100000}}`, "controller.hidden 100000"},
		{`{"controller": {"lr": -1}}`, "controller.lr -1"},
		{`{"controller": {"beta1": 1}}`, "controller.beta1 1"},
		{`{"controller": {"beta2": -0.5}}`, "controller.beta2 -0.5"},
		{`{"controller": {"eps": -1}}`, "controller.eps -1"},
		{`{"controller": {"temperature": -1}}`, "controller.temperature -1"},
		{`{"controller": {"baseline_decay": 1.5}}`, "controller.baseline_decay 1.5"},
		{`{"controller": {"init_range": -0.1}}`, "controller.init_range -0.1"},
		{`{"budget": 3} {"budget": 4}`, "data after the JSON value"},
		{`{"budget": 3} x`, "data after the JSON value"},
		{`{"budjet": 3}`, "unknown field"},
	} {
		if _, err := ParseConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want one containing %q", tc.json, err, tc.err)
		}
	}
	for _, ok := range []string{
		`{}`, `{"budget": 3}` + "\n\t ", `{"task": {"kind": "lm", "data": "ptb", "device": "cuda:1", "steps": 5}}`, `{"task": {"kind": "lm", "data": "kjv"}}`,
		`{"task": {"data": "imagenet", "per_class": 5, "image_size": 64, "val_frac": 0.05}}`,
		`{"task": {"randaugment": true, "ra_ops": 3, "ra_magnitude": 5}}`,
		`{"task": {"optimizer": "rmsprop", "lr_schedule": "exponential", "lr_decay": 0.97, "lr_decay_epochs": 2.4, "warmup_epochs": 5, "weight_decay": 1e-5}}`,
		`{"controller": {"tanh_c": -1, "entropy_weight": -1, "clip_norm": -1}}`,
	} {
		if _, err := ParseConfig([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestCheckFiles checks the dataset files and the recipe a task reads.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	mnist := filepath.Join(dir, "mnist")
	os.Mkdir(mnist, 0o755)
	for _, n := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"} {
		os.WriteFile(filepath.Join(mnist, n), nil, 0o644)
	}
	cifar := filepath.Join(dir, "c", "cifar-100-binary")
	os.MkdirAll(cifar, 0o755)
	os.WriteFile(filepath.Join(cifar, "train.bin"), nil, 0o644)
	os.WriteFile(filepath.Join(cifar, "test.bin"), nil, 0o644)
	ptb := filepath.Join(dir, "ptb")
	os.Mkdir(ptb, 0o755)
	for _, n := range []string{"train", "valid", "test"} {
		os.WriteFile(filepath.Join(ptb, "ptb."+n+".txt"), nil, 0o644)
	}
	kjv := filepath.Join(dir, "kjv") // a prepared folder: reused, the bible program not run
	os.Mkdir(kjv, 0o755)
	for _, n := range []string{"train", "valid", "test"} {
		os.WriteFile(filepath.Join(kjv, "kjv."+n+".txt"), nil, 0o644)
	}
	recipe := filepath.Join(dir, "lm.json")
	os.WriteFile(recipe, []byte("{}"), 0o644)
	for _, tc := range []struct {
		task Task
		err  string
	}{
		{Task{Data: "mnist", DataDir: mnist}, "t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz not found"},
		{Task{Data: "mnist", DataDir: filepath.Join(dir, "nope")}, "data_dir " + filepath.Join(dir, "nope")},
		{Task{Data: "mnist", DataDir: recipe}, "not a folder"},
		{Task{Data: "cifar100", DataDir: filepath.Join(dir, "c")}, ""},
		{Task{Data: "cifar10", DataDir: filepath.Join(dir, "c")}, "data_batch_1.bin not found"},
		{Task{Data: "imagenet", DataDir: dir}, "train not found"},
		{Task{Kind: "lm", Data: "ptb", DataDir: ptb, LMConfig: recipe}, ""},
		{Task{Kind: "lm", Data: "ptb", DataDir: ptb, LMConfig: filepath.Join(dir, "none.json")}, "lm_config " + filepath.Join(dir, "none.json")},
		{Task{Kind: "lm", Data: "wikitext2", DataDir: ptb, LMConfig: recipe}, "wiki.train.tokens not found"},
		{Task{Kind: "lm", Data: "kjv", DataDir: kjv, LMConfig: recipe}, ""},
		{Task{Kind: "lm", Data: "text", DataDir: ptb, LMConfig: recipe}, "train.txt not found in " + ptb},
	} {
		err := Config{Task: tc.task}.WithDefaults().Task.CheckFiles()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: err %v, want %q", tc.task, err, tc.err)
		}
	}
}
