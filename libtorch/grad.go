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
// thread, then restores the previous mode. The thread computes with the
// intra-op thread count set by SetThreads.
func NoGrad(fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := useThreads(); err != nil {
		return err
	}
	prev, err := setGradEnabled(false)
	if err != nil {
		return fmt.Errorf("disable gradients: %w", err)
	}
	defer setGradEnabled(prev)
	fn()
	return nil
}

// TrainThread pins the calling goroutine to its OS thread, switches
// gradient recording on there and gives the thread the intra-op thread
// count set by SetThreads (a thread keeps the count it first computed
// with otherwise, and runs with the same seed would differ by the thread
// they landed on). Call the returned function when training ends, on the
// same goroutine.
func TrainThread() (release func(), err error) {
	runtime.LockOSThread()
	if err := useThreads(); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	if _, err := setGradEnabled(true); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enable gradients: %w", err)
	}
	return runtime.UnlockOSThread, nil
}
