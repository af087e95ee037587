package report

// The report's reward-noise section: retrainings at the trials' settings
// against the spread of the searches' rewards, and how the trials'
// settings rank the baselines against the final runs.

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

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
	r.pooledNoise(b, within, measured, curse)
	r.noiseCost(b)
}

// pooledNoise states the reward's seed-to-seed standard deviation,
// pooled over the groups of within retrained with two or more seeds,
// against the spread of each measured search's rewards, and what picking
// a search's best adds (curse: journal reward minus the other seeds').
func (r *Report) pooledNoise(b *strings.Builder, within []Stat, measured map[*Search]bool, curse []float64) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
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
}

// noiseCost states what the reward-noise retrainings cost.
func (r *Report) noiseCost(b *strings.Builder) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
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
