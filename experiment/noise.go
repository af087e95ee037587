package experiment

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

// NoiseDir is the folder, under an experiment's output folder, of the
// reward-noise stage's runs: NoiseDir/<label>/seed-N, where label is a
// baseline's ("none", "dropout", …) or "<search folder>-top<k>" for the
// k-th best pattern of a search.
const NoiseDir = report.NoiseFolder

// noiseSeeds returns the search seeds whose searches the reward-noise
// stage measures (nil without the stage).
func (c Config) noiseSeeds(scfg search.Config) []int64 {
	n := c.RewardNoise
	switch {
	case n == nil:
		return nil
	case len(n.SearchSeeds) > 0:
		return n.SearchSeeds
	case len(c.SearchSeeds) > 0:
		return c.SearchSeeds[:1]
	}
	return []int64{scfg.Seed}
}

// noiseAfter is the index in searches after which the reward-noise stage
// runs: the last of the full space's searches it measures; -1 without
// the stage. A stage that would measure nothing is an error: no search
// with its search seeds, or no seed besides the trials' own.
func (c Config) noiseAfter(searches []searchRun, scfg search.Config) (int, error) {
	n := c.RewardNoise
	if n == nil {
		return -1, nil
	}
	if len(others(scfg.Task.Seed, n.Seeds)) == 0 {
		return -1, fmt.Errorf("experiment reward_noise.seeds %v: want a seed besides the trials' own (%d), whose rewards the journals have", n.Seeds, scfg.Task.Seed)
	}
	seeds := c.noiseSeeds(scfg)
	after := -1
	for i, sr := range searches {
		if sr.Main && slices.Contains(seeds, sr.Config.Seed) {
			after = i
		}
	}
	if after < 0 {
		return -1, fmt.Errorf("experiment reward_noise.search_seeds %v: no search of the full space has these seeds (the search configuration's seed is %d)", seeds, scfg.Seed)
	}
	return after, nil
}

// noiseRuns lists the reward-noise stage's trainings: the baselines (with
// the settings tuned chose) at the task's seed and every noise seed, then
// the k best patterns of each measured search at every noise seed, k up
// to the stage's top. A pattern's run has its search's top/ file once
// that file exists and is pending before (so the plan can count it
// before the search has run). Every run has the trial's settings and no
// test set.
func (c Config) noiseRuns(out string, scfg search.Config, searches []searchRun, tuned map[string]trial.Regularizer) []trainRun {
	n := c.RewardNoise
	if n == nil {
		return nil
	}
	var runs []trainRun
	for _, r := range c.baselines(tuned) {
		for _, s := range append([]int64{scfg.Task.Seed}, others(scfg.Task.Seed, n.Seeds)...) {
			runs = append(runs, trainRun{label: "noise " + r.label, seed: s, reg: r.reg, skipTest: true, dir: runDir(out, NoiseDir, r.label, s)})
		}
	}
	measured := c.noiseSeeds(scfg)
	for _, sr := range searches {
		if !sr.Main || !slices.Contains(measured, sr.Config.Seed) {
			continue
		}
		for k := 1; k <= min(n.Top, sr.Config.TopK, sr.Config.Budget); k++ {
			r := trainRun{skipTest: true, pending: true}
			if tops, _ := filepath.Glob(filepath.Join(out, sr.Dir, "top", fmt.Sprintf("%02d-*.json", k))); len(tops) > 0 {
				r.reg, r.pending = trial.Regularizer{Pattern: tops[0], AllowOutsideSpace: true}, false
			}
			label := fmt.Sprintf("%s-top%d", sr.Dir, k)
			for _, s := range others(sr.Config.Task.Seed, n.Seeds) { // the journal has the trial's own
				r.label, r.seed, r.dir = "noise "+label, s, runDir(out, NoiseDir, label, s)
				runs = append(runs, r)
			}
		}
	}
	return runs
}

// others is seeds without own.
func others(own int64, seeds []int64) []int64 {
	var out []int64
	for _, s := range seeds {
		if s != own {
			out = append(out, s)
		}
	}
	return out
}
