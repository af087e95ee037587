package libtorch

import (
	"runtime"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// gotch's in-place ops (MustRelu_, MustAdd_, …) replace the tensor's handle
// with the new one the op returns and never free the old handle. The old
// handle holds a reference to the same storage, so the storage is never
// freed: a training loop with in-place ReLUs grows by its activations at
// every step (WRN-16-2 on Fashion-MNIST reached 24 GB in 200 steps). These
// functions run the op in place and free the extra handle instead, keeping
// the caller's. They panic on a libtorch error, as gotch's Must ops do,
// but with an error value a caller can recover. They call C with handles
// taken out of ts.Tensor values, so, like the wrappers of the gotch copy
// that make setup patches, they keep those values alive until C returns.

// InPlace runs an in-place libtorch op on x, e.g.
//
//	libtorch.InPlace(x, lib.AtgRelu_)
func InPlace(x *ts.Tensor, op func(out *lib.Ctensor, self lib.Ctensor)) {
	var out lib.Ctensor
	op(&out, lib.Ctensor(x.Ctensor()))
	runtime.KeepAlive(x) // op used x's handle: x's finalizer must not free it before
	if err := ts.TorchErr(); err != nil {
		panic(err)
	}
	lib.AtFree(out)
}

// Relu_ applies ReLU to x in place.
func Relu_(x *ts.Tensor) { InPlace(x, lib.AtgRelu_) }

// Silu_ applies SiLU to x in place.
func Silu_(x *ts.Tensor) { InPlace(x, lib.AtgSilu_) }

// Sigmoid_ applies the logistic function to x in place.
func Sigmoid_(x *ts.Tensor) { InPlace(x, lib.AtgSigmoid_) }

// Add_ adds y to x in place.
func Add_(x, y *ts.Tensor) {
	InPlace(x, func(out *lib.Ctensor, self lib.Ctensor) {
		lib.AtgAdd_(out, self, lib.Ctensor(y.Ctensor()))
		runtime.KeepAlive(y)
	})
}

// Zero_ sets every element of x to 0 in place.
func Zero_(x *ts.Tensor) { InPlace(x, lib.AtgZero_) }
