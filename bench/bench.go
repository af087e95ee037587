package bench

import (
	"fmt"
	"io"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// Settings say what to measure. The zero value of a field is not a
// default: DefaultSettings has the command's defaults.
type Settings struct {
	Models     string          // comma-separated models; a classifier takes an input shape after @
	Batch      int             // classifier batch size
	Threads    int             // libtorch intra-op threads of the PyTorch reference (ours: the caller's)
	Steps      int             // timed steps per variant
	Warmup     int             // untimed steps per variant first
	PyTorch    bool            // also time PyTorch eager in a second process
	Python     string          // Python for PyTorch ("": /usr/bin/python3, else python3 on PATH)
	Script     string          // the PyTorch reference script
	WrnPattern string          // pattern file for the classifiers
	LMConfig   string          // Transformer-XL model and recipe
	LMPattern  string          // Transformer-XL pattern file
	Vocab      int             // Transformer-XL vocabulary size
	DataDir    string          // Fashion-MNIST folder for the loader measurement
	Rate       float64         // drop probability of Dropout and DropBlock
	BlockSize  int             // DropBlock's block side
	Skip       map[string]bool // sections to leave out (Sections)
	Variants   map[string]bool // regularizers to time; nil: all
	Precisions []libtorch.Precision
	Images     ImagesSettings // the image-loader section (images.go)
	Device     gotch.Device   // where the steps run, ours and PyTorch's (zero value: the CPU)
	Out        io.Writer      // the printed tables (nil: discarded)
}

// dev is the device of the steps: the CPU unless Device names another.
func (f *Settings) dev() gotch.Device {
	if f.Device == (gotch.Device{}) {
		return gotch.CPU
	}
	return f.Device
}

// Sections are the parts of a benchmark run that Settings.Skip can leave
// out.
var Sections = []string{"step", "mask", "loader", "controller", "images"}

// DefaultSettings returns the command's defaults.
func DefaultSettings() *Settings {
	return &Settings{Models: "wrn-16-2,wrn-28-2,transformer-xl", Batch: 128, Steps: 10, Warmup: 2,
		Script: "scripts/bench_pytorch.py", WrnPattern: "configs/patterns/wrn-16-2-hand.json",
		LMConfig: "configs/transformer-xl-small.json", LMPattern: "configs/transformer-xl-patterns-hand.json",
		Vocab: 14922, DataDir: data.FashionMNISTDir, Rate: 0.1, BlockSize: 3, Skip: map[string]bool{},
		Precisions: []libtorch.Precision{libtorch.FP32}, Images: DefaultImagesSettings()}
}

// Report is what --json writes. Times are in milliseconds.
type Report struct {
	Machine    Machine           `json:"machine"`
	Batch      int               `json:"batch"`
	Steps      int               `json:"steps"`
	Warmup     int               `json:"warmup"`
	PyTorch    string            `json:"pytorch"` // version, or why it was skipped
	Step       []StepResult      `json:"step"`
	Params     []ParamCount      `json:"params,omitempty"`
	Memory     []MemoryResult    `json:"memory,omitempty"`
	Mask       []MaskResult      `json:"mask,omitempty"`
	Loader     *LoaderResult     `json:"loader,omitempty"`
	Controller *ControllerResult `json:"controller,omitempty"`
	Images     *ImagesResult     `json:"images,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Threads  int    `json:"threads"`
	Libtorch string `json:"libtorch"`
	BLAS     string `json:"blas"` // the BLAS library libtorch's matmuls run in
	Go       string `json:"go"`
}

// StepResult is one model and regularizer: median step times, and ratios
// that are medians of per-round ratios (see benchModel.run).
type StepResult struct {
	Model     string   `json:"model"`
	Variant   string   `json:"variant"`
	Precision string   `json:"precision"` // of both ours and PyTorch's step: fp32 or bf16 (autocast)
	Sites     int      `json:"sites"`     // sites the regularizer is on
	OursMS    float64  `json:"ours_ms"`
	OursNone  float64  `json:"ours_vs_none"`
	TorchMS   *float64 `json:"pytorch_ms,omitempty"`
	TorchNone *float64 `json:"pytorch_vs_none,omitempty"`
	OursTorch *float64 `json:"ours_vs_pytorch,omitempty"`
	// 95% bootstrap intervals of the two ratios: on a noisy machine a
	// ratio is a claim only as far as its interval reaches.
	OursNoneCI  [2]float64  `json:"ours_vs_none_ci95"`
	OursTorchCI *[2]float64 `json:"ours_vs_pytorch_ci95,omitempty"`
	// With several precisions: our step against our float32 step of the
	// same variant in the same round, and PyTorch's likewise.
	OursFP32   *float64    `json:"ours_vs_fp32,omitempty"`
	OursFP32CI *[2]float64 `json:"ours_vs_fp32_ci95,omitempty"`
	TorchFP32  *float64    `json:"pytorch_vs_fp32,omitempty"`
	Faults     float64     `json:"ours_page_faults_per_step"` // median minor faults (Linux)
	// Examples (classifier) or tokens (language model) per second of the
	// median step, and on a GPU the largest memory in tensors during a
	// step (libtorch's caching allocator, PyTorch's max_memory_allocated).
	OursPerSec  float64   `json:"ours_per_sec"`
	TorchPerSec *float64  `json:"pytorch_per_sec,omitempty"`
	Unit        string    `json:"unit"` // "images" or "tokens"
	OursPeakMB  *float64  `json:"ours_gpu_peak_mb,omitempty"`
	TorchPeakMB *float64  `json:"pytorch_gpu_peak_mb,omitempty"`
	OursAll     []float64 `json:"ours_all_ms"`
	TorchAll    []float64 `json:"pytorch_all_ms,omitempty"`
}

// ParamCount compares the trainable parameters of our model and PyTorch's.
type ParamCount struct {
	Model   string `json:"model"`
	Ours    int64  `json:"ours"`
	PyTorch int64  `json:"pytorch"`
}

// MemoryResult is the resident memory of the process around one model's
// timed steps (every variant's), and the C heap's bytes in use (tensors):
// over so few steps the resident memory still climbs to its high-water
// mark, while a leak shows as growth in use (the long check is
// TestStepMemoryLong).
type MemoryResult struct {
	Model       string  `json:"model"`
	AfterWarmMB float64 `json:"after_warmup_mb"`
	EndMB       float64 `json:"end_mb"`
	Steps       int     `json:"steps"`
	PerStepMB   float64 `json:"growth_per_step_mb"`
	InUseWarmMB float64 `json:"c_heap_in_use_after_warmup_mb"`
	InUseEndMB  float64 `json:"c_heap_in_use_end_mb"`
}

// MaskResult is the time to draw one site's mask (median), by shape.
type MaskResult struct {
	Model     string   `json:"model"`
	Shape     []int64  `json:"shape"`
	Sites     int      `json:"sites"` // pattern sites with this shape
	PatternMS float64  `json:"pattern_ms"`
	DropBlock float64  `json:"dropblock_ms"`
	Dropout   float64  `json:"dropout_ms"`
	TorchMS   *float64 `json:"pytorch_pattern_ms,omitempty"`
	StepShare float64  `json:"pattern_share_of_none_step"` // Σ sites·pattern / none step
}

// LoaderResult compares the loader's throughput with the step's appetite.
type LoaderResult struct {
	Model         string  `json:"model"`
	LoaderPerS    float64 `json:"loader_examples_per_s"`
	StepPerS      float64 `json:"step_examples_per_s"`
	Ratio         float64 `json:"loader_vs_step"`
	WaitMSPerStep float64 `json:"wait_ms_per_step"` // fed steps: time blocked on the loader
	FedSteps      int     `json:"fed_steps"`
}

// ControllerResult compares one controller round (samples and an update)
// with one trial.
type ControllerResult struct {
	Sites        int     `json:"sites"`
	Samples      int     `json:"samples_per_update"`
	SampleMS     float64 `json:"sample_ms"`
	UpdateMS     float64 `json:"update_ms"`
	TrialS       float64 `json:"trial_s"` // one epoch of Fashion-MNIST's training split at the measured step
	RoundVsTrial float64 `json:"round_vs_trial"`
}

// Run measures what s says and prints the tables to s.Out. It runs on a
// pinned thread with gradient recording on (libtorch.TrainThread); set
// libtorch's thread count before calling it.
func Run(s *Settings) (*Report, error) {
	f := s
	if f.Out == nil {
		f.Out = io.Discard
	}
	n := libtorch.Threads()
	var err error
	release, err := libtorch.TrainThread()
	if err != nil {
		return nil, err
	}
	defer release()
	rep := &Report{Batch: f.Batch, Steps: f.Steps, Warmup: f.Warmup, Machine: machine()}
	fmt.Fprintf(f.Out, "autodropout bench: %s, %d cores, %d libtorch threads, libtorch %s, BLAS %s, %s\n",
		rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Threads, rep.Machine.Libtorch, rep.Machine.BLAS, rep.Machine.Go)
	if referenceBLAS(rep.Machine.BLAS) {
		fmt.Fprintln(f.Out, "note: this is Debian's reference BLAS, slow for linear layers: the Transformer-XL's step ran 10x faster")
		fmt.Fprintln(f.Out, "      on OpenBLAS (apt-get install libopenblas0-openmp; see docs/performance.md). Convolutions do not use BLAS.")
	}
	fmt.Fprintf(f.Out, "median of %d timed steps per variant after %d warm-up steps, variants round robin; ratios within this run\n\n", f.Steps, f.Warmup)

	var py *pyBridge
	if f.PyTorch {
		if py, err = startPyTorch(f.Python, f.Script, n); err != nil {
			rep.PyTorch = "skipped: " + err.Error()
			fmt.Fprintf(f.Out, "PyTorch comparison skipped: %v\n\n", err)
		} else {
			defer py.close()
			rep.PyTorch = py.version
			fmt.Fprintf(f.Out, "PyTorch %s (%s) in a second process, its steps alternating with ours\n\n", py.version, py.python)
		}
	} else {
		rep.PyTorch = "not requested (--pytorch)"
	}

	if f.dev().IsCuda() && (!f.Skip["mask"] || !f.Skip["loader"]) {
		return nil, fmt.Errorf("--device %v times training steps only: add --skip mask,loader (the mask and loader sections run on the CPU)", f.dev())
	}
	models, err := buildModels(f, py)
	if err != nil {
		return nil, err
	}
	if !f.Skip["step"] || !f.Skip["loader"] || !f.Skip["controller"] {
		for _, m := range models {
			if err := m.run(f, py, rep); err != nil {
				return nil, err
			}
		}
		printSteps(f, rep)
	}
	if !f.Skip["mask"] {
		if err := benchMasks(f, models, py, rep); err != nil {
			return nil, err
		}
	}
	if !f.Skip["loader"] {
		if err := benchLoader(f, models, rep); err != nil {
			return nil, err
		}
	}
	if !f.Skip["controller"] {
		if err := benchController(f, models, rep); err != nil {
			return nil, err
		}
	}
	for _, m := range models {
		m.close()
	}
	if !f.Skip["images"] {
		if err := benchImages(f, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}
