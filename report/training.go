package report

// The report's training sections: the final runs, the baseline grids and
// the learning curves.

import (
	"fmt"
	"math"
	"strings"
)

func (r *Report) trainingSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Final training\n\n")
	p("Mean ± sample standard deviation over seeds (n runs), and the range. ")
	if r.Baseline != nil {
		p("Δ is the difference of the means from `%s`.", r.Baseline.Label)
	}
	p("\n\n")
	var cls, lm []*Group
	for _, g := range r.Groups {
		if g.LM {
			lm = append(lm, g)
		} else {
			cls = append(cls, g)
		}
	}
	delta := func(g *Group, get func(*Group) Stat, format string) string {
		if r.Baseline == nil || g == r.Baseline {
			return "—"
		}
		return fmtOr(format, get(g).Mean-get(r.Baseline).Mean)
	}
	if len(cls) > 0 {
		p("| label | n | seeds | validation accuracy | test accuracy | test min–max | Δ test | CPU s (mean) | wall s (mean) | regularizer |\n")
		p("|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, g := range cls {
			p("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", g.Label, len(g.Runs), seeds(g), pm(g.ValAcc), pm(g.TestAcc),
				rng(g.TestAcc), delta(g, func(g *Group) Stat { return g.TestAcc }, "%+.4f"), cpuMean(g), f1(g.Wall.Mean), cell(strings.Join(g.Regularizers, "; ")))
		}
		p("\n")
	}
	if len(lm) > 0 {
		p("Language models (perplexity, lower is better):\n\n")
		p("| label | n | seeds | validation perplexity | test perplexity | test min–max | Δ test | CPU s (mean) | wall s (mean) | regularizer |\n")
		p("|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, g := range lm {
			p("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", g.Label, len(g.Runs), seeds(g), pm2(g.ValPPL), pm2(g.TestPPL),
				rng2(g.TestPPL), delta(g, func(g *Group) Stat { return g.TestPPL }, "%+.2f"), cpuMean(g), f1(g.Wall.Mean), cell(strings.Join(g.Regularizers, "; ")))
		}
		p("\n")
	}
	p("<details><summary>Every training run</summary>\n\n")
	p("| label | seed | validation | test | CPU s | wall s | folder |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, g := range r.Groups {
		for _, run := range g.Runs {
			v, t := f4(run.ValAcc), f4(run.TestAcc)
			if run.LM {
				v, t = f2(run.ValPPL)+" ppl", f2(run.TestPPL)+" ppl"
			}
			star := ""
			if run.CPUEstimated {
				star = "*"
			}
			p("| `%s` | %d | %s | %s | %s%s | %s | `%s` |\n", g.Label, run.Seed, v, t, f1(run.CPUS), star, f1(run.WallS), relName(r.Dir, run.Dir))
		}
	}
	p("\n</details>\n\n")
}

// gridSection lists the baseline grid: each setting's validation score
// and cost, and the setting each family chose.
func (r *Report) gridSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Baseline grids\n\n")
	p("Each hand-designed baseline's settings, trained without the test set; the best validation score of each family is its setting in the final comparison (marked ✓).\n\n")
	p("| setting | seeds | validation | CPU s | regularizer |\n|---|---|---:|---:|---|\n")
	family := func(g *Group) string { f, _, _ := strings.Cut(g.Label, "-"); return f }
	best := map[string]*Group{}
	var cpu float64
	for _, g := range r.Grid {
		f := family(g)
		v, bv := score(g, false), math.NaN()
		if c := best[f]; c != nil {
			bv = score(c, false)
		}
		if !math.IsNaN(v) && (math.IsNaN(bv) || better(g.LM, v, bv)) {
			best[f] = g
		}
		for _, run := range g.Runs {
			cpu += run.CPUS
		}
	}
	for _, g := range r.Grid {
		mark := ""
		if best[family(g)] == g {
			mark = " ✓"
		}
		val := pm(g.ValAcc)
		if g.LM {
			val = pm2(g.ValPPL)
		}
		p("| `%s`%s | %s | %s | %s | %s |\n", g.Label, mark, seeds(g), val, cpuMean(g), cell(strings.Join(g.Regularizers, "; ")))
	}
	// The same training without a regularizer, for reference: the final
	// runs of none with the grid's seeds.
	if none := r.Group("none"); none != nil && len(r.Grid) > 0 && len(r.Grid[0].Runs) > 0 {
		for _, run := range none.Runs {
			switch {
			case run.Seed != r.Grid[0].Runs[0].Seed:
			case run.LM && !math.IsNaN(run.ValPPL):
				p("| no regularizer (final run, for reference) | %d | %.2f | %s | |\n", run.Seed, run.ValPPL, f1(run.CPUS))
			case !math.IsNaN(run.ValAcc):
				p("| no regularizer (final run, for reference) | %d | %s | %s | |\n", run.Seed, f4(run.ValAcc), f1(run.CPUS))
			}
		}
	}
	p("\nThe grids cost %s CPU-seconds in all", f1(cpu))
	if r.Baseline != nil && r.Baseline.CPU.Mean > 0 {
		p(", %.1f× one `%s` training", cpu/r.Baseline.CPU.Mean, r.Baseline.Label)
	}
	p(".\n\n")
}

// curveSection shows the learning curves of runs trained with --curve.
func (r *Report) curveSection(b *strings.Builder, has map[string]bool) {
	if !has["curves.png"] {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Learning curves\n\n")
	runs := r.curveRuns()
	if len(runs) > 0 && len(runs[0].LMCurve) > 0 {
		lmCurveTable(p, runs)
		return
	}
	p("![Validation accuracy (solid) and accuracy on the training images (dashed) after every epoch](curves.png)\n\n")
	p("Runs trained with `train --curve` (the first seed of each label): accuracy on the validation set and on the training images (unaugmented, evaluated as the validation set is) after every epoch, and the training loss (mean over the epoch, with the regularizer on). A model that over-fits reaches 100%% on its training images while its validation accuracy stops rising.\n\n")
	p("| run | seed | epochs | best validation (epoch) | last validation | last training accuracy | last training loss |\n")
	p("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range runs {
		best, at := math.Inf(-1), 0
		for _, c := range run.Curve {
			if c.ValAcc > best {
				best, at = c.ValAcc, c.Epoch
			}
		}
		last := run.Curve[len(run.Curve)-1]
		ta := math.NaN()
		if last.TrainAcc != nil {
			ta = *last.TrainAcc
		}
		p("| `%s` | %d | %d | %s (%d) | %s | %s | %s |\n", run.Label, run.Seed, last.Epoch, f4(best), at, f4(last.ValAcc), f4(ta), f4(last.TrainLoss))
	}
	p("\n")
}

// lmCurveTable shows language models' learning curves: where each run's
// validation perplexity was lowest, and where it ended.
func lmCurveTable(p func(string, ...any), runs []Run) {
	p("![Validation perplexity (solid) and perplexity on training tokens (dashed) every N steps](curves.png)\n\n")
	p("Runs trained with `train --task lm --curve-every N` (the first seed of each label): perplexity on the validation split and on as many training tokens (in evaluation mode, without the regularizer) every N steps. A model that over-fits keeps lowering its training perplexity while its validation perplexity reaches a minimum and rises.\n\n")
	p("| run | seed | steps | best validation perplexity (step) | last validation perplexity | rise from the best | last training perplexity |\n")
	p("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range runs {
		best, at := math.Inf(1), 0
		for _, c := range run.LMCurve {
			if c.ValPPL < best {
				best, at = c.ValPPL, c.Step
			}
		}
		last := run.LMCurve[len(run.LMCurve)-1]
		p("| `%s` | %d | %d | %.2f (%d) | %.2f | %+.1f%% | %.2f |\n", run.Label, run.Seed, last.Step, best, at, last.ValPPL, 100*(last.ValPPL/best-1), last.TrainPPL)
	}
	p("\n")
}
