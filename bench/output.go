package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

func printSteps(f *Settings, rep *Report) {
	fmt.Fprintf(f.Out, "\ntraining step (forward, backward, optimizer), batch %d (Transformer-XL: its config's)\n", rep.Batch)
	fmt.Fprintln(f.Out, "ratios: medians of per-round ratios (95% bootstrap interval); faults: our page faults per step (memory the allocator had given back)")
	multi := false
	for _, r := range rep.Step {
		multi = multi || r.OursFP32 != nil
	}
	fmt.Fprintf(f.Out, "%-16s %-10s %-5s %5s %9s %16s %11s %7s %16s %7s", "model", "variant", "prec", "sites", "ours ms", "×none", "PyTorch ms", "×none", "ours/PT", "faults")
	if multi {
		fmt.Fprintf(f.Out, " %16s %8s", "ours ×fp32", "PT ×fp32")
	}
	fmt.Fprintln(f.Out)
	for _, r := range rep.Step {
		pt, ptn, ot := "-", "-", "-"
		if r.TorchMS != nil {
			pt, ptn, ot = fmt.Sprintf("%.1f", *r.TorchMS), fmt.Sprintf("%.2f", *r.TorchNone), ratioText(*r.OursTorch, *r.OursTorchCI)
		}
		fmt.Fprintf(f.Out, "%-16s %-10s %-5s %5d %9.1f %16s %11s %7s %16s %7.0f", r.Model, r.Variant, r.Precision, r.Sites, r.OursMS, ratioText(r.OursNone, r.OursNoneCI), pt, ptn, ot, r.Faults)
		if multi {
			of, tf := "-", "-"
			if r.OursFP32 != nil {
				of = ratioText(*r.OursFP32, *r.OursFP32CI)
			}
			if r.TorchFP32 != nil {
				tf = fmt.Sprintf("%.2f", *r.TorchFP32)
			}
			fmt.Fprintf(f.Out, " %16s %8s", of, tf)
		}
		fmt.Fprintln(f.Out)
	}
	for _, p := range rep.Params {
		same := "equal"
		if p.Ours != p.PyTorch {
			same = "DIFFERENT: the models do not match"
		}
		fmt.Fprintf(f.Out, "parameters of %s: ours %d, PyTorch %d (%s)\n", p.Model, p.Ours, p.PyTorch, same)
	}
	for _, m := range rep.Memory {
		fmt.Fprintf(f.Out, "resident memory, %s: %.0f MB after warm-up, %.0f MB after %d steps (%+.3f MB/step); C heap in use %.1f → %.1f MB\n",
			m.Model, m.AfterWarmMB, m.EndMB, m.Steps, m.PerStepMB, m.InUseWarmMB, m.InUseEndMB)
	}
}

// ratioText prints a ratio with its interval, "1.02 (0.97–1.07)".
func ratioText(r float64, ci [2]float64) string {
	if ci[0] == ci[1] {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", r, ci[0], ci[1])
}

// pairedRatioCI is a 95% bootstrap interval of pairedRatio: the rounds'
// ratios resampled with replacement 2,000 times, from a fixed seed so that
// the same timings give the same interval.
func pairedRatioCI(a, b []float64) [2]float64 {
	r := roundRatios(a, b)
	if len(r) == 0 {
		return [2]float64{math.NaN(), math.NaN()}
	}
	const resamples = 2000
	rng := rand.New(rand.NewPCG(1, 2))
	meds, sample := make([]float64, resamples), make([]float64, len(r))
	for k := range meds {
		for i := range sample {
			sample[i] = r[rng.IntN(len(r))]
		}
		meds[k] = median(sample)
	}
	slices.Sort(meds)
	return [2]float64{meds[resamples*25/1000], meds[resamples*975/1000]}
}

// pairedRatio is the median over rounds of a[i]/b[i].
func pairedRatio(a, b []float64) float64 { return median(roundRatios(a, b)) }

// roundRatios is a[i]/b[i] for every round both ran.
func roundRatios(a, b []float64) []float64 {
	r := make([]float64, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
