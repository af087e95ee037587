package report

// The search figures. They draw search families, not single searches: a
// family is one search repeated over seeds ("search-rl-seed1",
// "search-rl-seed2" …), drawn as the median over its seeds (a line) and
// the range from the lowest to the highest seed (a band), in one colour
// that is the family's in every figure. RL searches are solid lines and
// random searches dashed, on the same axes.

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// family is a search's name without its seed suffix ("search-rl-seed2" →
// "search-rl"): the searches an experiment repeats over seeds.
func family(name string) string {
	if i := strings.LastIndex(name, "-seed"); i > 0 {
		if _, err := strconv.Atoi(name[i+5:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// searchFamily is the searches of one family, by name.
type searchFamily struct {
	Name          string
	Method        string // of its first search
	MultiFidelity bool   // of its first search
	Searches      []*Search
	Colour        color.RGBA
}

// searchFamilies groups r's searches by family and gives each family its
// palette colour, in the order of the colours. The palette's
// first, strongest colours go to the RL families that have a random twin
// and to their twins (blue for search-rl, orange for search-random), so
// that the figures' main comparison reads at once; the other families
// follow in order.
func (r *Report) searchFamilies() []*searchFamily {
	var out []*searchFamily
	by := map[string]*searchFamily{}
	for _, s := range r.Searches {
		n := family(s.Name)
		f := by[n]
		if f == nil {
			f = &searchFamily{Name: n, Method: s.Method, MultiFidelity: s.MultiFidelity}
			by[n] = f
			out = append(out, f)
		}
		f.Searches = append(f.Searches, s)
	}
	rls := slices.Clone(out) // full fidelity and short names first: search-rl before search-mf-rl
	slices.SortStableFunc(rls, func(a, b *searchFamily) int {
		if a.MultiFidelity != b.MultiFidelity {
			if a.MultiFidelity {
				return 1
			}
			return -1
		}
		return len(a.Name) - len(b.Name)
	})
	var order []*searchFamily
	for _, f := range rls {
		if f.Method != "rl" {
			continue
		}
		for _, g := range out {
			if g.Method == "random" && twins(f.Name, g.Name) {
				order = append(order, f, g)
			}
		}
	}
	for _, f := range out {
		if !slices.Contains(order, f) {
			order = append(order, f)
		}
	}
	for i, f := range order {
		f.Colour = paletteColour(i)
	}
	return order
}

// label names the family in a legend: "search-rl (RL, 3 seeds)".
func (f *searchFamily) label() string {
	m := f.Method
	switch m {
	case "rl":
		m = "RL"
	case "":
		m = "method unknown"
	}
	return fmt.Sprintf("%s (%s, %s)", f.Name, m, plural(len(f.Searches), "seed"))
}

// dashed says whether the family is drawn dashed: random searches are.
func (f *searchFamily) dashed() []vg.Length {
	if f.Method == "random" {
		return dashes
	}
	return nil
}

// band is a family's curve: at each x, the median, lowest and highest
// value over its seeds.
type band struct{ x, med, lo, hi []float64 }

// aggregate combines step functions, one per seed (points by x, each
// value holding until the seed's next point; NaN values are skipped): at
// every x where a seed has a point, the median, min and max over the
// seeds that have a value by then. A seed keeps its last value after its
// last point: a search that has ended keeps its final best.
func aggregate(seeds []plotter.XYs) band {
	var xs []float64
	for _, s := range seeds {
		for _, p := range s {
			if !math.IsNaN(p.Y) {
				xs = append(xs, p.X)
			}
		}
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	var b band
	next := make([]int, len(seeds))
	cur := make([]float64, len(seeds))
	for i := range cur {
		cur[i] = math.NaN()
	}
	for _, x := range xs {
		var vs []float64
		for i, s := range seeds {
			for next[i] < len(s) && s[next[i]].X <= x {
				if !math.IsNaN(s[next[i]].Y) {
					cur[i] = s[next[i]].Y
				}
				next[i]++
			}
			if !math.IsNaN(cur[i]) {
				vs = append(vs, cur[i])
			}
		}
		st := Describe(vs)
		b.x, b.med, b.lo, b.hi = append(b.x, x), append(b.med, median(vs)), append(b.lo, st.Min), append(b.hi, st.Max)
	}
	return b
}

// plotBand adds a family's band (when it has two seeds or more) and its
// median to p, as steps (a running best holds until the next point) or,
// with points, as straight lines through marked points (one value per
// event, such as a controller update), and returns the thumbnails for its
// legend entry; nothing when the band is empty.
func plotBand(p *plot.Plot, b band, f *searchFamily, width vg.Length, dash []vg.Length, points bool) ([]plot.Thumbnailer, error) {
	if len(b.x) == 0 {
		return nil, nil
	}
	var th []plot.Thumbnailer
	if len(f.Searches) > 1 {
		var ring plotter.XYs
		for i := range b.x {
			ring = append(ring, plotter.XY{X: b.x[i], Y: b.hi[i]})
			if end := b.x[min(i+1, len(b.x)-1)]; !points {
				ring = append(ring, plotter.XY{X: end, Y: b.hi[i]})
			}
		}
		for i := len(b.x) - 1; i >= 0; i-- {
			if end := b.x[min(i+1, len(b.x)-1)]; !points {
				ring = append(ring, plotter.XY{X: end, Y: b.lo[i]})
			}
			ring = append(ring, plotter.XY{X: b.x[i], Y: b.lo[i]})
		}
		poly, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, err
		}
		poly.Color, poly.LineStyle.Width = translucent(f.Colour, 0.16), 0
		p.Add(poly)
		th = append(th, poly)
	}
	pts := make(plotter.XYs, len(b.x))
	for i := range b.x {
		pts[i] = plotter.XY{X: b.x[i], Y: b.med[i]}
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return nil, err
	}
	l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = f.Colour, width, dash
	if !points {
		l.StepStyle = plotter.PostStep
		p.Add(l)
		return append(th, l), nil
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, err
	}
	sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = f.Colour, draw.CircleGlyph{}, vg.Points(2.5)
	p.Add(l, sc)
	return append(th, l, sc), nil
}

// bandKey adds the legend's explanation of lines and bands, once for the
// figure: the band only when some family has two seeds or more.
func bandKey(k *key, fams []*searchFamily, what string) {
	seeds, random, rl := false, false, false
	for _, f := range fams {
		seeds = seeds || len(f.Searches) > 1
		random = random || f.Method == "random"
		rl = rl || f.Method != "random"
	}
	if seeds {
		k.add("line: "+what+", median over seeds", styleLine(vg.Points(2), nil))
		poly := &plotter.Polygon{Color: translucent(grey, 0.3)}
		k.add("band: lowest to highest seed", poly)
	}
	if random && rl {
		k.add("solid: RL; dashed: random search", styleLine(vg.Points(1.5), dashes))
	}
}

// bestByTrial is a search's best reward so far after each trial id.
func bestByTrial(s *Search) plotter.XYs {
	var pts plotter.XYs
	for _, t := range s.Trials {
		pts = append(pts, plotter.XY{X: float64(t.ID), Y: t.Best})
	}
	return pts
}

// bestByCPU is a search's best reward so far against the CPU-seconds of
// its trials (Search.Curve).
func bestByCPU(s *Search) plotter.XYs {
	var pts plotter.XYs
	for _, c := range s.Curve {
		pts = append(pts, plotter.XY{X: c.CPUS, Y: c.Best})
	}
	return pts
}

// rewardsPNG draws each family's best reward so far by trial id, one
// panel per fidelity (byFidelity), failed trials as crosses on the bottom
// edge, and each trial's reward when every family has one seed. It returns nil, nil when no trial ended.
func rewardsPNG(r *Report) ([]byte, error) {
	fams := r.searchFamilies()
	failed := false
	for _, f := range fams {
		for _, s := range f.Searches {
			failed = failed || s.Failed > 0
		}
	}
	const x, y = "trial (journal id)", "reward (validation score)"
	row, k, err := byFidelity(fams, bestByTrial, "Best reward so far by trial", x, y)
	if err != nil || (len(row) == 0 && !failed) {
		return nil, err
	}
	if len(row) == 0 { // only failures
		row = append(row, newPlot("Best reward so far by trial", x, y))
		row[0].Y.Min, row[0].Y.Max = 0, 1
	}
	if err := trialPoints(row, fams, k); err != nil {
		return nil, err
	}
	sameY(row...)
	if err := failedCrosses(row, fams, k); err != nil {
		return nil, err
	}
	bandKey(k, fams, "best so far")
	return encodePNG([][]*plot.Plot{row}, []*key{k}, rowWidth(len(row)), figHeight)
}

// rowWidth is the width of a figure with n panels side by side.
func rowWidth(n int) vg.Length {
	if n > 1 {
		return figWidth * 3 / 2
	}
	return figWidth
}

// byFidelity draws each family's curve (the median and band of series
// over its seeds) in one panel for the full-fidelity families and one for
// the multi-fidelity ones, with shared axes; a single panel, titled
// title, when the report has one kind. It returns the panels that have a
// curve and the legend of their families.
func byFidelity(fams []*searchFamily, series func(*Search) plotter.XYs, title, x, y string) ([]*plot.Plot, *key, error) {
	var full, multi []*searchFamily
	for _, f := range fams {
		if f.MultiFidelity {
			multi = append(multi, f)
		} else {
			full = append(full, f)
		}
	}
	k := newKey()
	var row []*plot.Plot
	for _, part := range []struct {
		fams  []*searchFamily
		title string
	}{{full, "Full-fidelity searches"}, {multi, "Multi-fidelity searches"}} {
		if len(part.fams) == 0 {
			continue
		}
		if len(full) == 0 || len(multi) == 0 {
			part.title = title
		}
		p := newPlot(part.title, x, y)
		drawn := false
		for _, f := range part.fams {
			seeds := make([]plotter.XYs, len(f.Searches))
			for i, s := range f.Searches {
				seeds[i] = series(s)
			}
			th, err := plotBand(p, aggregate(seeds), f, vg.Points(2), f.dashed(), false)
			if err != nil {
				return nil, nil, err
			}
			if th != nil {
				drawn = true
				k.add(f.label(), th...)
			}
		}
		if drawn {
			p.X.Min = 0
			row = append(row, p)
		}
	}
	sameX(row...)
	sameY(row...)
	return row, k, nil
}

// failedCrosses marks every failed trial with a cross in its family's
// colour on the bottom edge of the panel of its fidelity, where it does
// not stretch the reward axis.
func failedCrosses(row []*plot.Plot, fams []*searchFamily, k *key) error {
	any := false
	for _, f := range fams {
		var pts plotter.XYs
		for _, s := range f.Searches {
			for _, t := range s.Trials {
				if t.Status == Failed {
					pts = append(pts, plotter.XY{X: float64(t.ID)})
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		p := row[0]
		if f.MultiFidelity && len(row) > 1 {
			p = row[1]
		}
		floor := p.Y.Min - 0.04*math.Max(p.Y.Max-p.Y.Min, 0.01)
		for i := range pts {
			pts[i].Y = floor
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = f.Colour, draw.CrossGlyph{}, vg.Points(4)
		p.Add(sc)
		any = true
	}
	if any {
		k.add("×: a failed trial", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: grey, Shape: draw.CrossGlyph{}, Radius: vg.Points(4)}})
	}
	return nil
}

// trialPoints adds every finished trial's reward as a point in its
// family's colour (filled for RL, an open ring for random search) when no
// family has more than one seed: with nothing to aggregate, the rewards
// show what the best hides (whether the controller's proposals score
// better than random ones). With seeds, they would bury the bands.
func trialPoints(row []*plot.Plot, fams []*searchFamily, k *key) error {
	if !oneSeedEach(fams) {
		return nil
	}
	for _, f := range fams {
		var pts plotter.XYs
		for _, t := range f.Searches[0].Trials {
			if t.Status == Finished {
				pts = append(pts, plotter.XY{X: float64(t.ID), Y: t.Reward})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle = trialGlyph(f)
		p := row[0]
		if f.MultiFidelity && len(row) > 1 {
			p = row[1]
		}
		p.Add(sc)
	}
	if len(row) == 1 {
		row[0].Title.Text = "Reward of each trial and best so far"
	}
	k.add("points: each trial's reward", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: grey, Shape: draw.CircleGlyph{}, Radius: vg.Points(2.5)}})
	return nil
}

// oneSeedEach says whether no search family has more than one seed.
func oneSeedEach(fams []*searchFamily) bool {
	for _, f := range fams {
		if len(f.Searches) > 1 {
			return false
		}
	}
	return true
}

// oneSeedEach says whether no search family of r has more than one seed
// (rewards.png then draws every trial's reward).
func (r *Report) oneSeedEach() bool { return oneSeedEach(r.searchFamilies()) }

// trialGlyph is how a trial of f is drawn: a filled circle, or an open
// ring for random search.
func trialGlyph(f *searchFamily) draw.GlyphStyle {
	if f.Method == "random" {
		return draw.GlyphStyle{Color: f.Colour, Shape: draw.RingGlyph{}, Radius: vg.Points(3)}
	}
	return draw.GlyphStyle{Color: translucent(f.Colour, 0.8), Shape: draw.CircleGlyph{}, Radius: vg.Points(2.5)}
}

// costPNG draws each family's best reward so far against the CPU-seconds
// its trials have used, with the same panels and axes for full and
// multi-fidelity searches: the cost of reaching a score. It returns nil,
// nil when no search journaled trial costs.
func costPNG(r *Report) ([]byte, error) {
	fams := r.searchFamilies()
	row, k, err := byFidelity(fams, bestByCPU, "Best reward so far against CPU time", "CPU-seconds of the search's trials", "best reward so far (validation score)")
	if err != nil || len(row) == 0 {
		return nil, err
	}
	bandKey(k, fams, "best so far")
	return encodePNG([][]*plot.Plot{row}, []*key{k}, rowWidth(len(row)), figHeight)
}

// controllerPNG draws, on top, each family's proposal entropy by trial (a
// random search's uniform proposals, the maximum, dashed) and, below, each
// RL family's batch mean reward at every controller update, placed at the
// last trial of the batch it learned from (the baselines are in the
// controller section's tables). It returns nil,
// nil when no search journaled entropies or updates.
func controllerPNG(r *Report) ([]byte, error) {
	fams := r.searchFamilies()
	top := newPlot("Controller: entropy of each proposal", "trial (journal id)", "entropy (nats, all sites and tokens)")
	bot := newPlot("Controller updates: mean reward of the batch each learned from", "trial (last of the batch the update learned from)", "reward")
	topKey, botKey := newKey(), newKey()
	drawnTop, drawnBot := false, false
	for _, f := range fams {
		ent, mean := make([]plotter.XYs, len(f.Searches)), make([]plotter.XYs, len(f.Searches))
		for i, s := range f.Searches {
			for _, t := range s.Trials {
				ent[i] = append(ent[i], plotter.XY{X: float64(t.ID), Y: t.Entropy})
			}
			for k, u := range s.Updates {
				x := float64(u.AfterTrial)
				if u.AfterTrial < 0 {
					x = float64(k)
				}
				mean[i] = append(mean[i], plotter.XY{X: x, Y: u.MeanReward})
			}
		}
		th, err := plotBand(top, aggregate(ent), f, vg.Points(1.5), f.dashed(), false)
		if err != nil {
			return nil, err
		}
		if th != nil {
			drawnTop = true
			name := f.label()
			if f.Method == "random" {
				name += ": uniform"
			}
			topKey.add(name, th...)
		}
		th, err = plotBand(bot, aggregate(mean), f, vg.Points(1.5), nil, true)
		if err != nil {
			return nil, err
		}
		if th != nil {
			drawnBot = true
			botKey.add(f.label(), th...)
		}
	}
	if !drawnTop && !drawnBot {
		return nil, nil
	}
	bandKey(topKey, fams, "entropy")
	bandKey(botKey, rlOnly(fams), "batch mean reward")
	top.Y.Min, top.X.Min, bot.X.Min = 0, 0, 0
	sameX(top, bot)
	var rows [][]*plot.Plot
	var keys []*key
	if drawnTop {
		rows, keys = append(rows, []*plot.Plot{top}), append(keys, topKey)
	}
	if drawnBot {
		rows, keys = append(rows, []*plot.Plot{bot}), append(keys, botKey)
	}
	return encodePNG(rows, keys, figWidth, vg.Length(len(rows))*figHeight*4/5)
}

// droppedPNG draws every finished trial's reward against its dropped
// share, one colour per family. It returns nil, nil when no search has
// three such trials (droppedSection's condition).
func droppedPNG(r *Report) ([]byte, error) {
	title, x := "Reward against the share of the maps dropped", "mean share of each site's map dropped"
	if hasTokenShares(r.Searches) {
		title, x = "Reward against the share dropped", "mean share of each site's map (language model: a segment's tokens) dropped"
	}
	p := newPlot(title, x, "reward (validation score)")
	k := newKey()
	drawn := false
	for _, f := range r.searchFamilies() {
		var pts plotter.XYs
		for _, s := range f.Searches {
			d, w := s.droppedPairs()
			if len(d) < 3 {
				continue
			}
			for j := range d {
				pts = append(pts, plotter.XY{X: d[j], Y: w[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = trialGlyph(f)
		p.Add(sc)
		k.add(f.label(), sc)
		drawn = true
	}
	if !drawn {
		return nil, nil
	}
	p.X.Min = 0
	return encodePNG([][]*plot.Plot{{p}}, []*key{k}, figWidth, figHeight)
}

// rlOnly is the families that are not random searches.
func rlOnly(fams []*searchFamily) []*searchFamily {
	var out []*searchFamily
	for _, f := range fams {
		if f.Method != "random" {
			out = append(out, f)
		}
	}
	return out
}
