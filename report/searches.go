package report

// The report's search section: the searches' table, each RL search
// against its random twin (one seed, then over the seeds), the search
// families' best score against CPU-seconds, and every trial's reward.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// searchSection shows the searches: their table, RL against random, the
// families' cost to a score and every trial's reward.
func (r *Report) searchSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Search: reward per trial\n\n")
	if has["rewards.png"] {
		p("![Best reward so far by trial, median over each search family's seeds with the range of the seeds as a band](rewards.png)\n\n")
		p("The best reward so far by trial id, one colour per search family (a search over its seeds; the colours are the same in every figure of this report): the line is the median over the family's seeds, the band runs from the lowest to the highest seed. RL searches are solid, random searches dashed. Full- and multi-fidelity searches have a panel each when both are here (a multi-fidelity search's ids count the trials stopped at a rung too). Crosses on the bottom edge: failed trials. ")
		if r.oneSeedEach() {
			p("Points: each finished trial's reward (open rings: random search).\n\n")
		} else {
			p("Every trial's reward is in the table below.\n\n")
		}
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

	r.rlAgainstRandom(b)
	r.rlRandomOverSeeds(b)

	if has["cost.png"] {
		p("![Best reward so far against the CPU-seconds of each search family's trials, median over seeds with the range as a band](cost.png)\n\n")
		p("Best reward so far against the CPU time the search's trials have used: how much compute each method needs to reach a score. Colours, lines and bands as above (median and range over the family's seeds; a seed that has ended keeps its final best), and the panels share their axes. Only trials trained to the end count as a best; a multi-fidelity search's rungs add their CPU time when they end.\n\n")
	}
	r.familyCostTable(b)
	r.trialTable(b)
}

// rlAgainstRandom compares each RL search with its random twin (the same
// name but for the method, so the same seed and settings).
func (r *Report) rlAgainstRandom(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
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

}

// trialTable lists every trial's reward and running best, by search.
func (r *Report) trialTable(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
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
	names, fams, running := r.completeFamilies()
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
		var cpus []float64
		for _, s := range fams[f] {
			cpus = append(cpus, s.CPUS)
		}
		target[f] = Describe(finalBests(fams[f])).Min
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
		fid := "full"
		if ss[0].MultiFidelity {
			fid = "multi-fidelity"
		}
		p("| `%s` | %s | %s | %d | %s | %s |", f, orDash(ss[0].Method), fid, len(ss), pm(Describe(finalBests(ss))), f1(cpuMean[f]))
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

// completeFamilies groups the searches that spent their budget by family
// (names in the report's order); running names the others, which would
// pull their family's final best and CPU down until they end.
func (r *Report) completeFamilies() (names []string, fams map[string][]*Search, running []string) {
	fams = map[string][]*Search{}
	for _, s := range r.Searches {
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
	return names, fams, running
}

// finalBests is the best reward of each search of ss with a finished
// trial.
func finalBests(ss []*Search) []float64 {
	var bests []float64
	for _, s := range ss {
		if s.Finished > 0 {
			bests = append(bests, s.BestReward)
		}
	}
	return bests
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
