package bench

import (
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/search"
)

// benchController times the controller's round (samples_per_update samples
// and one REINFORCE update) on the first classifier's batch-norm sites, and
// compares it with a trial: one epoch of Fashion-MNIST's training split
// (54,000 examples) at that model's measured step.
func benchController(f *Settings, models []*benchModel, rep *Report) error {
	var m *benchModel
	for _, c := range models {
		if c.in != nil {
			m = c
			break
		}
	}
	if m == nil {
		fmt.Fprintln(f.Out, "\ncontroller: skipped (no classifier in --models)")
		return nil
	}
	re := regexp.MustCompile(search.DefaultSitesRegexp)
	var sites []string
	for _, s := range m.variants[0].ours.(*classifierStepper).model.Sites().Names() {
		if re.MatchString(s) {
			sites = append(sites, s)
		}
	}
	const k = 2 // samples per update, as configs/search-fashion-mnist-tiny.json
	ctl, err := search.NewController(search.ConvNetSpace{SearchSpace: autodropout.DefaultSearchSpace()}, sites, search.DefaultControllerConfig(), 1)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	var sample, update []float64
	for r := -1; r < f.Steps; r++ {
		t0 := time.Now()
		batch := make([]search.Scored, k)
		for i := range batch {
			p, err := ctl.Sample()
			if err != nil {
				return fmt.Errorf("controller sample: %w", err)
			}
			batch[i] = search.Scored{Choices: p.Choices, Reward: 0.8 + 0.01*float64(i+r)}
		}
		t1 := time.Now()
		if _, err := ctl.Update(batch); err != nil {
			return fmt.Errorf("controller update: %w", err)
		}
		if r >= 0 {
			sample = append(sample, t1.Sub(t0).Seconds()*1e3/k)
			update = append(update, time.Since(t1).Seconds()*1e3)
		}
	}
	res := &ControllerResult{Sites: len(sites), Samples: k, SampleMS: median(sample), UpdateMS: median(update)}
	steps := math.Ceil(54000 / float64(f.Batch))
	res.TrialS = steps * m.noneMS() / 1e3
	res.RoundVsTrial = (k*res.SampleMS + res.UpdateMS) / 1e3 / res.TrialS
	rep.Controller = res
	fmt.Fprintf(f.Out, "\ncontroller (%d sites, %d samples per update): sample %.1f ms, update %.1f ms; a round is %.2g of a trial (%s, one epoch of 54,000 examples: %.0f s)\n",
		res.Sites, k, res.SampleMS, res.UpdateMS, res.RoundVsTrial, m.name, res.TrialS)
	return nil
}
