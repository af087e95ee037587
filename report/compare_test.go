package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestT95(t *testing.T) {
	for _, tc := range []struct {
		df   int
		want float64
	}{{1, 12.706}, {4, 2.776}, {30, 2.042}, {40, 2.021}, {120, 1.980}, {1000, 1.962}} {
		if got := T95(tc.df); math.Abs(got-tc.want) > 0.002 {
			t.Errorf("T95(%d) = %.4f, want %.3f", tc.df, got, tc.want)
		}
	}
	if !math.IsNaN(T95(0)) {
		t.Error("T95(0) is not NaN")
	}
}

// An experiment's grid runs get their own table with the chosen setting
// marked, and the comparisons pair groups by seed: the numbers are
// recomputed here from the files.
func TestComparisonsAndGrid(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, seed int64, val, test float64) {
		d := filepath.Join(dir, rel, fmt.Sprintf("seed-%d", seed))
		os.MkdirAll(d, 0o755)
		testField := ""
		if !math.IsNaN(test) {
			testField = fmt.Sprintf(`, "test_acc": %g`, test)
		}
		os.WriteFile(filepath.Join(d, "result.json"), []byte(fmt.Sprintf(
			`{"model": "wrn-16-2", "dataset": "fashion-mnist", "regularizer": "%s", "seed": %d, "threads": 2, "val_acc": %g%s, "wall_s": 10, "cpu_s": 20, "steps": 5}`,
			filepath.Base(rel), seed, val, testField)), 0o644)
	}
	none := []float64{0.80, 0.81, 0.79, 0.80, 0.82}
	auto := []float64{0.83, 0.82, 0.82, 0.84, 0.83}
	rnd := []float64{0.81, 0.82, 0.80, 0.83, 0.82}
	db := []float64{0.82, 0.82, 0.81, 0.83, 0.84}
	sub := []float64{0.82, 0.80, 0.81, 0.82, 0.82}
	for i := range none {
		s := int64(i + 1)
		write("final/none", s, 0.80, none[i])
		write("final/autodropout-best", s, 0.84, auto[i])
		write("final/random-best", s, 0.83, rnd[i])
		write("final/dropblock", s, 0.82, db[i])
		write("final/dropblock-like-rl-best", s, 0.82, sub[i])
		write("final/spatial", s, 0.81, none[i]+0.005)
	}
	write("grid/dropblock-p0.1-b3", 1, 0.81, math.NaN())
	write("grid/dropblock-p0.2-b3", 1, 0.83, math.NaN())
	write("grid/dropout-p0.1", 1, 0.80, math.NaN())
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Grid) != 3 || len(r.Groups) != 6 {
		t.Fatalf("%d grid groups and %d final groups, want 3 and 6", len(r.Grid), len(r.Groups))
	}
	// 30 final runs and 3 grid runs of 20 CPU-seconds each.
	if sp := r.Spent(); sp.Final != 600 || sp.Grid != 60 || sp.Total() != 660 {
		t.Errorf("spent %+v, want 600 s of final training and 60 of grids", sp)
	}
	var b strings.Builder
	r.markdown(&b, nil, nil, Options{})
	md := b.String()
	for _, want := range []string{"## Baseline grids", "| `dropblock-p0.2-b3` ✓ |", "| `dropout-p0.1` ✓ |", "## Comparisons",
		"| no regularizer (final run, for reference) | 1 | 0.8000 | 20.0 | |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "| `dropblock-p0.1-b3` ✓") {
		t.Error("the worse grid setting is marked as chosen")
	}
	// autodropout-best − dropblock (the best baseline by validation),
	// recomputed.
	var d []float64
	for i := range auto {
		d = append(d, auto[i]-db[i])
	}
	st := Describe(d)
	h := T95(len(d)-1) * st.Std / math.Sqrt(float64(len(d)))
	row := fmt.Sprintf("| `autodropout-best` | `dropblock` | 5 | %+.4f | [%+.4f, %+.4f] |", st.Mean, st.Mean-h, st.Mean+h)
	if !strings.Contains(md, row) {
		t.Errorf("report lacks the paired row %q:\n%s", row, md)
	}
	// autodropout-best − none is beyond noise here, RL − random is not.
	if !strings.Contains(md, "| `autodropout-best` | `none` | 5 |") || !strings.Contains(md, "| `autodropout-best` | `random-best` | 5 |") {
		t.Errorf("report lacks the pattern-vs-none or RL-vs-random rows:\n%s", md)
	}
	// The best pattern is paired with the baseline that is not the best
	// too: 0.828 − 0.809.
	if !strings.Contains(md, "| `autodropout-best` | `spatial` | 5 | +0.0190 |") {
		t.Errorf("report lacks the pattern-vs-other-baseline row:\n%s", md)
	}
	// A subspace's best pattern is paired with the full space's:
	// 0.814 − 0.828 over the same seeds.
	if !strings.Contains(md, "| `dropblock-like-rl-best` | `autodropout-best` | 5 | -0.0140 |") {
		t.Errorf("report lacks the subspace-vs-full-space row:\n%s", md)
	}
	// The regime table: none's mean 0.804 and deviation 0.0114; DropBlock's
	// mean 0.824 is 1.8 deviations above, random's 0.816 1.1.
	for _, want := range []string{"seed-to-seed standard deviation 0.0114 over 5 seeds", "| `dropblock` | 5 | +0.0200 | +1.8 | yes |", "| `random-best` | 5 | +0.0120 | +1.1 | yes |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestFamily(t *testing.T) {
	for in, want := range map[string]string{"search-rl-seed2": "search-rl", "search-rl": "search-rl",
		"run/search-dropblock-like-rl-seed13": "run/search-dropblock-like-rl", "a-seedling": "a-seedling"} {
		if got := family(in); got != want {
			t.Errorf("family(%q) = %q, want %q", in, got, want)
		}
	}
}

// The reward-noise stage's runs (noise/) form their own groups: "none"
// there is not the final comparison's. The section pools the retrained
// seeds' deviations (not a pattern's journal reward, a selected one) and
// names a pattern it cannot resolve instead of calling it a baseline.
func TestRewardNoise(t *testing.T) {
	dir := filepath.Dir(copySearch(t)) // dir/s: a search of the demo
	write := func(rel string, seed int64, val float64) {
		d := filepath.Join(dir, rel, fmt.Sprintf("seed-%d", seed))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "result.json"), []byte(fmt.Sprintf(
			`{"regularizer": "x", "seed": %d, "threads": 1, "val_acc": %g, "wall_s": 10, "cpu_s": 20}`, seed, val)), 0o644)
	}
	write("final/none", 1, 0.90)
	for i, v := range []float64{0.80, 0.81, 0.82} {
		write("noise/none", int64(i+1), v)
	}
	write("noise/s-top1", 2, 0.70)
	write("noise/s-top1", 3, 0.72)
	write("noise/gone-top2", 2, 0.5)
	write("final/dropout", 1, 0.92)
	write("noise/dropout", 1, 0.70)
	write("noise/dropout", 2, 0.70)
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 2 || len(r.Noise) != 4 || len(r.Groups[0].Runs) != 1 {
		t.Fatalf("final groups %v and %d noise groups, want none with 1 run, and 3", r.Groups, len(r.Noise))
	}
	s := r.Search("s")
	best, _ := s.Best()
	var b strings.Builder
	r.markdown(&b, nil, nil, Options{})
	md := b.String()
	pooled := math.Sqrt((2*0.01*0.01 + 0.02*0.02/2) / 4) // dropout's two seeds add a degree of freedom and no spread
	for _, want := range []string{
		"## Reward noise at the trials' settings",
		"| `none` | x | 1, 2, 3 | 0.8100 ± 0.0100 | 0.8000–0.8200 |",
		fmt.Sprintf("| `s` | 1 | %d | %.4f | 2, 3 | 0.7100 ± 0.0141 | %+.4f |", best.ID, best.Reward, best.Reward-0.71),
		"| `gone` | 2 | — | — | 2 | 0.5000 | — | — |",
		fmt.Sprintf("pooled over the 3 groups retrained with two or more seeds (4 degrees of freedom; a pattern's journal reward left out, being a selected one): **%.4f**", pooled),
		// dropout − none: 0.70 − 0.81 at the trials' settings, 0.92 − 0.90 in the final runs (no test scores).
		"| `dropout` | -0.1100 | +0.0200 | — | 1, 2 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// An augmented label is paired with its label without the augmentation
// and with none under it; labels without a base are paired with nil
// (skipped by the table).
func TestAugmentPairs(t *testing.T) {
	r := &Report{}
	for _, l := range []string{"none", "spatial", "none-randaugment", "spatial-randaugment", "autodropout-best-randaugment"} {
		r.Groups = append(r.Groups, &Group{Label: l})
	}
	var got []string
	for _, p := range r.augmentPairs(r.Groups) {
		name := func(g *Group) string {
			if g == nil {
				return "nil"
			}
			return g.Label
		}
		got = append(got, name(p[0])+"−"+name(p[1]))
	}
	want := "[none-randaugment−none spatial-randaugment−spatial spatial-randaugment−none-randaugment autodropout-best-randaugment−nil autodropout-best-randaugment−none-randaugment]"
	if fmt.Sprint(got) != want {
		t.Errorf("pairs %v, want %s", got, want)
	}
	if augmentNote(r.Groups[:2]) != "" || !strings.Contains(augmentNote(r.Groups), "none-randaugment") {
		t.Error("augmentNote: want a note only with augmented labels")
	}
}

// A pattern row is a search's best or a label whose runs all train given
// patterns; an augmented row is not (it answers another question).
func TestIsPattern(t *testing.T) {
	for _, tc := range []struct {
		label string
		regs  []string
		want  bool
	}{
		{"autodropout-best", []string{"patterns from top/01.json at 13 sites"}, true},
		{"random-best", nil, true},
		{"study-pattern", []string{"patterns from a.json at 14 sites"}, true},
		{"lm-pattern", []string{"pattern"}, true},
		{"mixed", []string{"patterns from a.json at 14 sites", "dropout(p=0.1) at 13 sites"}, false},
		{"spatial", []string{"spatial(p=0.05) at 13 sites"}, false},
		{"autodropout-best-randaugment", []string{"patterns from top/01.json at 13 sites"}, false},
		{"empty", nil, false},
	} {
		if got := isPattern(&Group{Label: tc.label, Regularizers: tc.regs}); got != tc.want {
			t.Errorf("isPattern(%s, %q) = %v, want %v", tc.label, tc.regs, got, tc.want)
		}
	}
}

// With a supervised row, none (the semi-supervised training without a
// regularizer) is paired with it, and a fixed-pattern row is paired with
// the best baseline.
func TestSupervisedAndFixedPatternPairs(t *testing.T) {
	dir := t.TempDir()
	for i, row := range []struct {
		label, reg string
		val, test  float64
	}{
		{"supervised", "no regularizer", 0.80, 0.79},
		{"none", "no regularizer", 0.84, 0.83},
		{"spatial", "spatial(p=0.05) at 13 sites", 0.85, 0.84},
		{"study-pattern", "patterns from p.json at 14 sites", 0.83, 0.82},
	} {
		for s := int64(1); s <= 3; s++ {
			d := filepath.Join(dir, "final", row.label, fmt.Sprintf("seed-%d", s))
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "result.json"), []byte(fmt.Sprintf(
				`{"model": "wrn-16-2", "dataset": "fashion-mnist", "regularizer": %q, "seed": %d, "val_acc": %g, "test_acc": %g, "wall_s": 10, "cpu_s": 20}`,
				row.reg, s, row.val, row.test+float64(s+int64(i))*0.001)), 0o644)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.comparisonSection(&b, map[string]bool{})
	for _, want := range []string{"| `none` | `supervised` | 3 | +0.0410 |", "| `study-pattern` | `spatial` | 3 | -0.0190 |", "what the semi-supervised training adds"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("comparisons lack %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "| `supervised` | 3 | -0.0410 |") {
		t.Errorf("the regime table treats supervised as a regularizer:\n%s", b.String())
	}
}
