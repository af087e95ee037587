package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// markdown writes the report. Every number comes from r; figures are
// linked by file name (they sit next to the Markdown file).
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
		r.comparisonSection(b)
	}
	if len(r.Noise) > 0 {
		r.noiseSection(b)
	}
	r.curveSection(b, has)
	r.costSection(b)
}

func (r *Report) searchSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Search: reward per trial\n\n")
	if has["rewards.png"] {
		p("![Reward per trial (points), running best (lines), failed trials (crosses on the bottom edge)](rewards.png)\n\n")
		p("Points: each finished trial's reward; lines: the best reward so far by trial id; crosses on the bottom edge: failed trials.\n\n")
	} else {
		p("No trial has ended yet.\n\n")
	}
	p("| search | method | trials | finished | failed | best reward (trial) | mean reward | median reward |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Searches {
		p("| `%s` | %s | %d | %d | %d | %s (%s) | %s | %s |\n", s.Name, orDash(s.Method), len(s.Trials), s.Finished, s.Failed,
			f4(s.BestReward), trialOrDash(s.BestTrial), f4(s.MeanReward), f4(median(s.rewards())))
	}
	p("\n")

	// RL against random: each RL search against its random twin (the same
	// name but for the method, so the same seed and settings).
	for _, a := range r.Searches {
		if a.Method != "rl" {
			continue
		}
		for _, c := range r.Searches {
			if c.Method != "random" || a.Finished == 0 || c.Finished == 0 || !twins(a.Name, c.Name) {
				continue
			}
			p("**RL against random** (`%s` against `%s`): best reward %s against %s (%s); mean reward %s against %s (%s). ",
				a.Name, c.Name, f4(a.BestReward), f4(c.BestReward), signed(a.BestReward-c.BestReward),
				f4(a.MeanReward), f4(c.MeanReward), signed(a.MeanReward-c.MeanReward))
			last := min(a.Trials[len(a.Trials)-1].ID, c.Trials[len(c.Trials)-1].ID)
			ba, bc := a.bestAt(last), c.bestAt(last)
			p("After the same number of trials (ids up to %d) the best so far is %s against %s. ", last, f4(ba), f4(bc))
			if t := a.firstReaching(c.BestReward); t >= 0 {
				p("`%s` first reached `%s`'s best (%s) at trial %d; `%s` found it at trial %d.\n\n", a.Name, c.Name, f4(c.BestReward), t, c.Name, c.BestTrial)
			} else {
				p("`%s` never reached `%s`'s best (%s).\n\n", a.Name, c.Name, f4(c.BestReward))
			}
		}
	}

	r.rlRandomOverSeeds(b)

	if has["cost.png"] {
		p("![Best reward so far against the CPU-seconds of each search's trials](cost.png)\n\n")
		p("Best reward so far against the CPU time the search's trials have used, one colour per search family and one line per seed: how much compute each method needs to reach a score. Only trials trained to the end count as a best; a multi-fidelity search's rungs add their CPU time when they end.\n\n")
	}
	r.familyCostTable(b)
	p("<details><summary>Reward and running best of every trial</summary>\n\n")
	ids := map[int]bool{}
	p("| trial |")
	for _, s := range r.Searches {
		p(" `%s` reward | best so far |", s.Name)
		for _, t := range s.Trials {
			ids[t.ID] = true
		}
	}
	p("\n|---:|%s\n", strings.Repeat("---:|---:|", len(r.Searches)))
	for _, id := range sortedKeys(ids) {
		p("| %d |", id)
		for _, s := range r.Searches {
			t, ok := s.trial(id)
			switch {
			case !ok:
				p(" | |")
			case t.Status == Finished:
				p(" %s | %s |", f4(t.Reward), f4(t.Best))
			default:
				p(" %s | %s |", t.Status, f4(t.Best))
			}
		}
		p("\n")
	}
	p("\n</details>\n\n")
}

func (r *Report) controllerSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Controller: entropy and baseline\n\n")
	if has["controller.png"] {
		p("![Entropy of each proposal by trial; baseline and batch mean reward at each controller update](controller.png)\n\n")
		p("Top: the entropy of each proposal (nats, summed over every site's decisions); a random search's uniform proposals have the largest possible entropy. ")
		p("Bottom: the controller's moving-average baseline and the batch's mean reward at each update, placed at the last trial of the batch it learned from.\n\n")
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

func (r *Report) patternSection(b *strings.Builder, masks map[*Search]*maskFigure, opt Options) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Best patterns\n\n")
	pictures := false
	for _, mf := range masks {
		pictures = pictures || mf.Figure != ""
	}
	if pictures {
		p("Mask pictures draw each site's pattern with `Pattern.Mask` on a %d×%d×%d×%d activation (one sample, %d channels of %d×%d; the model's own map sizes are not in the pattern file), libtorch seeded with %d: one row per site, one tile per channel (a single tile when the pattern shares its mask across channels), white kept, black dropped. The dropped share is over the drawn cells.\n\n",
			1, opt.Channels, opt.MapH, opt.MapW, opt.Channels, opt.MapH, opt.MapW, opt.Seed)
	}
	for _, s := range r.Searches {
		p("### `%s`\n\n", s.Name)
		mf := masks[s]
		if mf == nil {
			p("No `top/` pattern files (a search writes them when it ends).\n\n")
			continue
		}
		rel := relName(r.Dir, mf.Top.Path)
		p("Best pattern file `%s`: reward %s", rel, f4(mf.Top.Reward))
		if t, ok := s.Best(); ok {
			p(" (the journal's best is trial %d with %s)", t.ID, f4(t.Reward))
		}
		p(".\n\n")
		if mf.Figure != "" {
			p("![Masks of %s](%s)\n\n", rel, mf.Figure)
			p("| site | pattern | dropped |\n|---|---|---:|\n")
			for _, sm := range mf.Sites {
				p("| `%s` | %s | %s |\n", sm.Site, sm.Pattern, pct(sm.Dropped))
			}
			p("\n")
		} else {
			p("Not a ConvNet pattern file (no mask picture); its patterns:\n\n```json\n%s\n```\n\n", strings.TrimSpace(mf.Top.Text))
		}
		if len(s.Top) > 1 {
			var ls []string
			for _, t := range s.Top[1:] {
				ls = append(ls, fmt.Sprintf("`%s` (%s)", filepath.Base(t.Path), f4(t.Reward)))
			}
			p("Other top files: %s.\n\n", strings.Join(ls, ", "))
		}
	}
}

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
			if run.Seed == r.Grid[0].Runs[0].Seed && !math.IsNaN(run.ValAcc) {
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
// random, each
// other space's best pattern (labels "…-rl-best") against the full
// space's, and each baseline against none. "Best" is
// chosen by mean validation score, so the test set is read only for the
// numbers reported.
func (r *Report) comparisonSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var cls []*Group
	for _, g := range r.Groups {
		if len(g.Runs) > 0 && !math.IsNaN(score(g, true)) {
			cls = append(cls, g)
		}
	}
	if len(cls) == 0 {
		return
	}
	lm := cls[0].LM
	unit, fmtv := "test accuracy", "%.4f"
	if lm {
		unit, fmtv = "test perplexity (lower is better)", "%.2f"
	}
	p("## Comparisons\n\n")
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
	pick := func(match func(string) bool) *Group {
		var best *Group
		for _, g := range cls {
			if !match(g.Label) || math.IsNaN(score(g, false)) {
				continue
			}
			if best == nil || better(lm, score(g, false), score(best, false)) {
				best = g
			}
		}
		return best
	}
	pattern := pick(func(l string) bool { return strings.HasSuffix(l, "-best") })
	baselines := []string{"dropout", "spatial", "dropblock", "variational"}
	baseline := pick(func(l string) bool { return slices.Contains(baselines, l) })
	pairs := [][2]*Group{{pattern, baseline}}
	for _, l := range baselines { // the tuned baselines the best one hides
		pairs = append(pairs, [2]*Group{pattern, r.Group(l)})
	}
	pairs = append(pairs, [2]*Group{pattern, r.Group("none")}, [2]*Group{baseline, r.Group("none")}, [2]*Group{r.Group("autodropout-best"), r.Group("random-best")})
	// Each other space's best pattern against the full space's (critique 1).
	for _, g := range cls {
		if strings.HasSuffix(g.Label, "-rl-best") {
			pairs = append(pairs, [2]*Group{g, r.Group("autodropout-best")})
		}
	}
	for _, l := range baselines {
		pairs = append(pairs, [2]*Group{r.Group(l), r.Group("none")})
	}
	testScore := func(run Run) float64 {
		if lm {
			return run.TestPPL
		}
		return run.TestAcc
	}
	p("\nPaired differences over the seeds both ran (A − B, %s). The best learned pattern (`-best` labels) and the best hand-designed baseline are the ones with the best mean validation score (the pattern is then paired with every other baseline too); the best pattern of each other space (`…-rl-best`: a subspace, or the full space with an extra token) is compared with the full space's (`autodropout-best`).\n\n", unit)
	p("| A | B | seeds | mean A − B | 95%% interval | beyond noise? |\n|---|---|---:|---:|---|---|\n")
	seen := map[[2]*Group]bool{}
	for _, pr := range pairs {
		if pr[0] == nil || pr[1] == nil || pr[0] == pr[1] || seen[pr] {
			continue
		}
		seen[pr] = true
		d := PairedDiff(pr[0], pr[1], testScore)
		iv, verdict := d.interval()
		p("| `%s` | `%s` | %d | %+.4f | %s | %s |\n", d.A, d.B, d.Diff.N, d.Diff.Mean, iv, verdict)
	}
	p("\n")
	r.regimeTable(b, cls, lm)
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
		if g == none {
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

// curveSection shows the learning curves of runs trained with --curve.
func (r *Report) curveSection(b *strings.Builder, has map[string]bool) {
	if !has["curves.png"] {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Learning curves\n\n")
	p("![Validation accuracy (solid) and accuracy on the training images (dashed) after every epoch](curves.png)\n\n")
	p("Runs trained with `train --curve` (the first seed of each label): accuracy on the validation set and on the training images (unaugmented, evaluated as the validation set is) after every epoch, and the training loss (mean over the epoch, with the regularizer on). A model that over-fits reaches 100%% on its training images while its validation accuracy stops rising.\n\n")
	p("| run | seed | epochs | best validation (epoch) | last validation | last training accuracy | last training loss |\n")
	p("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range r.curveRuns() {
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

// twins reports whether two search names differ only in their method
// ("search-rl-seed1" and "search-random-seed1", "search-mf-rl-seed2" and
// "search-mf-random-seed2").
func twins(rl, random string) bool {
	return strings.Replace(rl, "-rl", "-random", 1) == random
}

// familyCostTable compares search families (the seeds of one search) by
// the best full-fidelity reward they end with and the CPU-seconds they
// need to reach a target: the lowest final best among the seeds of a
// reference family, the full-space full-fidelity searches (search-rl,
// search-random). "Reached" is the lower end of the reference's seed
// spread, the "within its seed spread".
func (r *Report) familyCostTable(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var names, running []string
	fams := map[string][]*Search{}
	for _, s := range r.Searches {
		// A search still short of its budget would pull its family's final
		// best and CPU down: it joins the table when it ends.
		if !s.complete() {
			running = append(running, "`"+s.Name+"`")
			continue
		}
		f := family(s.Name)
		if fams[f] == nil {
			names = append(names, f)
		}
		fams[f] = append(fams[f], s)
	}
	if len(names) < 2 {
		return
	}
	defer func() {
		if len(running) > 0 {
			p("Searches short of their budget, left out until they end: %s.\n\n", strings.Join(running, ", "))
		}
	}()
	var refs []string
	for _, f := range names {
		if (f == "search-rl" || f == "search-random") && !fams[f][0].MultiFidelity {
			refs = append(refs, f)
		}
	}
	target := map[string]float64{}
	cpuMean := map[string]float64{}
	for _, f := range names {
		var bests, cpus []float64
		for _, s := range fams[f] {
			if s.Finished > 0 {
				bests = append(bests, s.BestReward)
			}
			cpus = append(cpus, s.CPUS)
		}
		target[f] = Describe(bests).Min
		cpuMean[f] = Describe(cpus).Mean
	}
	p("### Search families: best score against CPU-seconds\n\n")
	p("A family is one search over its seeds. Final best: each seed's best full-fidelity reward, mean ± standard deviation. ")
	if len(refs) > 0 {
		p("To reach a reference: the CPU-seconds after which a seed's best so far first reaches the reference family's lowest final best (the low end of its seed spread), median over the seeds that reached it, and that median as a share of the reference family's mean CPU-seconds.")
	}
	p("\n\n| family | method | fidelity | seeds | final best | CPU s (mean) |")
	for _, ref := range refs {
		p(" to reach `%s` (%s) | share of its CPU |", ref, f4(target[ref]))
	}
	p("\n|---|---|---|---:|---:|---:|%s\n", strings.Repeat("---:|---:|", len(refs)))
	for _, f := range names {
		ss := fams[f]
		var bests []float64
		for _, s := range ss {
			if s.Finished > 0 {
				bests = append(bests, s.BestReward)
			}
		}
		fid := "full"
		if ss[0].MultiFidelity {
			fid = "multi-fidelity"
		}
		p("| `%s` | %s | %s | %d | %s | %s |", f, orDash(ss[0].Method), fid, len(ss), pm(Describe(bests)), f1(cpuMean[f]))
		for _, ref := range refs {
			var at []float64
			for _, s := range ss {
				if c, ok := s.cpuToReach(target[ref]); ok {
					at = append(at, c)
				}
			}
			if len(at) == 0 {
				p(" not reached | — |")
				continue
			}
			m := median(at)
			p(" %s (%d of %d) | %s |", f1(m), len(at), len(ss), pct(m/cpuMean[ref]))
		}
		p("\n")
	}
	p("\n")
}

// rlRandomOverSeeds pairs every RL search family with its random twin
// (search-rl with search-random, search-mf-rl with search-mf-random) by
// search seed, over the seeds where both spent their budget, and gives
// the mean difference of their best and mean rewards with a 95%
// t-interval: whether the controller beats random search at equal budget
// beyond the spread between seeds.
func (r *Report) rlRandomOverSeeds(b *strings.Builder) {
	bySeed := map[string]map[int64]*Search{}
	var fams []string
	for _, s := range r.Searches {
		seed, ok := searchSeed(s.Name)
		if !ok || !s.complete() || s.Finished == 0 {
			continue
		}
		f := family(s.Name)
		if bySeed[f] == nil {
			bySeed[f] = map[int64]*Search{}
			fams = append(fams, f)
		}
		bySeed[f][seed] = s
	}
	header := false
	for _, f := range fams {
		for _, g := range fams {
			if !twins(f, g) || f == g {
				continue
			}
			best := Paired{A: f, B: g}
			mean := best
			var d, m []float64
			for _, seed := range sortedKeys(bySeed[f]) {
				a, c := bySeed[f][seed], bySeed[g][seed]
				if c == nil || a.Method != "rl" || c.Method != "random" {
					continue
				}
				best.Seeds = append(best.Seeds, seed)
				d = append(d, a.BestReward-c.BestReward)
				m = append(m, a.MeanReward-c.MeanReward)
			}
			if len(d) == 0 {
				continue
			}
			best.Diff, mean.Diff, mean.Seeds = Describe(d), Describe(m), best.Seeds
			if !header {
				header = true
				fmt.Fprintf(b, "**RL against random over the search seeds**: each RL family against its random twin, paired by search seed over the seeds where both spent their budget (RL − random, with a 95%% t-interval over the seeds).\n\n")
				fmt.Fprintf(b, "| RL | random | seeds | best reward: RL − random | 95%% interval | beyond noise? | mean reward: RL − random | 95%% interval | beyond noise? |\n|---|---|---|---:|---|---|---:|---|---|\n")
			}
			bi, bv := best.interval()
			mi, mv := mean.interval()
			fmt.Fprintf(b, "| `%s` | `%s` | %s | %+.4f | %s | %s | %+.4f | %s | %s |\n", f, g, seedList(best.Seeds), best.Diff.Mean, bi, bv, mean.Diff.Mean, mi, mv)
		}
	}
	if header {
		fmt.Fprintf(b, "\n")
	}
}

// complete reports whether the search has an outcome for every trial of
// its budget (true when the budget is unknown).
func (s *Search) complete() bool {
	return s.Budget <= 0 || s.Finished+s.Failed+s.Stopped >= s.Budget
}

// searchSeed is the seed a search's name ends with ("search-rl-seed2": 2).
func searchSeed(name string) (int64, bool) {
	f := family(name)
	if f == name {
		return 0, false
	}
	seed, err := strconv.ParseInt(name[len(f)+len("-seed"):], 10, 64)
	return seed, err == nil
}

func seedList(seeds []int64) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = strconv.FormatInt(s, 10)
	}
	return strings.Join(parts, ", ")
}

// cpuToReach is the CPU-seconds after which the search's best so far is
// at least v.
func (s *Search) cpuToReach(v float64) (float64, bool) {
	if math.IsNaN(v) {
		return 0, false
	}
	for _, c := range s.Curve {
		if c.Best >= v {
			return c.CPUS, true
		}
	}
	return 0, false
}

// Helpers.

func (s *Search) rewards() []float64 {
	var xs []float64
	for _, t := range s.Trials {
		if t.Status == Finished {
			xs = append(xs, t.Reward)
		}
	}
	return xs
}

func (s *Search) trial(id int) (Trial, bool) {
	i := sort.Search(len(s.Trials), func(i int) bool { return s.Trials[i].ID >= id })
	if i < len(s.Trials) && s.Trials[i].ID == id {
		return s.Trials[i], true
	}
	return Trial{}, false
}

// bestAt is the running best at the last trial with an id ≤ id.
func (s *Search) bestAt(id int) float64 {
	best := math.NaN()
	for _, t := range s.Trials {
		if t.ID > id {
			break
		}
		best = t.Best
	}
	return best
}

// firstReaching is the first trial whose reward is at least v, or -1.
func (s *Search) firstReaching(v float64) int {
	for _, t := range s.Trials {
		if t.Status == Finished && t.Reward >= v {
			return t.ID
		}
	}
	return -1
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	ys := append([]float64(nil), xs...)
	sort.Float64s(ys)
	n := len(ys)
	if n%2 == 1 {
		return ys[n/2]
	}
	return (ys[n/2-1] + ys[n/2]) / 2
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

func seeds(g *Group) string {
	var ss []string
	for _, r := range g.Runs {
		ss = append(ss, fmt.Sprint(r.Seed))
	}
	return strings.Join(ss, ", ")
}

func cpuMean(g *Group) string {
	if g.CPUEstimated {
		return f1(g.CPU.Mean) + "*"
	}
	return f1(g.CPU.Mean)
}

func fmtOr(format string, x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	s := fmt.Sprintf(format, x)
	if strings.Trim(s, "-+0.") == "" && strings.ContainsAny(s, "0") { // no "-0.0000"
		s = strings.TrimLeft(s, "-+")
	}
	return s
}

func f1(x float64) string     { return fmtOr("%.1f", x) }
func f2(x float64) string     { return fmtOr("%.2f", x) }
func f4(x float64) string     { return fmtOr("%.4f", x) }
func signed(x float64) string { return fmtOr("%+.4f", x) }
func ratio(x float64) string  { return fmtOr("%.2f×", x) }
func pct(x float64) string    { return fmtOr("%.1f%%", 100*x) }

// pm formats mean ± sample std (just the mean for one run).
func pm(s Stat) string {
	if s.N < 2 {
		return f4(s.Mean)
	}
	return f4(s.Mean) + " ± " + f4(s.Std)
}

func pm2(s Stat) string {
	if s.N < 2 {
		return f2(s.Mean)
	}
	return f2(s.Mean) + " ± " + f2(s.Std)
}

func rng(s Stat) string  { return f4(s.Min) + "–" + f4(s.Max) }
func rng2(s Stat) string { return f2(s.Min) + "–" + f2(s.Max) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func intOrDash(n int) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

func trialOrDash(id int) string {
	if id < 0 {
		return "—"
	}
	return fmt.Sprint(id)
}

// cell makes text safe in a table cell: one line, no bare pipes, at most
// 200 characters.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// noiseSection compares the reward's seed-to-seed noise with the
// differences between trials: the best patterns of some searches and the
// baselines, retrained at the trials' own settings with other seeds (an
// experiment's reward_noise stage, under noise/). Rewards are in the
// search's units: validation accuracy, or 80/perplexity.
func (r *Report) noiseSection(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	reward := func(run Run) float64 {
		if run.LM {
			return 80 / run.ValPPL
		}
		return run.ValAcc
	}
	rewards := func(g *Group) []float64 {
		var xs []float64
		for _, run := range g.Runs {
			if v := reward(run); !math.IsNaN(v) {
				xs = append(xs, v)
			}
		}
		return xs
	}
	p("## Reward noise at the trials' settings\n\n")
	p("A trial's reward is one training with one seed. Here the best patterns of searches, and no regularizer and the tuned baselines, are retrained with other seeds at the trials' own settings (validation only; the test set is not read), so that the seed's share of the differences between trials can be seen. Rewards: validation accuracy, or 80/perplexity for language models.\n\n")
	// The noise is pooled over the retrained seeds only: a journal reward
	// was picked as one of a search's best, so it is biased upward (the
	// "journal − their mean" column measures by how much).
	var within []Stat
	var curse []float64
	measured := map[*Search]bool{}
	var pats, refs []string
	for _, g := range r.Noise {
		xs := rewards(g)
		others := Describe(xs)
		within = append(within, others)
		name, k, isPattern := noiseLabel(g.Label)
		if !isPattern {
			refs = append(refs, fmt.Sprintf("| `%s` | %s | %s | %s | %s |\n", g.Label, cell(strings.Join(g.Regularizers, "; ")), seeds(g), pm(others), rng(others)))
			continue
		}
		s, trial, ok := r.noisePattern(name, k)
		if !ok {
			pats = append(pats, fmt.Sprintf("| `%s` | %d | — | — | %s | %s | — | — |\n", name, k, seeds(g), pm(others)))
			continue
		}
		measured[s] = true
		all := Describe(append([]float64{trial.Reward}, xs...))
		if !math.IsNaN(others.Mean) {
			curse = append(curse, trial.Reward-others.Mean)
		}
		pats = append(pats, fmt.Sprintf("| `%s` | %d | %d | %s | %s | %s | %s | %s |\n",
			s.Name, k, trial.ID, f4(trial.Reward), seeds(g), pm(others), signed(trial.Reward-others.Mean), pm(all)))
	}
	table(b, "**No regularizer and the tuned baselines**, at the trials' settings:",
		"| regularizer | setting | seeds | reward mean ± sd | range |\n|---|---|---|---:|---|", refs)
	r.fidelityTable(b)
	table(b, "**The searches' best patterns** (rank k by journal reward, which was measured with the trial's own seed), retrained with other seeds:",
		"| search | k | trial | journal reward | other seeds | their mean ± sd | journal − their mean | all seeds mean ± sd |\n|---|---:|---:|---:|---|---:|---:|---:|", pats)
	// The pooled within-group sd is the reward's noise; a search's spread
	// is the sd of its finished trials' rewards.
	var ss, df float64
	pooled := 0
	for _, s := range within {
		if s.N > 1 {
			ss += float64(s.N-1) * s.Std * s.Std
			df += float64(s.N - 1)
			pooled++
		}
	}
	if df > 0 {
		noise := math.Sqrt(ss / df)
		p("The reward's seed-to-seed standard deviation, pooled over the %d groups retrained with two or more seeds (%d degrees of freedom; a pattern's journal reward left out, being a selected one): **%s**.", pooled, int(df), f4(noise))
		var names []string
		for s := range measured {
			names = append(names, s.Name)
		}
		sort.Strings(names)
		for _, n := range names {
			spread := Describe(r.Search(n).rewards())
			p(" The rewards of `%s`'s %d finished trials spread with a standard deviation of %s", n, spread.N, f4(spread.Std))
			if noise > 0 && !math.IsNaN(spread.Std) {
				p(" (%.1f× the noise)", spread.Std/noise)
			}
			p(".")
		}
		if len(curse) > 0 {
			c := Describe(curse)
			p(" The best patterns' journal rewards exceed their rewards at other seeds by %s on average (%d patterns): what picking the best of a search's noisy rewards adds.", signed(c.Mean), c.N)
		}
		p("\n\n")
	}
	var cpu float64
	for _, g := range r.Noise {
		for _, run := range g.Runs {
			cpu += run.CPUS
		}
	}
	p("These retrainings cost %s CPU-seconds", f1(cpu))
	if r.Baseline != nil && r.Baseline.CPU.Mean > 0 {
		p(", %.1f× one `%s` training of the final comparison", cpu/r.Baseline.CPU.Mean, r.Baseline.Label)
	}
	p(".\n\n")
}

// noiseLabel splits a reward-noise label "<search>-top<k>" (a search's
// k-th best pattern) into the search's folder name and k; ok is false for
// a baseline's label.
func noiseLabel(label string) (search string, k int, ok bool) {
	i := strings.LastIndex(label, "-top")
	if i < 1 {
		return "", 0, false
	}
	k, err := strconv.Atoi(label[i+len("-top"):])
	if err != nil || k < 1 {
		return "", 0, false
	}
	return label[:i], k, true
}

// noisePattern finds the search named name (its folder name; a search in
// a sub-folder of the report's matches by its last element) and its k-th
// best finished trial within the budget, the trial whose pattern is
// top/k's.
func (r *Report) noisePattern(name string, k int) (*Search, Trial, bool) {
	s := r.Search(name)
	if s == nil {
		for _, c := range r.Searches {
			if filepath.Base(c.Dir) == name {
				s = c
			}
		}
	}
	if s == nil {
		return nil, Trial{}, false
	}
	var fin []Trial
	for _, t := range s.Trials {
		if t.Status == Finished && (s.Budget == 0 || t.ID < s.Budget) {
			fin = append(fin, t)
		}
	}
	sort.SliceStable(fin, func(a, b int) bool { return fin[a].Reward > fin[b].Reward })
	if k > len(fin) {
		return s, Trial{}, false
	}
	return s, fin[k-1], true
}

// droppedPairs returns the dropped share and reward of s's finished
// trials that have both.
func (s *Search) droppedPairs() (dropped, reward []float64) {
	for _, t := range s.Trials {
		if t.Status == Finished && !math.IsNaN(t.Dropped) {
			dropped = append(dropped, t.Dropped)
			reward = append(reward, t.Reward)
		}
	}
	return dropped, reward
}

// droppedSection relates each search's rewards to how much of the maps
// its patterns drop: a strong rank correlation says the reward mostly
// follows that one number, whatever the pattern's shape.
func (r *Report) droppedSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var rows []string
	for _, s := range r.Searches {
		d, w := s.droppedPairs()
		if len(d) < 3 {
			continue
		}
		best, _ := s.Best()
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %d | %s | %s | %s | %s |\n", s.Name, orDash(s.Method), len(d),
			fmtOr("%+.2f", Spearman(d, w)), pct(median(d)), pct(best.Dropped), f4(best.Reward)))
	}
	if len(rows) == 0 {
		return
	}
	p("## What the reward follows: the share dropped\n\n")
	if has["dropped.png"] {
		p("![Reward against the mean share of the maps dropped, per finished trial](dropped.png)\n\n")
	}
	p("A trial's dropped share is the mean, over its sites, of the share of the site's activation map its pattern drops, at the map sizes of the search's model and data (every placement of a pattern drops the same number of cells). ρ is Spearman's rank correlation between that share and the reward over the finished trials: near −1, the reward mostly says how much a pattern drops, whatever its shape.\n\n")
	p("| search | method | finished trials | ρ (dropped share, reward) | dropped share, median | dropped share of the best trial | best reward |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		p("%s", row)
	}
	p("\n")
}

// fidelityTable compares each baseline's standing against none at the
// trials' settings (the noise/ runs) with its standing in the final
// comparison (validation and test scores of the final runs): a proxy
// task that ranks regularizers otherwise than the final task steers a
// search accordingly. Nothing is written without a none at both.
func (r *Report) fidelityTable(b *strings.Builder) {
	var nNone *Group
	for _, g := range r.Noise {
		if g.Label == "none" {
			nNone = g
		}
	}
	fNone := r.Group("none")
	if nNone == nil || fNone == nil || nNone.LM != fNone.LM {
		return
	}
	var rows []string
	for _, g := range r.Noise {
		f := r.Group(g.Label)
		if g == nNone || f == nil || f.LM != g.LM {
			continue
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s | %s |\n", g.Label,
			signed(score(g, false)-score(nNone, false)), signed(score(f, false)-score(fNone, false)),
			signed(score(f, true)-score(fNone, true)), seeds(g)))
	}
	table(b, "**The trials' settings against the final runs'**: each baseline's mean score minus no regularizer's, at the trials' settings (the runs above) and in the final comparison (its own runs). A proxy task that ranks the regularizers otherwise than the final task steers a search the same way.",
		"| regularizer | at the trials' settings (validation) | final runs, validation | final runs, test | seeds at the trials' settings |\n|---|---:|---:|---:|---|", rows)
}

// table writes a paragraph, a table's header lines and its rows (each
// ending in a newline); nothing without rows.
func table(b *strings.Builder, intro, header string, rows []string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "%s\n\n%s\n", intro, header)
	for _, row := range rows {
		b.WriteString(row)
	}
	b.WriteString("\n")
}
