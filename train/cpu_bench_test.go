package train

import (
	"regexp"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// BenchmarkStepCPUTime compares a regularizer's bf16 WRN-16-2 training
// step with none in CPU time of the training thread, with one libtorch
// thread (so that every op runs on it), the two
// steps alternating round robin: on a shared machine a step's wall time
// swings with the other jobs (bench's intervals there span 0.9–2×), while
// the CPU time it takes does not. The regularizers sit where
// autodropout bench puts them (the second batch norm of every block, six
// sites). Metrics: each variant's CPU ms per step, the median over rounds
// of their ratio, and its quartiles q1 and q3.
//
//	go test -run - -bench StepCPUTime -benchtime 20x ./train/
func BenchmarkStepCPUTime(b *testing.B) {
	if err := libtorch.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	release, err := libtorch.TrainThread()
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	bn2 := regexp.MustCompile(`^block\d\.layer\.\d+\.bn2$`).MatchString
	none, optN, batchN := wrnStep(b, 16, 2, 128, "", autodropout.Options{}, bn2)
	db, optD, batchD := wrnStep(b, 16, 2, 128, "dropblock", autodropout.Options{Rate: 0.1, BlockSize: 3}, bn2)
	amp := &AMP{Precision: libtorch.BF16, Device: gotch.CPU}
	cpuStep := func(run func() error) time.Duration {
		c0 := threadCPU()
		if err := run(); err != nil {
			b.Fatal(err)
		}
		return threadCPU() - c0
	}
	stepN := func() error { _, err := StepAMP(none, optN, batchN, amp); return err }
	stepD := func() error { _, err := StepAMP(db, optD, batchD, amp); return err }
	cpuStep(stepN) // warm-up
	cpuStep(stepD)
	b.ResetTimer()
	var tn, td time.Duration
	ratios := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		n, d := cpuStep(stepN), cpuStep(stepD)
		tn, td = tn+n, td+d
		ratios = append(ratios, float64(d)/float64(n))
	}
	sort.Float64s(ratios)
	b.ReportMetric(float64(tn.Milliseconds())/float64(b.N), "none-cpu-ms")
	b.ReportMetric(float64(td.Milliseconds())/float64(b.N), "dropblock-cpu-ms")
	b.ReportMetric(ratios[len(ratios)/2], "dropblock/none")
	b.ReportMetric(ratios[len(ratios)/4], "q1")
	b.ReportMetric(ratios[len(ratios)*3/4], "q3")
}

// threadCPU is the CPU time the calling OS thread has used, user and
// system: the training thread's, where libtorch runs its ops with one
// intra-op thread, without the Go runtime's collector and finalizers on
// other threads.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	_ = syscall.Getrusage(rusageThread, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
