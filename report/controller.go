package report

// The report's controller section: proposal entropy by batch, baseline
// and batch mean reward by update, and a rule-of-thumb reading.

import (
	"fmt"
	"math"
	"strings"
)

func (r *Report) controllerSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Controller: entropy and baseline\n\n")
	if has["controller.png"] {
		p("![Entropy of each proposal by trial; batch mean reward at each controller update](controller.png)\n\n")
		p("Top: the entropy of each proposal (nats, summed over every site's decisions); a random search's uniform proposals have the largest possible entropy (dashed). ")
		p("Bottom: the mean reward of the batch each update learned from, placed at the last trial of that batch. Each search family in its colour: the median over its seeds, with the range of the seeds as a band. The baselines are in the tables below.\n\n")
	}
	uniform := math.NaN() // a random search's proposal entropy: the space's maximum
	for _, s := range r.Searches {
		if s.Method == "random" {
			for _, t := range s.Trials {
				if !math.IsNaN(t.Entropy) {
					uniform = t.Entropy
					break
				}
			}
		}
	}
	any := false
	for _, s := range r.Searches {
		if s.Method != "rl" {
			continue
		}
		any = true
		p("### `%s`\n\n", s.Name)
		batches := s.batchEntropies()
		if len(batches) == 0 {
			p("No proposal journaled an entropy.\n\n")
		} else {
			e0, eN := batches[0], batches[len(batches)-1]
			p("Mean entropy of a proposal: %s in the first batch (step %d), %s in the last (step %d), %s of the start", f2(e0.mean), e0.step, f2(eN.mean), eN.step, pct(eN.mean/e0.mean))
			if !math.IsNaN(uniform) {
				p("; the uniform (random search) entropy is %s, so the last batch is at %s of the maximum", f2(uniform), pct(eN.mean/uniform))
			}
			p(".\n")
		}
		if len(s.Updates) == 0 {
			p("No controller update yet.\n\n")
			continue
		}
		u0, uN := s.Updates[0], s.Updates[len(s.Updates)-1]
		p("Over %d updates the baseline went from %s to %s and the batch mean reward from %s to %s.\n\n",
			len(s.Updates), f4(u0.Baseline), f4(uN.Baseline), f4(u0.MeanReward), f4(uN.MeanReward))
		p("Reading (rule of thumb): %s\n\n", s.verdict())
		p("| update (step) | after trial | batch mean entropy | baseline | batch mean reward | loss |\n")
		p("|---:|---:|---:|---:|---:|---:|\n")
		for _, u := range s.Updates {
			p("| %d | %s | %s | %s | %s | %s |\n", u.Step, trialOrDash(u.AfterTrial), f2(u.MeanEntropy), f4(u.Baseline), f4(u.MeanReward), f4(u.Loss))
		}
		p("\n")
	}
	if !any {
		p("No RL search here (a random search has no controller).\n\n")
	}
}

type batchEntropy struct {
	step int
	mean float64
}

// batchEntropies returns the mean proposal entropy of each controller step.
func (s *Search) batchEntropies() []batchEntropy {
	by := map[int][]float64{}
	for _, t := range s.Trials {
		if t.Step >= 0 && !math.IsNaN(t.Entropy) {
			by[t.Step] = append(by[t.Step], t.Entropy)
		}
	}
	var out []batchEntropy
	for _, st := range sortedKeys(by) {
		out = append(out, batchEntropy{st, Describe(by[st]).Mean})
	}
	return out
}

// verdict reads the controller's curves: collapsing when the last batch's
// entropy is under a tenth of the first's; learning when the later half of
// the updates has a higher batch mean reward than the earlier half.
func (s *Search) verdict() string {
	be := s.batchEntropies()
	if len(be) >= 2 && be[len(be)-1].mean < 0.1*be[0].mean {
		return fmt.Sprintf("**collapsing**: the last batch's entropy is %s of the first's, so the controller proposes nearly the same patterns; raise the entropy weight or the temperature if the reward has not converged.", pct(be[len(be)-1].mean/be[0].mean))
	}
	if len(s.Updates) < 2 {
		return "too few updates to tell."
	}
	h := len(s.Updates) / 2
	var early, late []float64
	for i, u := range s.Updates {
		if i < h {
			early = append(early, u.MeanReward)
		} else {
			late = append(late, u.MeanReward)
		}
	}
	e, l := Describe(early).Mean, Describe(late).Mean
	if l > e {
		return fmt.Sprintf("**learning**: the batch mean reward of the later %s (%s) is above that of the first %s (%s), %s.", plural(len(late), "update"), f4(l), plural(len(early), "update"), f4(e), signed(l-e))
	}
	return fmt.Sprintf("**no sign of learning yet**: the batch mean reward of the later %s (%s) is not above that of the first %s (%s).", plural(len(late), "update"), f4(l), plural(len(early), "update"), f4(e))
}
