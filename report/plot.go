package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure sizes. At vgimg's 96 dpi, 8 inches is 768 pixels.
const (
	figWidth  = 8 * vg.Inch
	figHeight = 5 * vg.Inch
)

// searchColours gives RL searches the even colours of plotutil's palette
// (red first) and the others the odd ones (green first), so "RL against
// random" reads the same in every figure.
func searchColours(ss []*Search) []color.Color {
	cs := make([]color.Color, len(ss))
	rl, other := 0, 0
	for i, s := range ss {
		if s.Method == "rl" {
			cs[i] = plotutil.Color(2 * rl)
			rl++
		} else {
			cs[i] = plotutil.Color(2*other + 1)
			other++
		}
	}
	return cs
}

// panel is a plot and its legend, drawn in a column to the right of the
// plot so that it never hides a point.
type panel struct {
	p     *plot.Plot
	leg   plot.Legend
	names []string
}

func newPanel(title, x, y string) *panel {
	pn := &panel{p: plot.New(), leg: plot.NewLegend()}
	pn.p.Title.Text, pn.p.X.Label.Text, pn.p.Y.Label.Text = title, x, y
	pn.p.Add(plotter.NewGrid())
	pn.p.Y.Tick.Marker = preciseTicks{}
	pn.leg.Top, pn.leg.Left = true, true
	pn.leg.TextStyle.Font.Size = vg.Points(10)
	return pn
}

// preciseTicks are gonum's default ticks labelled with as many decimals
// as their spacing needs: the default labels a 29.00–29.20 axis "29, 29, 29".
type preciseTicks struct{}

func (preciseTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	var major []float64
	for _, t := range ts {
		if t.Label != "" {
			major = append(major, t.Value)
		}
	}
	if len(major) < 2 {
		return ts
	}
	dec := 0
	if step := major[1] - major[0]; step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', dec, 64)
		}
	}
	return ts
}

func (pn *panel) add(name string, ps ...plot.Plotter) {
	pn.p.Add(ps...)
	var th []plot.Thumbnailer
	for _, p := range ps {
		if t, ok := p.(plot.Thumbnailer); ok {
			th = append(th, t)
		}
	}
	pn.leg.Add(name, th...)
	pn.names = append(pn.names, name)
}

func (pn *panel) legendWidth() vg.Length {
	w := vg.Length(0)
	for _, n := range pn.names {
		w = max(w, pn.leg.TextStyle.Rectangle(n).Max.X)
	}
	return w + pn.leg.ThumbnailWidth + vg.Points(12)
}

// rewardsPNG draws every search's reward per trial (points), running best
// (a step line) and failures (crosses on the bottom edge, where they do
// not stretch the reward axis). It returns nil, nil when no trial ended.
func rewardsPNG(r *Report) ([]byte, error) {
	lo, hi, ended := math.Inf(1), math.Inf(-1), false
	for _, s := range r.Searches {
		for _, t := range s.Trials {
			if t.Status == Finished {
				lo, hi = math.Min(lo, t.Reward), math.Max(hi, t.Reward)
			}
			ended = ended || t.Status != Unfinished
		}
	}
	if !ended {
		return nil, nil
	}
	if math.IsInf(lo, 1) { // only failures
		lo, hi = 0, 1
	}
	floor := lo - 0.08*math.Max(hi-lo, 0.01)

	pn := newPanel("Reward per trial and running best", "trial (journal id)", "reward (validation score)")
	cols := searchColours(r.Searches)
	for i, s := range r.Searches {
		col := cols[i]
		var pts, best, fails plotter.XYs
		for _, t := range s.Trials {
			switch t.Status {
			case Finished:
				pts = append(pts, plotter.XY{X: float64(t.ID), Y: t.Reward})
			case Failed:
				fails = append(fails, plotter.XY{X: float64(t.ID), Y: floor})
			}
			if !math.IsNaN(t.Best) {
				best = append(best, plotter.XY{X: float64(t.ID), Y: t.Best})
			}
		}
		name := s.Name
		if s.Method != "" {
			name += " (" + s.Method + ")"
		}
		if len(pts) > 0 {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, draw.CircleGlyph{}, vg.Points(3)
			pn.add(name+": reward", sc)
		}
		if len(best) > 0 {
			l, err := plotter.NewLine(best)
			if err != nil {
				return nil, err
			}
			l.StepStyle, l.LineStyle.Color, l.LineStyle.Width = plotter.PostStep, col, vg.Points(1.5)
			pn.add(name+": best so far", l)
		}
		if len(fails) > 0 {
			sc, err := plotter.NewScatter(fails)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, draw.CrossGlyph{}, vg.Points(4)
			pn.add(name+": failed", sc)
		}
	}
	return encodePNG([]*panel{pn}, figWidth, figHeight)
}

// controllerPNG draws, on top, the entropy of every proposal by trial
// (random searches' uniform proposals, the maximum, as dashed lines) and,
// below, the controller's baseline and batch mean reward at each update,
// placed at the last trial of the batch it learned from. It returns nil,
// nil when no search journaled entropies or updates.
func controllerPNG(r *Report) ([]byte, error) {
	top := newPanel("Controller: entropy of each proposal", "trial (journal id)", "entropy (nats, all sites and tokens)")
	bot := newPanel("Controller updates: baseline and batch mean reward", "trial (last of the batch the update learned from)", "reward")
	cols := searchColours(r.Searches)
	drawn := false
	for i, s := range r.Searches {
		col := cols[i]
		var ent plotter.XYs
		for _, t := range s.Trials {
			if !math.IsNaN(t.Entropy) {
				ent = append(ent, plotter.XY{X: float64(t.ID), Y: t.Entropy})
			}
		}
		if len(ent) > 0 {
			drawn = true
			l, sc, err := plotter.NewLinePoints(ent)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color, sc.GlyphStyle.Color, sc.GlyphStyle.Shape = col, col, draw.CircleGlyph{}
			if s.Method == "random" {
				l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				top.add(s.Name+" (random: uniform)", l)
			} else {
				top.add(s.Name+" ("+s.Method+")", l, sc)
			}
		}
		if len(s.Updates) == 0 {
			continue
		}
		drawn = true
		var base, mean plotter.XYs
		for k, u := range s.Updates {
			x := float64(u.AfterTrial)
			if u.AfterTrial < 0 {
				x = float64(k)
			}
			if !math.IsNaN(u.Baseline) {
				base = append(base, plotter.XY{X: x, Y: u.Baseline})
			}
			if !math.IsNaN(u.MeanReward) {
				mean = append(mean, plotter.XY{X: x, Y: u.MeanReward})
			}
		}
		if len(base) > 0 {
			l, sc, err := plotter.NewLinePoints(base)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color, l.LineStyle.Width = col, vg.Points(1.5)
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape = col, draw.SquareGlyph{}
			bot.add(s.Name+": baseline", l, sc)
		}
		if len(mean) > 0 {
			sc, err := plotter.NewScatter(mean)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, draw.TriangleGlyph{}, vg.Points(3.5)
			bot.add(s.Name+": batch mean reward", sc)
		}
	}
	if !drawn {
		return nil, nil
	}
	return encodePNG([]*panel{top, bot}, figWidth, 2*figHeight*4/5)
}

// encodePNG draws the panels top to bottom, with aligned axes and the
// legends in a column on the right, as a PNG.
func encodePNG(ps []*panel, w, h vg.Length) ([]byte, error) {
	lw := vg.Length(0)
	for _, pn := range ps {
		lw = max(lw, pn.legendWidth())
	}
	img := vgimg.New(w+lw, h)
	dc := draw.New(img)
	plots := make([][]*plot.Plot, len(ps))
	for i, pn := range ps {
		plots[i] = []*plot.Plot{pn.p}
	}
	t := draw.Tiles{Rows: len(ps), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align(plots, t, draw.Crop(dc, 0, -lw, 0, 0))
	for i, pn := range ps {
		c := cs[i][0]
		pn.p.Draw(c)
		lc := c
		lc.Min.X, lc.Max.X = c.Max.X+vg.Points(8), c.Max.X+lw
		lc.Max.Y -= pn.p.Title.TextStyle.Rectangle(pn.p.Title.Text).Size().Y + vg.Points(8) // level with the data area
		pn.leg.Draw(lc)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

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

// costPNG draws every search's best reward so far against the CPU-seconds
// its trials have used (Search.Curve), one colour per search family and
// one line per seed: the cost of reaching a score, RL against random. It
// returns nil, nil when no search journaled trial costs.
func costPNG(r *Report) ([]byte, error) {
	pn := newPanel("Best reward so far against CPU time", "CPU-seconds of the search's trials", "best reward (validation score)")
	colour := map[string]color.Color{}
	named := map[string]bool{}
	drawn := false
	for _, s := range r.Searches {
		f := family(s.Name)
		if _, ok := colour[f]; !ok {
			colour[f] = plotutil.Color(len(colour))
		}
		var pts plotter.XYs
		for _, c := range s.Curve {
			pts = append(pts, plotter.XY{X: c.CPUS, Y: c.Best})
		}
		if len(pts) == 0 {
			continue
		}
		drawn = true
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.StepStyle, l.LineStyle.Color, l.LineStyle.Width = plotter.PostStep, colour[f], vg.Points(1.5)
		if named[f] {
			pn.p.Add(l)
			continue
		}
		named[f] = true
		name := f
		if s.Method != "" {
			name += " (" + s.Method + ")"
		}
		pn.add(name, l)
	}
	if !drawn {
		return nil, nil
	}
	return encodePNG([]*panel{pn}, figWidth, figHeight)
}

// curveRuns is the first run with a learning curve of every group and
// grid setting, in the report's order.
func (r *Report) curveRuns() []Run {
	var out []Run
	for _, g := range append(append([]*Group{}, r.Groups...), r.Grid...) {
		for _, run := range g.Runs {
			if len(run.Curve) > 0 {
				run.Label = g.Label
				out = append(out, run)
				break
			}
		}
	}
	return out
}

// curvesPNG draws the learning curves of training runs recorded with
// train --curve: validation accuracy (solid) and accuracy on the training
// images (dashed) after every epoch, one colour per label. It returns nil,
// nil when no run has a curve.
func curvesPNG(r *Report) ([]byte, error) {
	runs := r.curveRuns()
	if len(runs) == 0 {
		return nil, nil
	}
	pn := newPanel("Learning curves", "epoch", "accuracy")
	for i, run := range runs {
		col := plotutil.Color(i)
		var val, tr plotter.XYs
		for _, c := range run.Curve {
			val = append(val, plotter.XY{X: float64(c.Epoch), Y: c.ValAcc})
			if c.TrainAcc != nil {
				tr = append(tr, plotter.XY{X: float64(c.Epoch), Y: *c.TrainAcc})
			}
		}
		l, err := plotter.NewLine(val)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, l.LineStyle.Width = col, vg.Points(1.5)
		pn.add(fmt.Sprintf("%s (seed %d): validation", run.Label, run.Seed), l)
		if len(tr) > 0 {
			l, err := plotter.NewLine(tr)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = col, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
			pn.add(fmt.Sprintf("%s (seed %d): training images", run.Label, run.Seed), l)
		}
	}
	return encodePNG([]*panel{pn}, figWidth, figHeight)
}

// droppedPNG draws every finished trial's reward against its dropped
// share, one colour per search. It returns nil, nil when no search has
// three such trials (droppedSection's condition).
func droppedPNG(r *Report) ([]byte, error) {
	pn := newPanel("Reward against the share of the maps dropped", "mean share of each site's map dropped", "reward (validation score)")
	cols := searchColours(r.Searches)
	drawn := false
	for i, s := range r.Searches {
		d, w := s.droppedPairs()
		if len(d) < 3 {
			continue
		}
		pts := make(plotter.XYs, len(d))
		for j := range d {
			pts[j] = plotter.XY{X: d[j], Y: w[j]}
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = cols[i], draw.CircleGlyph{}, vg.Points(3)
		name := s.Name
		if s.Method != "" {
			name += " (" + s.Method + ")"
		}
		pn.add(name, sc)
		drawn = true
	}
	if !drawn {
		return nil, nil
	}
	return encodePNG([]*panel{pn}, figWidth, figHeight)
}
