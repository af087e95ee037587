package libtorch

import (
	"fmt"
	"runtime"
)

// libtorch keeps "record gradients" per OS thread, while Go moves
// goroutines between threads. gotch's ts.NoGrad switches recording off,
// runs its function, and switches it on again without pinning the
// goroutine, so it can leave other threads with recording off; every gotch
// initializer calls it. A forward pass that then lands on such a thread
// builds no graph, and backward fails with "element 0 of tensors does not
// require grad". NoGrad and TrainThread pin the goroutine instead.

// NoGrad runs fn with gradient recording off on the calling goroutine's
// thread, then restores the previous mode.
func NoGrad(fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := setGradEnabled(false)
	if err != nil {
		return fmt.Errorf("disable gradients: %w", err)
	}
	defer setGradEnabled(prev)
	fn()
	return nil
}

// TrainThread pins the calling goroutine to its OS thread and switches
// gradient recording on there. Call the returned function when training
// ends, on the same goroutine.
func TrainThread() (release func(), err error) {
	runtime.LockOSThread()
	if _, err := setGradEnabled(true); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enable gradients: %w", err)
	}
	return runtime.UnlockOSThread, nil
}
