package experiment

import (
	"path/filepath"
	"strconv"

	"github.com/autodropout/autodropout/trial"
)

// The areas of an experiment's output folder that hold trainings, each
// as <area>/<label>/seed-N: the baseline grids, the final comparison and
// the reward-noise stage (NoiseDir). Run, the plan's progress and the
// report all read this layout; the listings below are its one source.
const (
	gridArea  = "grid"
	finalArea = "final"
)

// trainRun is one training: a regularizer (label) and a seed, in its
// folder.
type trainRun struct {
	label    string
	seed     int64
	reg      trial.Regularizer
	skipTest bool // grid and reward-noise runs: validation only
	// supervised trains the final's labeled subset alone, without its
	// semi-supervised mode (Config.Supervised).
	supervised bool
	pending    bool // a search's pattern that does not exist yet
	dir        string
}

// runDir is the folder of a training under an experiment's output folder.
func runDir(out, area, label string, seed int64) string {
	return filepath.Join(out, area, label, "seed-"+strconv.FormatInt(seed, 10))
}

// gridTrainings lists the baseline grids' trainings (without the test
// set) under out.
func (c Config) gridTrainings(out string) []trainRun {
	var runs []trainRun
	for _, g := range c.gridRuns() {
		label := g.family + "-" + g.name
		runs = append(runs, trainRun{label: label, seed: c.Grid.Seed, reg: g.reg, skipTest: true, dir: runDir(out, gridArea, label, c.Grid.Seed)})
	}
	return runs
}

// finalRuns lists the final comparison's trainings of one regularizer,
// one per seed, under out.
func finalRuns(out, label string, reg trial.Regularizer, seeds []int64) []trainRun {
	var runs []trainRun
	for _, s := range seeds {
		runs = append(runs, trainRun{label: label, seed: s, reg: reg, dir: runDir(out, finalArea, label, s)})
	}
	return runs
}
