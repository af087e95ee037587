package experiment

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/search"
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
// the stage.
func (c Config) noiseAfter(searches []searchRun, scfg search.Config) int {
	seeds := c.noiseSeeds(scfg)
	after := -1
	for i, sr := range searches {
		if sr.Main && slices.Contains(seeds, sr.Config.Seed) {
			after = i
		}
	}
	return after
}

// noiseRuns lists the reward-noise stage's trainings: the baselines (with
// the settings tuned chose) at the task's seed and every noise seed, then
// the best patterns of the measured searches (their top/ files under out)
// at every noise seed. Every run has the trial's settings and no test set.
func (c Config) noiseRuns(out string, scfg search.Config, searches []searchRun, tuned map[string][]string) []trainRun {
	n := c.RewardNoise
	dir := func(label string, seed int64) string {
		return filepath.Join(out, NoiseDir, label, "seed-"+strconv.FormatInt(seed, 10))
	}
	var runs []trainRun
	for _, r := range c.baselines(tuned) {
		for _, s := range append([]int64{scfg.Task.Seed}, others(scfg.Task.Seed, n.Seeds)...) {
			runs = append(runs, trainRun{label: "noise " + r.label, seed: s,
				args: append(append([]string{}, r.args...), "--test=false"), dir: dir(r.label, s)})
		}
	}
	measured := c.noiseSeeds(scfg)
	for _, sr := range searches {
		if !sr.Main || !slices.Contains(measured, sr.Config.Seed) {
			continue
		}
		tops, _ := filepath.Glob(filepath.Join(out, sr.Dir, "top", "*.json"))
		sort.Strings(tops) // NN-REWARD.json: by rank
		for k, top := range tops[:min(len(tops), n.Top)] {
			label := fmt.Sprintf("%s-top%d", sr.Dir, k+1)
			for _, s := range others(sr.Config.Task.Seed, n.Seeds) { // the journal has the trial's own
				runs = append(runs, trainRun{label: "noise " + label, seed: s,
					args: []string{"--pattern", top, "--allow-outside-space", "--test=false"}, dir: dir(label, s)})
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
