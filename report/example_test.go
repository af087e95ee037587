package report_test

import (
	"fmt"

	"github.com/autodropout/autodropout/report"
)

// Load reads a folder of runs (here a small recorded demo: an RL and a
// random search of 8 trials each, and final trainings over seeds) into
// numbers; Write turns them into report.md and its figures.
func ExampleLoad() {
	r, err := report.Load("testdata/demo")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range r.Searches {
		cpu, _ := r.CostRatios(s)
		fmt.Printf("%s (%s): best %.4f at trial %d, %d failed, CPU %.0f s = %.2f baseline trainings\n",
			s.Name, s.Method, s.BestReward, s.BestTrial, s.Failed, s.CPUS, cpu)
	}
	for _, g := range r.Groups {
		fmt.Printf("%-16s test accuracy %.4f ± %.4f (n=%d)\n", g.Label, g.TestAcc.Mean, g.TestAcc.Std, g.TestAcc.N)
	}
	// Output:
	// search-random (random): best 0.8350 at trial 6, 1 failed, CPU 860 s = 0.73 baseline trainings
	// search-rl (rl): best 0.8575 at trial 6, 1 failed, CPU 4265 s = 3.61 baseline trainings
	// none             test accuracy 0.8591 ± 0.0021 (n=3)
	// dropout          test accuracy 0.8627 ± 0.0024 (n=3)
	// dropblock        test accuracy 0.8667 ± 0.0017 (n=2)
	// random-best      test accuracy 0.8650 ± 0.0015 (n=2)
	// autodropout-best test accuracy 0.8705 ± 0.0019 (n=3)
}
