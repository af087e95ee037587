package nn

import (
	ts "github.com/sugarme/gotch/ts"

	gnn "github.com/sugarme/gotch/nn"
)

// linear is torch.nn.Linear: a weight out×in and a bias, named as PyTorch
// names them, applied through at::linear. gotch's Linear multiplies by the
// transposed weight and then adds the bias as a separate op; under autocast
// the product comes out in bfloat16 and the float32 bias promotes the sum
// back to float32, so every layer after it ran in float32 (the Transformer-XL's
// bf16 step was 0.92–1.40× PyTorch's). at::linear is on autocast's
// lower-precision list and fuses the bias (addmm), as PyTorch's nn.Linear does.
type linear struct {
	weight, bias *ts.Tensor // bias nil without one
}

// newLinear draws the bias before the weight, as gotch's NewLinear does, so
// a seed gives the same initial weights as before.
func newLinear(p *gnn.Path, in, out int64, c *gnn.LinearConfig) *linear {
	l := &linear{}
	if c.Bias {
		l.bias = p.MustNewVar("bias", []int64{out}, c.BsInit)
	}
	l.weight = p.MustNewVar("weight", []int64{out, in}, c.WsInit)
	return l
}

// Forward returns x·weightᵀ + bias.
func (l *linear) Forward(x *ts.Tensor) *ts.Tensor {
	if l.bias == nil {
		return ts.MustLinear(x, l.weight, noBias)
	}
	return ts.MustLinear(x, l.weight, l.bias)
}

// ForwardT implements ts.ModuleT; train does not matter.
func (l *linear) ForwardT(x *ts.Tensor, train bool) *ts.Tensor { return l.Forward(x) }
