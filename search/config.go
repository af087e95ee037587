package search

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config is a search's JSON configuration. Zero fields take the defaults
// listed with each field (see WithDefaults).
type Config struct {
	Method           string           `json:"method"`             // "rl" (default) or "random"
	Budget           int              `json:"budget"`             // trials in all (default 20)
	Parallel         int              `json:"parallel"`           // trials at once (default 1)
	Cores            int              `json:"cores"`              // cores divided among trials (default: all)
	SamplesPerUpdate int              `json:"samples_per_update"` // trials per controller update (default: parallel)
	Seed             int64            `json:"seed"`               // controller / random proposals (default 1)
	TopK             int              `json:"top_k"`              // pattern files kept in top/ (default 5)
	FailureReward    float64          `json:"failure_reward"`     // reward a failed trial teaches the controller (default 0)
	SearchSpace      string           `json:"search_space"`       // search-space JSON file (default: the built-in space)
	Controller       ControllerConfig `json:"controller"`
	Task             Task             `json:"task"`
}

// Task is the proxy task every trial trains: the flags of `autodropout train`.
// Kind "classify" (the default) searches ConvNet patterns for an image
// classifier; kind "lm" searches Transformer patterns for a language model
// (`autodropout train --task lm`), with the model and recipe in LMConfig.
type Task struct {
	Kind        string   `json:"kind,omitempty"`        // "classify" (default) or "lm"
	LMConfig    string   `json:"lm_config,omitempty"`   // lm: model and recipe JSON (default configs/transformer-xl-small.json)
	Steps       int      `json:"steps,omitempty"`       // lm: optimizer steps (0: the recipe's max_step)
	EvalTokens  int      `json:"eval_tokens,omitempty"` // lm: validation tokens evaluated (0: all)
	Model       string   `json:"model"`                 // default "convnet"; lm: "transformer-xl"
	Data        string   `json:"data"`                  // default "fashion-mnist"; lm: "fortunes"
	DataDir     string   `json:"data_dir"`              // default: train's default
	TrainSubset int      `json:"train_subset"`          // 0: all
	Epochs      int      `json:"epochs"`                // default 1
	BatchSize   int      `json:"batch_size"`            // default 128
	LR          float64  `json:"lr"`                    // default 0.05
	ValFrac     float64  `json:"val_frac,omitempty"`    // share of the training set held out (0: train's default, 0.1)
	PerClass    int      `json:"per_class,omitempty"`   // imagenet: images per class read (0: all)
	ImageSize   int      `json:"image_size,omitempty"`  // imagenet: crop side (0: 224)
	Device      string   `json:"device,omitempty"`      // cpu (default), cuda or cuda:N
	Precision   string   `json:"precision,omitempty"`   // train's --precision: fp32 (default), bf16, fp16 (CUDA) or auto
	Sites       []string `json:"sites"`                 // dropout sites to search; empty: those matching sites_regexp (lm: sublayer kinds, default: the space's)
	SitesRegexp string   `json:"sites_regexp"`          // default: batch-norm outputs `\.bn\d+$|^bn\d+$`; not used for lm
	Timeout     string   `json:"timeout"`               // Go duration per trial (default "30m")
	Seed        int64    `json:"seed"`                  // every trial's training seed (default: the search's seed)
}

// DefaultSitesRegexp picks batch-norm outputs, the paper's sites.
const DefaultSitesRegexp = `\.bn\d+$|^bn\d+$`

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.Method == "" {
		c.Method = "rl"
	}
	if c.Budget == 0 {
		c.Budget = 20
	}
	if c.Parallel == 0 {
		c.Parallel = 1
	}
	if c.SamplesPerUpdate == 0 {
		c.SamplesPerUpdate = c.Parallel
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.TopK == 0 {
		c.TopK = 5
	}
	c.Controller = c.Controller.withDefaults()
	t := &c.Task
	if t.Kind == "" {
		t.Kind = "classify"
	}
	if t.Kind == "lm" {
		// Batch size, learning rate and length come from LMConfig, sites from the space.
		t.Model = cmp.Or(t.Model, "transformer-xl")
		t.Data = cmp.Or(t.Data, "fortunes")
		t.LMConfig = cmp.Or(t.LMConfig, "configs/transformer-xl-small.json")
	} else {
		t.Model = cmp.Or(t.Model, "convnet")
		t.Data = cmp.Or(t.Data, "fashion-mnist")
		t.Epochs = cmp.Or(t.Epochs, 1)
		t.BatchSize = cmp.Or(t.BatchSize, 128)
		t.LR = cmp.Or(t.LR, 0.05)
		if len(t.Sites) == 0 && t.SitesRegexp == "" {
			t.SitesRegexp = DefaultSitesRegexp
		}
	}
	if t.Timeout == "" {
		t.Timeout = "30m"
	}
	if t.Seed == 0 {
		t.Seed = c.Seed
	}
	return c
}

// Check reports a configuration error.
func (c Config) Check() error {
	switch {
	case c.Task.Kind != "classify" && c.Task.Kind != "lm":
		return fmt.Errorf("task.kind %q: want classify or lm", c.Task.Kind)
	case c.Method != "rl" && c.Method != "random":
		return fmt.Errorf("method %q: want rl or random", c.Method)
	case c.Budget < 1:
		return fmt.Errorf("budget %d: want at least 1", c.Budget)
	case c.Parallel < 1:
		return fmt.Errorf("parallel %d: want at least 1", c.Parallel)
	case c.SamplesPerUpdate < 1:
		return fmt.Errorf("samples_per_update %d: want at least 1", c.SamplesPerUpdate)
	case c.Controller.Hidden < 1 || c.Controller.Temperature <= 0 || c.Controller.LR <= 0:
		return fmt.Errorf("controller: hidden, temperature and lr must be positive")
	case c.Controller.BaselineDecay < 0 || c.Controller.BaselineDecay >= 1:
		return fmt.Errorf("controller.baseline_decay %v: want [0, 1)", c.Controller.BaselineDecay)
	}
	if _, err := time.ParseDuration(c.Task.Timeout); err != nil {
		return fmt.Errorf("task.timeout: %w", err)
	}
	return nil
}

// TimeoutDuration is Task.Timeout parsed.
func (t Task) TimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(t.Timeout)
	return d
}

// Args are the train flags of the task (without pattern, out, seed,
// threads). Trials add --test=false: their reward is the validation score,
// and the test set is for final models.
func (t Task) Args() []string {
	var a []string
	if t.Kind == "lm" {
		a = []string{"--task", "lm", "--model", t.Model, "--data", t.Data, "--config", t.LMConfig,
			"--steps", strconv.Itoa(t.Steps), "--eval-tokens", strconv.Itoa(t.EvalTokens)}
	} else {
		a = []string{"--model", t.Model, "--data", t.Data, "--epochs", strconv.Itoa(t.Epochs),
			"--batch-size", strconv.Itoa(t.BatchSize), "--lr", strconv.FormatFloat(t.LR, 'g', -1, 64),
			"--train-subset", strconv.Itoa(t.TrainSubset)}
		if t.ValFrac > 0 {
			a = append(a, "--val-frac", strconv.FormatFloat(t.ValFrac, 'g', -1, 64))
		}
		if t.PerClass > 0 {
			a = append(a, "--per-class", strconv.Itoa(t.PerClass))
		}
		if t.ImageSize > 0 {
			a = append(a, "--image-size", strconv.Itoa(t.ImageSize))
		}
	}
	if t.DataDir != "" {
		a = append(a, "--data-dir", t.DataDir)
	}
	if t.Device != "" {
		a = append(a, "--device", t.Device)
	}
	if t.Precision != "" {
		a = append(a, "--precision", t.Precision)
	}
	return a
}

// ReadConfig reads a JSON config; unknown fields are errors.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var c Config
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	c = c.WithDefaults()
	if err := c.Check(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// hash is the SHA-256 of the config (with defaults) and the resolved sites.
// Cores, parallel and the timeout are left out: they change how fast the
// search runs, not what it finds (samples_per_update is kept).
func hash(c Config, sites []string) (string, json.RawMessage) {
	raw, _ := json.Marshal(c)
	c.Cores, c.Parallel, c.Task.Timeout = 0, 0, ""
	b, _ := json.Marshal(struct {
		Config Config   `json:"config"`
		Sites  []string `json:"sites"`
	}{c, sites})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8]), raw
}
