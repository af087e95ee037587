package report

import (
	"bytes"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{0, 2450, []string{"0", "500", "1,000", "1,500", "2,000"}},
		{0, 23, []string{"0", "5", "10", "15", "20"}},
		{0.27, 0.84, []string{"0.3", "0.4", "0.5", "0.6", "0.7", "0.8"}},
		{0.607, 0.658, []string{"0.61", "0.62", "0.63", "0.64", "0.65"}},
		{-0.021, 0.003, []string{"−0.020", "−0.015", "−0.010", "−0.005", "0.000"}},
		{-0.026, 0.026, []string{"−0.02", "−0.01", "0.00", "0.01", "0.02"}},
		{0, 190, []string{"0", "50", "100", "150"}},
		{12000, 250000, []string{"0", "50,000", "100,000", "150,000", "200,000", "250,000"}},
	} {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
			if tk.Value < tc.lo-1e-9 || tk.Value > tc.hi+1e-9 {
				t.Errorf("[%g, %g]: tick %g outside the axis", tc.lo, tc.hi, tk.Value)
			}
		}
		if tc.lo == 12000 { // 0 is below the axis
			tc.want = tc.want[1:]
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("[%g, %g]: labels %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}

func TestAggregate(t *testing.T) {
	nan := math.NaN()
	seeds := []plotter.XYs{
		{{X: 0, Y: nan}, {X: 1, Y: 0.5}, {X: 3, Y: 0.7}}, // no best before trial 1
		{{X: 0, Y: 0.2}, {X: 2, Y: 0.4}},                 // ends at 2: keeps 0.4
		{{X: 0, Y: 0.1}, {X: 1, Y: 0.3}, {X: 2, Y: 0.3}, {X: 4, Y: 0.9}},
	}
	b := aggregate(seeds)
	want := band{
		x:   []float64{0, 1, 2, 3, 4},
		med: []float64{0.15, 0.3, 0.4, 0.4, 0.7},
		lo:  []float64{0.1, 0.2, 0.3, 0.3, 0.4},
		hi:  []float64{0.2, 0.5, 0.5, 0.7, 0.9},
	}
	for i, got := range [][]float64{b.x, b.med, b.lo, b.hi} {
		w := [][]float64{want.x, want.med, want.lo, want.hi}[i]
		if len(got) != len(w) {
			t.Fatalf("band %d: %v, want %v", i, got, w)
		}
		for j := range got {
			if math.Abs(got[j]-w[j]) > 1e-12 {
				t.Errorf("band %d: %v, want %v", i, got, w)
				break
			}
		}
	}
}

// Families group the seeds of a search, and the palette's first colours
// go to the main RL family and its random twin, whatever the names' order.
func TestSearchFamilies(t *testing.T) {
	mk := func(name, method string, mf bool) *Search {
		return &Search{Name: name, Method: method, MultiFidelity: mf}
	}
	r := &Report{Searches: []*Search{
		mk("search-dropblock-like-rl-seed1", "rl", false),
		mk("search-mf-random-seed1", "random", true), mk("search-mf-rl-seed1", "rl", true),
		mk("search-random-seed1", "random", false), mk("search-random-seed2", "random", false),
		mk("search-rl-seed1", "rl", false), mk("search-rl-seed2", "rl", false),
	}}
	fams := r.searchFamilies()
	var names []string
	for i, f := range fams {
		names = append(names, f.Name)
		if f.Colour != paletteColour(i) {
			t.Errorf("%s: colour %v, want the palette's %d-th", f.Name, f.Colour, i)
		}
	}
	want := []string{"search-rl", "search-random", "search-mf-rl", "search-mf-random", "search-dropblock-like-rl"}
	if !slices.Equal(names, want) {
		t.Errorf("families %q, want %q", names, want)
	}
	if len(fams[0].Searches) != 2 || fams[0].label() != "search-rl (RL, 2 seeds)" || fams[4].label() != "search-dropblock-like-rl (RL, 1 seed)" {
		t.Errorf("search-rl: %d searches, label %q; %q", len(fams[0].Searches), fams[0].label(), fams[4].label())
	}
}

// Every figure of the demo's test data draws, as a PNG, and the
// comparison figure draws for a language-model report too.
func TestFigures(t *testing.T) {
	for _, dir := range []string{"demo", "lm"} {
		r, err := Load(filepath.Join("testdata", dir))
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func(*Report) ([]byte, error){
			"rewards": rewardsPNG, "cost": costPNG, "controller": controllerPNG, "dropped": droppedPNG, "comparison": comparisonPNG,
		} {
			b, err := f(r)
			if err != nil {
				t.Errorf("%s/%s: %v", dir, name, err)
				continue
			}
			if b == nil {
				if dir == "demo" || name == "comparison" {
					t.Errorf("%s/%s: no figure", dir, name)
				}
				continue
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil || cfg.Width < 700 || cfg.Height < 250 {
				t.Errorf("%s/%s: %v, %dx%d", dir, name, err, cfg.Width, cfg.Height)
			}
		}
	}
}

// A report with no finished and no failed trial has no rewards figure,
// and one with only failures still has one.
func TestRewardsFigureFailuresOnly(t *testing.T) {
	r := &Report{Searches: []*Search{{Name: "s", Method: "rl", Failed: 1, Trials: []Trial{{ID: 0, Status: Failed, Best: math.NaN()}}}}}
	b, err := rewardsPNG(r)
	if err != nil || b == nil {
		t.Fatalf("only failures: %v, %d bytes", err, len(b))
	}
	r.Searches[0].Trials[0].Status, r.Searches[0].Failed = Unfinished, 0
	if b, err := rewardsPNG(r); err != nil || b != nil {
		t.Errorf("nothing ended: %v, %d bytes", err, len(b))
	}
	if got := tickLabel(-1e-17, 2); got != "0.00" { // no "−0.00"
		t.Errorf("tickLabel(-1e-17, 2) = %q", got)
	}
}

// A log axis is labelled at 1, 2 and 5 times powers of ten, and at every
// tick when fewer than three of those fall in its range.
func TestLogTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   string
	}{
		{1, 1000, "1 2 5 10 20 50 100 200 500 1,000"},
		{19, 91, "20 30 40 50 60 70 80 90"},
	} {
		var labels []string
		for _, tk := range (logTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if got := strings.Join(labels, " "); got != tc.want {
			t.Errorf("logTicks(%v, %v) labels %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
}
