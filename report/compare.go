package report

// The report's comparison section: each label's 95% interval, the paired
// differences that answer the study's questions, and each regularizer
// against none's seed-to-seed spread.

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// score is a group's mean test score (or validation score), NaN without
// one: accuracy, or perplexity for language models.
func score(g *Group, test bool) float64 {
	switch {
	case g.LM && test:
		return g.TestPPL.Mean
	case g.LM:
		return g.ValPPL.Mean
	case test:
		return g.TestAcc.Mean
	}
	return g.ValAcc.Mean
}

// better says whether score a beats b (higher accuracy, lower perplexity).
func better(lm bool, a, b float64) bool {
	if lm {
		return a < b
	}
	return a > b
}

// comparisonSection gives every group's 95% interval and the paired
// differences that matter: the best learned pattern against the best
// hand-designed baseline (then the others) and against none, RL against
// random, each other space's best pattern (labels "…-rl-best") against
// the full space's and random search's, every other pattern against the
// best baseline, that baseline against the others, and each baseline
// against none. "Best" is
// chosen by mean validation score, so the test set is read only for the
// numbers reported.
func (r *Report) comparisonSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	cls := r.compared()
	if len(cls) == 0 {
		return
	}
	lm := cls[0].LM
	unit, fmtv := "test accuracy", "%.4f"
	if lm {
		unit, fmtv = "test perplexity (lower is better)", "%.2f"
	}
	p("## Comparisons\n\n")
	if has["comparison.png"] {
		p("![Each label's mean %s with its 95%% interval; paired differences from the best tuned baseline](comparison.png)\n\n", unit)
		p("Left: each label's mean %s over its seeds with its 95%% t-interval. Right: each label minus the best hand-designed baseline (by mean validation score), paired by seed, with the 95%% t-interval of the difference; an interval clear of the dashed zero line is beyond the seed-to-seed noise (green above it, red below).\n\n", unit)
	}
	p("Mean %s with its 95%% t-interval over seeds:\n\n| label | n | mean | 95%% interval |\n|---|---:|---:|---|\n", unit)
	for _, g := range cls {
		st := g.TestAcc
		if lm {
			st = g.TestPPL
		}
		h := st.Half95()
		iv := "—"
		if !math.IsNaN(h) {
			iv = fmt.Sprintf("["+fmtv+", "+fmtv+"]", st.Mean-h, st.Mean+h)
		}
		p("| `%s` | %d | "+fmtv+" | %s |\n", g.Label, st.N, st.Mean, iv)
	}
	pairs := r.comparisonPairs(cls)
	p("\nPaired differences over the seeds both ran (A − B, %s). The best learned pattern (`-best` labels, or a label whose runs all train given patterns) and the best hand-designed baseline are the ones with the best mean validation score (the pattern is then paired with every other baseline too); the best pattern of each other space (`…-rl-best`: a subspace, the full space with an extra token, or another controller) is compared with the full space's (`autodropout-best`) and random search's (`random-best`); every other pattern with the best baseline, and that baseline with the others.%s%s\n\n", unit, augmentNote(cls), supervisedNote(r))
	// A perplexity's difference is also given relative to B's (the
	// issue's "at least 10% below"); an accuracy's is in points already.
	relHead, relRule := "", ""
	if lm {
		relHead, relRule = " relative to B |", "---:|"
	}
	p("| A | B | seeds | mean A − B |%s 95%% interval | beyond noise? |\n|---|---|---:|---:|%s---|---|\n", relHead, relRule)
	seen := map[[2]*Group]bool{}
	for _, pr := range pairs {
		if pr[0] == nil || pr[1] == nil || pr[0] == pr[1] || seen[pr] {
			continue
		}
		seen[pr] = true
		d := PairedDiff(pr[0], pr[1], testScore(lm))
		iv, verdict := d.interval()
		rel := ""
		if lm {
			rel = fmt.Sprintf(" %+.1f%% |", 100*d.Relative())
		}
		p("| `%s` | `%s` | %d | %+.4f |%s %s | %s |\n", d.A, d.B, d.Diff.N, d.Diff.Mean, rel, iv, verdict)
	}
	p("\n")
	r.regimeTable(b, cls, lm)
}

// comparisonPairs lists comparisonSection's paired differences (nil
// groups and repeats are skipped there).
func (r *Report) comparisonPairs(cls []*Group) [][2]*Group {
	pattern := bestOf(cls, isPattern)
	baseline := bestOf(cls, baselineGroup)
	pairs := [][2]*Group{{pattern, baseline}}
	for _, l := range baselines { // the tuned baselines the best one hides
		pairs = append(pairs, [2]*Group{pattern, r.Group(l)})
	}
	pairs = append(pairs, [2]*Group{pattern, r.Group("none")}, [2]*Group{baseline, r.Group("none")}, [2]*Group{r.Group("autodropout-best"), r.Group("random-best")})
	// Each other space's best pattern against the full space's (critique 1)
	// and against random search's.
	for _, g := range cls {
		if strings.HasSuffix(g.Label, "-rl-best") {
			pairs = append(pairs, [2]*Group{g, r.Group("autodropout-best")}, [2]*Group{g, r.Group("random-best")})
		}
	}
	// Every other pattern against the best baseline, and that baseline
	// against the others.
	for _, g := range cls {
		if isPattern(g) {
			pairs = append(pairs, [2]*Group{g, baseline})
		}
	}
	for _, l := range baselines {
		pairs = append(pairs, [2]*Group{baseline, r.Group(l)})
	}
	for _, l := range baselines {
		pairs = append(pairs, [2]*Group{r.Group(l), r.Group("none")})
	}
	pairs = append(pairs, r.augmentPairs(cls)...)
	// What semi-supervised training adds: its run without a regularizer
	// against the labeled images alone.
	pairs = append(pairs, [2]*Group{r.Group("none"), r.Group("supervised")})
	return pairs
}

// augmentSuffixes end the labels of runs trained with an extra
// augmentation: "spatial-randaugment" is "spatial" with RandAugment.
var augmentSuffixes = []string{"-randaugment"}

// augmentPairs pairs each augmented label with its regularizer without
// the augmentation (what the augmentation adds) and, unless it is none's,
// with none under the same augmentation (what the regularizer adds).
func (r *Report) augmentPairs(cls []*Group) [][2]*Group {
	var pairs [][2]*Group
	for _, suffix := range augmentSuffixes {
		for _, g := range cls {
			base, ok := strings.CutSuffix(g.Label, suffix)
			if !ok {
				continue
			}
			pairs = append(pairs, [2]*Group{g, r.Group(base)})
			if base != "none" {
				pairs = append(pairs, [2]*Group{g, r.Group("none" + suffix)})
			}
		}
	}
	return pairs
}

// augmentNote explains the augmented labels' pairs when there are some.
func augmentNote(cls []*Group) string {
	for _, g := range cls {
		for _, suffix := range augmentSuffixes {
			if strings.HasSuffix(g.Label, suffix) {
				return " A label ending in `-randaugment` is the same regularizer trained with RandAugment; it is paired with its label without RandAugment (what RandAugment adds) and with `none-randaugment` (what the regularizer adds on top of RandAugment)."
			}
		}
	}
	return ""
}

// supervisedNote explains the pair of none with the supervised row when
// there is one.
func supervisedNote(r *Report) string {
	if r.Group("supervised") == nil {
		return ""
	}
	return " `supervised` trains the labeled images alone; `none` against it is what the semi-supervised training adds."
}

// isPattern says whether g's runs train learned patterns: a search's best
// (a "-best" label) or given pattern files, without an extra augmentation.
func isPattern(g *Group) bool {
	for _, suffix := range augmentSuffixes {
		if strings.HasSuffix(g.Label, suffix) {
			return false
		}
	}
	if strings.HasSuffix(g.Label, "-best") {
		return true
	}
	for _, reg := range g.Regularizers {
		if reg != "pattern" && !strings.HasPrefix(reg, "patterns from ") {
			return false
		}
	}
	return len(g.Regularizers) > 0
}

// baselines are the hand-designed regularizers' labels.
var baselines = []string{"dropout", "spatial", "dropblock", "variational"}

func isBaseline(label string) bool { return slices.Contains(baselines, label) }

func baselineGroup(g *Group) bool { return isBaseline(g.Label) }

// compared is the final comparison's groups: those with a test score.
func (r *Report) compared() []*Group {
	var cls []*Group
	for _, g := range r.Groups {
		if len(g.Runs) > 0 && !math.IsNaN(score(g, true)) {
			cls = append(cls, g)
		}
	}
	return cls
}

// bestOf is the group of cls whose label matches with the best mean
// validation score (nil when none has one), so that the test set is read
// only for the numbers reported.
func bestOf(cls []*Group, match func(*Group) bool) *Group {
	var best *Group
	for _, g := range cls {
		if !match(g) || math.IsNaN(score(g, false)) {
			continue
		}
		if best == nil || better(g.LM, score(g, false), score(best, false)) {
			best = g
		}
	}
	return best
}

// testScore is a run's test score: accuracy, or perplexity for language
// models.
func testScore(lm bool) func(Run) float64 {
	return func(run Run) float64 {
		if lm {
			return run.TestPPL
		}
		return run.TestAcc
	}
}

// regimeTable says whether regularization matters in this setting: each
// regularizer's mean test score against no regularizer's, in units of no
// regularizer's seed-to-seed standard deviation.
func (r *Report) regimeTable(b *strings.Builder, cls []*Group, lm bool) {
	none := r.Group("none")
	if none == nil || lm || none.TestAcc.N < 2 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	sd := none.TestAcc.Std
	p("Against no regularizer (mean test accuracy %s, seed-to-seed standard deviation %s over %d seeds): does a regularizer beat it by more than that deviation?\n\n", f4(none.TestAcc.Mean), f4(sd), none.TestAcc.N)
	p("| label | n | mean − none | in none's deviations | by more than one? |\n|---|---:|---:|---:|---|\n")
	for _, g := range cls {
		if g == none || g.Label == "supervised" { // fewer labels, not a regularizer
			continue
		}
		d := g.TestAcc.Mean - none.TestAcc.Mean
		verdict := "no"
		if d > sd {
			verdict = "yes"
		}
		p("| `%s` | %d | %+.4f | %+.1f | %s |\n", g.Label, g.TestAcc.N, d, d/sd, verdict)
	}
	p("\n")
}
