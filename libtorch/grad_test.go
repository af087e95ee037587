package libtorch

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestNoGradRestoresMode(t *testing.T) {
	release, err := TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	w := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer w.MustDrop()
	var inside bool
	if err := NoGrad(func() {
		y := w.MustMulScalar(ts.FloatScalar(2), false)
		inside = y.MustRequiresGrad()
		y.MustDrop()
	}); err != nil {
		t.Fatal(err)
	}
	if inside {
		t.Error("NoGrad recorded a graph")
	}
	y := w.MustMulScalar(ts.FloatScalar(2), false)
	defer y.MustDrop()
	if !y.MustRequiresGrad() {
		t.Error("gradient recording still off after NoGrad")
	}
}

func TestSetGradEnabledReportsPreviousMode(t *testing.T) {
	release, err := TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, step := range []struct{ set, wantPrev bool }{{false, true}, {false, false}, {true, false}, {true, true}} {
		prev, err := setGradEnabled(step.set)
		if err != nil || prev != step.wantPrev {
			t.Fatalf("setGradEnabled(%v) = %v, %v; want previous %v", step.set, prev, err, step.wantPrev)
		}
	}
}

// A thread that computed with one count keeps it after SetThreads on
// another thread; TrainThread and NoGrad give it the count set last.
func TestPinnedThreadsGetSetThreads(t *testing.T) {
	old := Threads()
	defer SetThreads(old)
	check := func(name string, enter func() (func(), error)) {
		set, ask, got := make(chan int), make(chan struct{}), make(chan int)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			SetThreads(3) // this thread now computes on 3
			set <- threadThreads()
			<-ask
			release, err := enter()
			if err != nil {
				t.Error(err)
				got <- -1
				return
			}
			got <- threadThreads()
			release()
		}()
		if n := <-set; n != 3 {
			t.Fatalf("%s: thread count %d after SetThreads(3), want 3", name, n)
		}
		if err := SetThreads(1); err != nil { // on another thread: the test's
			t.Fatal(err)
		}
		ask <- struct{}{}
		if n := <-got; n != 1 {
			t.Errorf("%s: the other thread computes on %d threads after SetThreads(1), want 1", name, n)
		}
	}
	check("TrainThread", TrainThread)
	check("NoGrad", func() (func(), error) { return func() {}, NoGrad(func() {}) })
}
