package dashboard

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/autodropout/autodropout/report"
)

// result is the part of a training run's result.json the comparison
// table needs (the fields package report reads).
type result struct {
	Regularizer string   `json:"regularizer"`
	Seed        int64    `json:"seed"`
	Threads     int      `json:"threads"`
	ValAcc      *float64 `json:"val_acc"`
	TestAcc     *float64 `json:"test_acc"`
	ValPPL      *float64 `json:"val_ppl"`
	TestPPL     *float64 `json:"test_ppl"`
	WallS       *float64 `json:"wall_s"`
	CPUS        *float64 `json:"cpu_s"`
}

// resultFile is a result.json as last read, with its modification time so
// that it is read again only when it changes.
type resultFile struct {
	mod time.Time
	r   result
	err error
}

var seedDir = regexp.MustCompile(`^seed-(\d+)$`)

// readResult reads name (a result.json below fsys).
func readResult(fsys fs.FS, name string) (result, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return result{}, err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	if r.ValAcc == nil && r.TestAcc == nil && r.ValPPL == nil && r.TestPPL == nil {
		return result{}, fmt.Errorf("%s: no val_acc, test_acc, val_ppl or test_ppl", name)
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

func stat(xs []float64) Stat {
	s := report.Describe(xs)
	return Stat{num(s.Mean), num(s.Std), num(s.Min), num(s.Max)}
}

// num is v, or nil for NaN and infinities (which JSON cannot carry).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// label is the group a training run at dir (slash path below the
// collection's folder col) belongs to, as package report labels it: the
// folder above a seed-N folder, the regularizer for a run in col itself,
// and the path below col otherwise.
func label(col, dir string, r result) (string, int64) {
	if m := seedDir.FindStringSubmatch(path.Base(dir)); m != nil && dir != col {
		seed, _ := strconv.ParseInt(m[1], 10, 64)
		return path.Base(path.Dir(dir)), seed
	}
	if dir == col {
		if r.Regularizer == "" {
			return "run", r.Seed
		}
		return r.Regularizer, r.Seed
	}
	rel := dir
	if col != "." {
		rel = dir[len(col)+1:]
	}
	return rel, r.Seed
}

// table groups the runs (dir -> result, dirs below col) into rows in
// report.LabelOrder and names the baseline ("none", else the first row).
func table(col string, runs map[string]result) ([]Row, string) {
	type acc struct {
		row                       Row
		va, ta, vp, tp, cpu, wall []float64
		seen                      map[string]bool
	}
	groups := map[string]*acc{}
	dirs := make([]string, 0, len(runs))
	for d := range runs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	add := func(xs *[]float64, v *float64) {
		if v != nil && !math.IsNaN(*v) {
			*xs = append(*xs, *v)
		}
	}
	for _, d := range dirs {
		r := runs[d]
		l, seed := label(col, d, r)
		g := groups[l]
		if g == nil {
			g = &acc{row: Row{Label: l}, seen: map[string]bool{}}
			groups[l] = g
		}
		g.row.N++
		g.row.Seeds = append(g.row.Seeds, seed)
		g.row.LM = g.row.LM || r.ValPPL != nil || r.TestPPL != nil
		add(&g.va, r.ValAcc)
		add(&g.ta, r.TestAcc)
		add(&g.vp, r.ValPPL)
		add(&g.tp, r.TestPPL)
		add(&g.wall, r.WallS)
		switch {
		case r.CPUS != nil:
			add(&g.cpu, r.CPUS)
		case r.WallS != nil:
			v := *r.WallS * float64(max(r.Threads, 1))
			add(&g.cpu, &v)
			g.row.CPUEstimated = true
		}
		if !g.seen[r.Regularizer] {
			g.seen[r.Regularizer] = true
			g.row.Regularizers = append(g.row.Regularizers, r.Regularizer)
		}
	}
	rank := map[string]int{}
	for i, l := range report.LabelOrder {
		rank[l] = i + 1
	}
	var rows []Row
	var accs []*acc
	for _, g := range groups {
		accs = append(accs, g)
	}
	r := func(l string) int {
		if v, ok := rank[l]; ok {
			return v
		}
		return len(report.LabelOrder) + 1
	}
	sort.Slice(accs, func(i, j int) bool {
		a, b := accs[i].row.Label, accs[j].row.Label
		if r(a) != r(b) {
			return r(a) < r(b)
		}
		return a < b
	})
	for _, g := range accs {
		sort.Slice(g.row.Seeds, func(i, j int) bool { return g.row.Seeds[i] < g.row.Seeds[j] })
		if g.row.LM {
			g.row.Val, g.row.Test = stat(g.vp), stat(g.tp)
		} else {
			g.row.Val, g.row.Test = stat(g.va), stat(g.ta)
		}
		g.row.CPUS = report.Describe(g.cpu).Mean
		g.row.WallS = report.Describe(g.wall).Mean
		if math.IsNaN(g.row.CPUS) {
			g.row.CPUS = 0
		}
		if math.IsNaN(g.row.WallS) {
			g.row.WallS = 0
		}
		rows = append(rows, g.row)
	}
	base := ""
	if len(rows) > 0 {
		base = rows[0].Label
		for _, row := range rows {
			if row.Label == "none" {
				base = "none"
			}
		}
		var b *Row
		for i := range rows {
			if rows[i].Label == base {
				b = &rows[i]
			}
		}
		for i := range rows {
			if rows[i].Label != base && rows[i].Test.Mean != nil && b.Test.Mean != nil && rows[i].LM == b.LM {
				d := *rows[i].Test.Mean - *b.Test.Mean
				rows[i].Delta = &d
			}
		}
	}
	return rows, base
}
