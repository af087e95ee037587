package nn

import (
	"math"

	gnn "github.com/sugarme/gotch/nn"
)

// gotch v0.9.1's Kaiming initializers compute the wrong bound (weights of a
// 3136-input layer come out near ±0.8 instead of ±0.02, and training
// diverges), and its batch norm starts with uniform random scales. These
// configs give PyTorch's defaults instead.

// fanInBound is PyTorch's default bound for Conv and Linear layers:
// kaiming_uniform(a=√5) works out to U(-1/√fan_in, 1/√fan_in).
func fanInBound(fanIn int64) float64 { return 1 / math.Sqrt(float64(fanIn)) }

// ConvConfig returns a 2-D convolution config with PyTorch's default
// initialization for a k×k kernel over inC input channels.
func ConvConfig(inC, k, stride, pad, groups int64, bias bool) *gnn.Conv2DConfig {
	b := fanInBound(inC / groups * k * k)
	return &gnn.Conv2DConfig{
		Stride: []int64{stride, stride}, Padding: []int64{pad, pad}, Dilation: []int64{1, 1},
		Groups: groups, Bias: bias,
		WsInit: gnn.NewUniformInit(-b, b), BsInit: gnn.NewUniformInit(-b, b),
	}
}

// LinearConfig returns a linear layer config with PyTorch's default
// initialization for in inputs.
func LinearConfig(in int64) *gnn.LinearConfig {
	b := fanInBound(in)
	return &gnn.LinearConfig{WsInit: gnn.NewUniformInit(-b, b), BsInit: gnn.NewUniformInit(-b, b), Bias: true}
}

// BatchNormConfig returns PyTorch's batch norm defaults: scale 1, shift 0,
// momentum 0.1, eps 1e-5.
func BatchNormConfig() *gnn.BatchNormConfig {
	return &gnn.BatchNormConfig{
		CudnnEnable: true, Eps: 1e-5, Momentum: 0.1,
		WsInit: gnn.NewConstInit(1), BsInit: gnn.NewConstInit(0),
	}
}

// ConvConfigFanOut is ConvConfig with He initialization as torchvision's
// ResNets and the wide ResNets use it: normal with std √(2/fan_out),
// fan_out = outC·k·k (kaiming_normal_, mode "fan_out", ReLU gain).
func ConvConfigFanOut(outC, k, stride, pad, groups int64, bias bool) *gnn.Conv2DConfig {
	cfg := ConvConfig(1, k, stride, pad, groups, bias)
	cfg.WsInit = gnn.NewRandnInit(0, math.Sqrt(2/float64(outC*k*k)))
	cfg.BsInit = gnn.NewConstInit(0)
	return cfg
}
