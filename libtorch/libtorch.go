package libtorch

/*
#include <stdint.h>
#include <stdlib.h>

// gotch's C layer (libtch/torch_api.cpp) defines these but its Go layer does
// not export them. They are declared weak so this package builds on its own;
// the linker binds them to gotch's definitions, which every program that
// imports gotch carries. A nil address means they are absent.
extern void at_manual_seed(int64_t) __attribute__((weak));
extern int at_get_num_threads(void) __attribute__((weak));
extern void at_set_num_threads(int) __attribute__((weak));
extern int at_grad_set_enabled(int) __attribute__((weak));

static int have_runtime(void) {
	return at_manual_seed != 0 && at_get_num_threads != 0 && at_set_num_threads != 0 && at_grad_set_enabled != 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"

	"github.com/sugarme/gotch/ts"
)

// ErrUnavailable is returned when gotch's C layer lacks the runtime calls.
var ErrUnavailable = errors.New("libtorch runtime calls not found in gotch's C layer")

func init() {
	// Debian's libtorch starts with one intra-op thread. Use every core
	// unless the user pinned a count through OpenMP's variable.
	if os.Getenv("OMP_NUM_THREADS") != "" || LibraryError() != nil {
		return
	}
	_ = SetThreads(runtime.NumCPU())
}

func check() error {
	if err := LibraryError(); err != nil {
		return err
	}
	if C.have_runtime() == 0 {
		return ErrUnavailable
	}
	return nil
}

// ManualSeed seeds libtorch's default generators (CPU, and CUDA where
// present), as torch.manual_seed does. Random tensors created afterwards on
// the same thread count are the same for the same seed.
func ManualSeed(seed int64) error {
	if err := check(); err != nil {
		return err
	}
	C.at_manual_seed(C.int64_t(seed))
	return nil
}

// libtorch's intra-op thread count is per OS thread where it matters: with
// OpenMP, at::set_num_threads sets the calling thread's count (OpenMP's
// nthreads-var) and a process-wide default that a thread adopts only on its
// first parallel operation. A thread that has already computed keeps the
// count it had, whatever SetThreads later said on another thread. Go runs a
// goroutine on any of its threads, so one process could train on 2 threads
// after SetThreads(1), or on 1 after SetThreads(2), depending on which OS
// thread the goroutine landed on; sums then round differently and the same
// seed gives other weights. wantThreads remembers the count SetThreads set,
// and TrainThread and NoGrad apply it to their pinned thread (useThreads).

// wantThreads is the count last passed to SetThreads (0: never called).
var wantThreads atomic.Int64

// Threads returns the number of intra-op threads libtorch uses: the count
// last set with SetThreads, else the calling thread's.
func Threads() int {
	if n := wantThreads.Load(); n > 0 {
		return int(n)
	}
	return threadThreads()
}

// SetThreads sets the number of intra-op threads, for the calling thread
// now and for every thread that later enters TrainThread or NoGrad. n < 1
// is an error.
func SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("libtorch threads: %d is not a positive count", n)
	}
	if err := check(); err != nil {
		return err
	}
	wantThreads.Store(int64(n))
	C.at_set_num_threads(C.int(n))
	if err := ts.TorchErr(); err != nil {
		return fmt.Errorf("libtorch threads: set %d: %w", n, err)
	}
	return nil
}

// threadThreads returns the calling OS thread's intra-op thread count.
func threadThreads() int {
	if check() != nil {
		return 1
	}
	return int(C.at_get_num_threads())
}

// useThreads gives the calling OS thread the count last set with
// SetThreads, where it has another. The caller has pinned its goroutine.
func useThreads() error {
	n := wantThreads.Load()
	if n == 0 || check() != nil || int64(threadThreads()) == n {
		return nil
	}
	C.at_set_num_threads(C.int(n))
	if err := ts.TorchErr(); err != nil {
		return fmt.Errorf("libtorch threads: set %d: %w", n, err)
	}
	return nil
}

// setGradEnabled switches gradient recording on the current OS thread and
// returns the previous mode. (gotch's GradSetEnabled reads the C int's
// result as a Go int, 8 bytes from a 4-byte value, so its answer is
// unreliable.)
func setGradEnabled(on bool) (prev bool, err error) {
	if err := check(); err != nil {
		return false, err
	}
	b := C.int(0)
	if on {
		b = 1
	}
	r := C.at_grad_set_enabled(b)
	if err := ts.TorchErr(); err != nil {
		return false, err
	}
	return r == 1, nil
}

// ThreadsFromEnv parses a thread count such as the --threads flag's value:
// 0 or "" means all cores.
func ThreadsFromEnv(s string) (int, error) {
	if s == "" || s == "0" {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("thread count %q: want a positive integer, or 0 for all cores", s)
	}
	return n, nil
}
