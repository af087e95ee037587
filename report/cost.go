package report

// The report's cost section: each search's CPU and wall time against one
// baseline training, the whole experiment's CPU time, and the failures.

import (
	"fmt"
	"strings"
)

func (r *Report) costSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Cost\n\n")
	base := r.Baseline
	if base != nil {
		est := ""
		if base.CPUEstimated {
			est = " (estimated as wall × threads: result.json has no cpu_s)"
		}
		p("One baseline training (`%s`, mean of %s): CPU %s s%s, wall %s s.\n\n", base.Label, plural(len(base.Runs), "run"), f1(base.CPU.Mean), est, f1(base.Wall.Mean))
	} else {
		p("No training run here, so no search/training ratio.\n\n")
	}
	if len(r.Searches) > 0 {
		p("Search CPU is the sum of the trials' CPU time (user + system of each child process) as journaled; elapsed is the wall time from the journal's first to its last event (it includes the controller and any pause before a resume).\n\n")
		p("| search | trials with a cost | CPU s | trials' wall s | elapsed wall s | CPU s per trial: mean (min–max) | wall s per trial: mean (min–max) | CPU / baseline training | elapsed / baseline wall |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Searches {
			cr, wr := r.CostRatios(s)
			if s.TrialCPU.N == 0 {
				p("| `%s` | 0 | — | — | %s | — | — | — | — |\n", s.Name, f1(s.ElapsedS))
				continue
			}
			p("| `%s` | %d | %s | %s | %s | %s (%s–%s) | %s (%s–%s) | %s | %s |\n", s.Name, s.TrialCPU.N, f1(s.CPUS), f1(s.TrialWallS), f1(s.ElapsedS),
				f1(s.TrialCPU.Mean), f1(s.TrialCPU.Min), f1(s.TrialCPU.Max), f1(s.TrialWall.Mean), f1(s.TrialWall.Min), f1(s.TrialWall.Max), ratio(cr), ratio(wr))
		}
		p("\n")
		if sp := r.Spent(); sp.Searches > 0 && sp.Total() > sp.Searches && base != nil {
			p("All the work here: %s CPU-seconds (%.1f CPU-hours, %s× one `%s` training): searches %s, final training %s, baseline grids %s, reward-noise retrainings %s.\n\n",
				f1(sp.Total()), sp.Total()/3600, f1(sp.Total()/base.CPU.Mean), base.Label, f1(sp.Searches), f1(sp.Final), f1(sp.Grid), f1(sp.Noise))
		}
		p("### Failures\n\n")
		n := 0
		for _, s := range r.Searches {
			for _, t := range s.Trials {
				if t.Status != Failed {
					continue
				}
				if n == 0 {
					p("| search | trial | reason |\n|---|---:|---|\n")
				}
				n++
				p("| `%s` | %d | %s |\n", s.Name, t.ID, cell(t.Reason))
			}
		}
		if n == 0 {
			p("No trial failed.\n")
		}
		p("\n")
	}
}
