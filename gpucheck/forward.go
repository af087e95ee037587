package gpucheck

import (
	"fmt"
	"math"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ForwardOptions names a model, the PyTorch state dict of its weights, and
// a reference file (a state dict too) holding the input "x" and PyTorch's
// outputs on it in evaluation mode: "y_fp32" in float32 and "y_bf16" under
// bfloat16 autocast (scripts/gpu_check_ref.py writes both files).
type ForwardOptions struct {
	Model   string // e.g. "resnet50"
	Classes int64
	Weights string
	Ref     string
	Device  string
}

// ForwardReport compares the model's outputs with PyTorch's: the relative
// L2 error ‖ours − theirs‖/‖theirs‖ in float32 and under bfloat16 autocast,
// and how many examples' top class agree. Tolerances: 1e-2 in float32
// (both sides may run convolutions in TF32 on a GPU), 5e-2 in bfloat16.
type ForwardReport struct {
	Check     string  `json:"check"`
	Model     string  `json:"model"`
	Device    string  `json:"device"`
	Examples  int64   `json:"examples"`
	RelFP32   float64 `json:"rel_err_fp32"`
	RelBF16   float64 `json:"rel_err_bf16"`
	Top1Agree float64 `json:"top1_agree_bf16"`
	OK        bool    `json:"ok"`
}

// Forward loads o.Weights into o.Model on o.Device and compares its
// forward passes on the reference input with the reference outputs.
func Forward(o ForwardOptions) (*ForwardReport, error) {
	dev, err := libtorch.ParseDevice(o.Device)
	if err != nil {
		return nil, err
	}
	ref, err := nn.ReadStateDict(o.Ref)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer func() {
		for _, t := range ref {
			t.MustDrop()
		}
	}()
	for _, k := range []string{"x", "y_fp32", "y_bf16"} {
		if ref[k] == nil {
			return nil, fmt.Errorf("reference %s has no tensor %q", o.Ref, k)
		}
	}
	shape := ref["x"].MustSize()
	if len(shape) != 4 {
		return nil, fmt.Errorf("reference %s: x has shape %v, want N×C×H×W", o.Ref, shape)
	}
	vs := gnn.NewVarStore(dev)
	model, err := nn.New(o.Model, vs.Root(), nn.Input{C: shape[1], H: shape[2], W: shape[3]}, o.Classes)
	if err != nil {
		return nil, err
	}
	if _, err := nn.LoadStateDict(vs, o.Weights, nil); err != nil {
		return nil, err
	}
	x, err := ref["x"].To(dev, false)
	if err != nil {
		return nil, err
	}
	defer x.MustDrop()
	r := &ForwardReport{Check: "forward", Model: o.Model, Device: o.Device, Examples: shape[0]}
	var fp32, bf16 []float64
	for _, p := range []libtorch.Precision{libtorch.FP32, libtorch.BF16} {
		out, err := forwardIn(model, x, dev, p)
		if err != nil {
			return nil, err
		}
		if p == libtorch.FP32 {
			fp32 = out
		} else {
			bf16 = out
		}
	}
	want32, want16 := ref["y_fp32"].Float64Values(), ref["y_bf16"].Float64Values()
	if len(fp32) != len(want32) || len(bf16) != len(want16) {
		return nil, fmt.Errorf("outputs have %d values, the reference %d", len(fp32), len(want32))
	}
	r.RelFP32, r.RelBF16 = relErr(fp32, want32), relErr(bf16, want32)
	r.Top1Agree = top1Agree(bf16, want16, int(shape[0]))
	r.OK = r.RelFP32 < 1e-2 && r.RelBF16 < 5e-2 && r.Top1Agree >= 0.5
	return r, nil
}

// forwardIn runs model on x in evaluation mode, without gradients, in
// precision p, and returns the outputs as float64.
func forwardIn(model ts.ModuleT, x *ts.Tensor, dev gotch.Device, p libtorch.Precision) ([]float64, error) {
	var out []float64
	var ferr error
	err := libtorch.NoGrad(func() {
		exit, err := libtorch.Autocast(dev, p)
		if err != nil {
			ferr = err
			return
		}
		y := model.ForwardT(x, false)
		if err := exit(); err != nil {
			ferr = err
		}
		defer y.MustDrop()
		f, err := y.To(gotch.CPU, false)
		if err != nil {
			ferr = err
			return
		}
		defer f.MustDrop()
		g, err := f.Totype(gotch.Double, false)
		if err != nil {
			ferr = err
			return
		}
		defer g.MustDrop()
		out = g.Float64Values()
	})
	if err != nil {
		return nil, err
	}
	return out, ferr
}

func relErr(got, want []float64) float64 {
	var d, n float64
	for i := range got {
		d += (got[i] - want[i]) * (got[i] - want[i])
		n += want[i] * want[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// top1Agree is the fraction of the n rows of a and b whose largest entry
// is at the same index.
func top1Agree(a, b []float64, n int) float64 {
	k := len(a) / n
	same := 0
	for i := 0; i < n; i++ {
		if argmax(a[i*k:(i+1)*k]) == argmax(b[i*k:(i+1)*k]) {
			same++
		}
	}
	return float64(same) / float64(n)
}

func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}
