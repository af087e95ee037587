package dashboard

import (
	"fmt"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"time"

	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/trial"
)

// resultFile is a result.json as last read, with its modification time so
// that it is read again only when it changes.
type resultFile struct {
	mod time.Time
	run report.Run
	err error
}

// readRun reads the training run of name (a result.json below fsys, in
// folder dir below the collection's folder col).
func readRun(fsys fs.FS, col, dir string) (report.Run, error) {
	name := path.Join(dir, "result.json")
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return report.Run{}, err
	}
	f, err := trial.DecodeResult(name, b)
	if err != nil {
		return report.Run{}, err
	}
	// Rooted paths: labels come from the folder names below fsys, never
	// from the process's working directory.
	r, err := report.NewRun(path.Join("/", col), path.Join("/", dir), f)
	if err != nil {
		return report.Run{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// Row is one line of an experiment's comparison table: the training runs
// that share a label, as report.md's "Final training" table has them.
type Row struct {
	Label        string   `json:"label"`
	N            int      `json:"n"`
	Seeds        []int64  `json:"seeds"`
	LM           bool     `json:"lm"` // perplexities, lower is better
	Val          Stat     `json:"val"`
	Test         Stat     `json:"test"`
	Delta        *float64 `json:"delta,omitempty"` // test mean minus the baseline's; nil for the baseline
	CPUS         float64  `json:"cpu_s"`           // mean
	CPUEstimated bool     `json:"cpu_estimated"`   // some run had no cpu_s: wall_s × threads
	WallS        float64  `json:"wall_s"`          // mean
	Regularizers []string `json:"regularizers"`
}

// Stat is a mean ± sample standard deviation with range over seeds; the
// JSON has nulls where report.Stat has NaN.
type Stat struct {
	Mean *float64 `json:"mean"`
	Std  *float64 `json:"std"`
	Min  *float64 `json:"min"`
	Max  *float64 `json:"max"`
}

func stat(s report.Stat) Stat {
	return Stat{num(s.Mean), num(s.Std), num(s.Min), num(s.Max)}
}

// num is v, or nil for NaN and infinities (which JSON cannot carry).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// table is the rows of the groups (report.GroupRuns) of the runs in the
// final comparison of collection col, as report.md's "Final training"
// table has them (not the grid/ or noise/ runs), and the baseline's label
// (report.Baseline).
func table(col string, runs []report.Run) ([]Row, string) {
	var final []report.Run
	for _, r := range runs {
		rel, err := filepath.Rel(path.Join("/", col), r.Dir)
		if err == nil && report.AreaOf(rel) == "" {
			final = append(final, r)
		}
	}
	groups := report.GroupRuns(final)
	base := report.Baseline(groups)
	var rows []Row
	for _, g := range groups {
		row := Row{Label: g.Label, N: len(g.Runs), LM: g.LM, CPUEstimated: g.CPUEstimated,
			Regularizers: g.Regularizers, CPUS: g.CPU.Mean, WallS: g.Wall.Mean}
		for _, r := range g.Runs {
			row.Seeds = append(row.Seeds, r.Seed)
		}
		if g.LM {
			row.Val, row.Test = stat(g.ValPPL), stat(g.TestPPL)
		} else {
			row.Val, row.Test = stat(g.ValAcc), stat(g.TestAcc)
		}
		if math.IsNaN(row.CPUS) {
			row.CPUS = 0
		}
		if math.IsNaN(row.WallS) {
			row.WallS = 0
		}
		if g != base && g.LM == base.LM && row.Test.Mean != nil {
			if bt := score(base); !math.IsNaN(bt) {
				d := *row.Test.Mean - bt
				row.Delta = &d
			}
		}
		rows = append(rows, row)
	}
	if base == nil {
		return rows, ""
	}
	return rows, base.Label
}

// score is a group's mean test score: perplexity for a language model.
func score(g *report.Group) float64 {
	if g.LM {
		return g.TestPPL.Mean
	}
	return g.TestAcc.Mean
}
