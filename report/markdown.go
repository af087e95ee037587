package report

import (
	"fmt"
	"path/filepath"
	"strings"
)

// markdown writes the report. Every number comes from r; figures are
// linked by file name (they sit next to the Markdown file). Each section
// has its file: searches.go, controller.go, patterns.go, training.go,
// compare.go, noise.go, cost.go; format.go formats numbers and tables.
func (r *Report) markdown(b *strings.Builder, figs []Figure, masks map[*Search]*maskFigure, opt Options) {
	has := map[string]bool{}
	for _, f := range figs {
		has[f.Name] = true
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }

	p("# AutoDropout report: %s\n\n", relName(filepath.Dir(r.Dir), r.Dir))
	p("Written by `autodropout report` from the files under `%s`: each search's `journal.jsonl` (trials, rewards, costs, controller updates), `summary.json` and `top/*.json`, and each training run's `result.json`. ", filepath.ToSlash(r.Dir))
	p("Trials are numbered by their journal id; rewards are validation scores (accuracy, or 80/perplexity for language models).\n\n")
	if len(r.Searches) > 0 {
		p("Searches:\n\n")
		for _, s := range r.Searches {
			stopped := ""
			if s.MultiFidelity {
				stopped = fmt.Sprintf(", multi-fidelity: %d stopped at a rung", s.Stopped)
			}
			p("- `%s`: %s search, seed %d, %d trials of a budget of %s (%d finished, %d failed, %d unfinished%s), %d controller updates\n",
				s.Name, orDash(s.Method), s.Seed, len(s.Trials), intOrDash(s.Budget), s.Finished, s.Failed, s.Unfinished, stopped, len(s.Updates))
		}
		p("\n")
	}
	if len(r.Groups) > 0 {
		n := 0
		var ls []string
		for _, g := range r.Groups {
			n += len(g.Runs)
			ls = append(ls, fmt.Sprintf("`%s` (%d)", g.Label, len(g.Runs)))
		}
		p("Training runs: %d, by label: %s.\n\n", n, strings.Join(ls, ", "))
	}
	if len(r.Notes) > 0 {
		p("Notes:\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}

	if len(r.Searches) > 0 {
		r.searchSection(b, has)
		r.controllerSection(b, has)
		r.droppedSection(b, has)
		r.patternSection(b, masks, opt)
	}
	if len(r.Grid) > 0 {
		r.gridSection(b)
	}
	if len(r.Groups) > 0 {
		r.trainingSection(b)
		r.comparisonSection(b, has)
	}
	if len(r.Noise) > 0 {
		r.noiseSection(b)
	}
	r.curveSection(b, has)
	r.costSection(b)
}
