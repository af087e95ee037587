package trial

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/train"
)

// ResultFile is the name of a trial's result in its Out folder.
const ResultFile = "result.json"

// Result is what a trial did: the content of result.json, which Run
// writes in Spec.Out and ReadResult reads back (a search's executors,
// experiments, reports and the dashboard all read it so). Fields of the
// other task are absent (zero); so are fields that older result files
// lack, which is why the scores and times are pointers.
type Result struct {
	Model       string `json:"model"`
	Dataset     string `json:"dataset"`
	Regularizer string `json:"regularizer"` // what Run put on the sites, in words
	Seed        int64  `json:"seed"`
	Threads     int    `json:"threads"`
	// Nproc is the number of processes that trained the run together
	// (data-parallel); absent: one.
	Nproc     int    `json:"nproc,omitempty"`
	Device    string `json:"device,omitempty"`    // classify
	Precision string `json:"precision,omitempty"` // the precision used: fp32, bf16 or fp16

	// Augment (classify) is the training augmentation, in words:
	// "none", or crop, flip and RandAugment's settings joined by "+".
	// Absent in older files.
	Augment string `json:"augment,omitempty"`

	// SkippedImages (classify, streamed ImageNet) is how many times an
	// image could not be read and was left out of its batch, over every
	// split and epoch; BadImages names the first 10 such files, sorted.
	// Absent: none.
	SkippedImages int64    `json:"skipped_images,omitempty"`
	BadImages     []string `json:"bad_images,omitempty"`

	// Scores; nil: not evaluated (a classifier has no perplexities, a
	// language model no accuracies, a trial no test score).
	ValAcc  *float64 `json:"val_acc,omitempty"`
	TestAcc *float64 `json:"test_acc,omitempty"`
	ValPPL  *float64 `json:"val_ppl,omitempty"`
	TestPPL *float64 `json:"test_ppl,omitempty"`
	// TrainLoss is the mean training loss over the last epoch
	// (classify) or the last 100 steps (lm).
	TrainLoss float64 `json:"train_loss"`
	// Curve is the per-epoch learning curve (classify, Spec.Curve).
	Curve []train.Point `json:"curve,omitempty"`
	// LMCurve is the language model's learning curve (lm,
	// Spec.CurveEvery).
	LMCurve []train.LMPoint `json:"lm_curve,omitempty"`
	// DropRate and DropAtt (lm) are the rates Spec set over the recipe's;
	// absent: the recipe's.
	DropRate float64 `json:"drop_rate,omitempty"`
	DropAtt  float64 `json:"dropatt,omitempty"`

	// Work done.
	Epochs   int   `json:"epochs,omitempty"` // classify: epochs trained
	Steps    int   `json:"steps"`
	Examples int64 `json:"examples,omitempty"` // classify: training examples seen
	Tokens   int64 `json:"tokens,omitempty"`   // lm: training tokens seen
	Params   int64 `json:"params,omitempty"`
	// WallS is the training's wall time (s); nil in files without it.
	WallS *float64 `json:"wall_s,omitempty"`
	// CPUS is the CPU time (user + system) of the whole process that ran
	// the trial, when the result was written (s): for a trial in a
	// process of its own, the trial's. Nil in files without it.
	CPUS       *float64 `json:"cpu_s,omitempty"`
	TrainS     float64  `json:"train_s,omitempty"`      // lm: training time without evaluation (s)
	TokensPerS float64  `json:"tokens_per_s,omitempty"` // lm: training tokens per second

	// Semi (classify) is the labeled subset and semi-supervised mode in
	// words (absent: supervised on every training image), UnlabeledN the
	// unlabeled images UDA streamed from, and UDA its last epoch's terms.
	Semi       string          `json:"semi,omitempty"`
	UnlabeledN int             `json:"unlabeled_examples,omitempty"`
	UDA        *train.UDAStats `json:"uda,omitempty"`

	// Classify: the examples of each split (absent: none).
	TrainN int `json:"train_examples,omitempty"`
	ValN   int `json:"val_examples,omitempty"`
	TestN  int `json:"test_examples,omitempty"`
	// LM: the recipe file, the vocabulary's size, the tokens of the
	// training split trained on and the validation tokens evaluated.
	Config      string `json:"config,omitempty"`
	Vocab       int    `json:"vocab,omitempty"`
	TrainTokens int    `json:"train_tokens,omitempty"`
	EvalTokens  int    `json:"eval_tokens,omitempty"`

	// Pretrained is Spec.Pretrained and PretrainedSHA256 the SHA-256 of
	// its bytes (hex), so a result names the exact weights it started
	// from.
	Pretrained       string `json:"pretrained,omitempty"`
	PretrainedSHA256 string `json:"pretrained_sha256,omitempty"`
	// EpochsPlanned (classify) and StepsPlanned (lm) are the schedule's
	// length when a stop ended the run before it (a rung of a
	// multi-fidelity search); absent otherwise.
	EpochsPlanned int `json:"epochs_planned,omitempty"`
	StepsPlanned  int `json:"steps_planned,omitempty"`
	// ResumedFrom is Spec.ResumeState.
	ResumedFrom string `json:"resumed_from,omitempty"`
}

// ReadResult reads dir's result.json; errors name the file.
func ReadResult(dir string) (Result, error) {
	p := filepath.Join(dir, ResultFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return Result{}, err
	}
	return DecodeResult(p, b)
}

// DecodeResult decodes the result.json b read from name; errors name it.
// Fields it does not know are ignored: a file written by a later version
// still reads.
func DecodeResult(name string, b []byte) (Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// WriteResult writes r to dir's result.json atomically (a reader never
// sees half a file), creating dir if needed.
func WriteResult(dir string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ResultFile), append(b, '\n'))
}
