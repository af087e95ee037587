package report

// The training figures: learning curves, and the final comparison (each
// label's mean with its 95% interval, and the paired differences from the
// best tuned baseline).

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curveRuns is the first run with a learning curve of every group and
// grid setting, in the report's order.
func (r *Report) curveRuns() []Run {
	var out []Run
	for _, g := range append(append([]*Group{}, r.Groups...), r.Grid...) {
		for _, run := range g.Runs {
			if len(run.Curve) > 0 || len(run.LMCurve) > 0 {
				run.Label = g.Label
				out = append(out, run)
				break
			}
		}
	}
	return out
}

// curvesPNG draws the learning curves of training runs, one colour per
// label, validation solid and training dashed: accuracy after every epoch
// (train --curve, on the unaugmented training images), or a language
// model's perplexity every N steps on a log scale (train --task lm
// --curve-every N, on as many training tokens). It returns nil, nil when
// no run has a curve.
func curvesPNG(r *Report) ([]byte, error) {
	runs := r.curveRuns()
	switch {
	case len(runs) == 0:
		return nil, nil
	case len(runs[0].LMCurve) > 0:
		p := newPlot("Learning curves", "step", "perplexity (log scale)")
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks{}
		return drawCurves(p, runs, "training tokens", func(run Run) (val, tr plotter.XYs) {
			for _, c := range run.LMCurve {
				val = append(val, plotter.XY{X: float64(c.Step), Y: c.ValPPL})
				tr = append(tr, plotter.XY{X: float64(c.Step), Y: c.TrainPPL})
			}
			return val, tr
		})
	}
	return drawCurves(newPlot("Learning curves", "epoch", "accuracy"), runs, "training images", func(run Run) (val, tr plotter.XYs) {
		for _, c := range run.Curve {
			val = append(val, plotter.XY{X: float64(c.Epoch), Y: c.ValAcc})
			if c.TrainAcc != nil {
				tr = append(tr, plotter.XY{X: float64(c.Epoch), Y: *c.TrainAcc})
			}
		}
		return val, tr
	})
}

// drawCurves draws each run's validation (solid) and training (dashed,
// when it has one) curves on p and encodes the figure with its key.
func drawCurves(p *plot.Plot, runs []Run, trainName string, series func(Run) (val, tr plotter.XYs)) ([]byte, error) {
	k := newKey()
	for i, run := range runs {
		col := paletteColour(i)
		val, tr := series(run)
		l, err := plotter.NewLine(val)
		if err != nil {
			return nil, err
		}
		l.LineStyle.Color, l.LineStyle.Width = col, vg.Points(1.5)
		p.Add(l)
		k.add(fmt.Sprintf("%s (seed %d)", run.Label, run.Seed), l)
		if len(tr) > 0 {
			l, err := plotter.NewLine(tr)
			if err != nil {
				return nil, err
			}
			l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = col, vg.Points(1), dashes
			p.Add(l)
		}
	}
	k.add("solid: validation", styleLine(vg.Points(1.5), nil))
	k.add("dashed: "+trainName, styleLine(vg.Points(1), dashes))
	return encodePNG([][]*plot.Plot{{p}}, []*key{k}, figWidth, figHeight)
}

var (
	aboveZero = color.RGBA{0x2e, 0x8b, 0x3e, 0xff} // an interval above 0: green
	belowZero = color.RGBA{0xc0, 0x39, 0x2b, 0xff} // below 0: red
)

// comparisonPNG draws the final comparison in two panels that share their
// rows, one per label: on the left each label's mean test score with its
// 95% t-interval over seeds (a dotted line at none's mean); on the right
// each label minus the best tuned baseline (chosen by validation score,
// as comparisonSection does), paired by seed, with the interval of the
// difference, green when it lies above zero and red below. It returns
// nil, nil without a group with a test score.
func comparisonPNG(r *Report) ([]byte, error) {
	cls := r.compared()
	if len(cls) == 0 {
		return nil, nil
	}
	lm := cls[0].LM
	unit := "test accuracy"
	if lm {
		unit = "test perplexity (lower is better)"
	}
	n := len(cls)
	row := func(i int) float64 { return float64(n - 1 - i) } // the first label on top
	names := make([]string, n)
	for i, g := range cls {
		names[n-1-i] = g.Label
	}
	left := newPlot("Final comparison: mean and 95% interval", unit, "")
	left.NominalY(names...)
	if none := r.Group("none"); none != nil && slices.Contains(cls, none) {
		if err := vline(left, score(none, true), n, grey, []vg.Length{vg.Points(1.5), vg.Points(2)}); err != nil {
			return nil, err
		}
	}
	for i, g := range cls {
		st := g.TestAcc
		if lm {
			st = g.TestPPL
		}
		if err := interval(left, st.Mean, st.Half95(), row(i), color.Black); err != nil {
			return nil, err
		}
	}
	plots := []*plot.Plot{left}
	if base := bestOf(cls, baselineGroup); base != nil {
		right := newPlot(fmt.Sprintf("Paired difference from %s, the best tuned baseline", base.Label), unit+": label − "+base.Label, "")
		right.Y.Tick.Marker = plot.ConstantTicks(nil)
		if err := vline(right, 0, n, grey, dashes); err != nil {
			return nil, err
		}
		for i, g := range cls {
			if g == base {
				lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0, Y: row(i)}}, Labels: []string{" the reference"}})
				if err != nil {
					return nil, err
				}
				lab.TextStyle[0].YAlign = -0.5
				right.Add(lab)
				continue
			}
			d := PairedDiff(g, base, testScore(lm))
			col := color.Color(color.Black)
			if d.Significant() {
				col = belowZero
				if d.Diff.Mean > 0 {
					col = aboveZero
				}
			}
			if err := interval(right, d.Diff.Mean, d.Diff.Half95(), row(i), col); err != nil {
				return nil, err
			}
		}
		plots = append(plots, right)
	}
	for _, p := range plots {
		p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
		pad := 0.04 * (p.X.Max - p.X.Min) // caps clear of the frame
		p.X.Min, p.X.Max = p.X.Min-pad, p.X.Max+pad
	}
	w := figWidth
	if len(plots) > 1 {
		w = figWidth * 3 / 2
	}
	return encodePNG([][]*plot.Plot{plots}, nil, w, vg.Length(max(3, 0.42*float64(n)+1.2))*vg.Inch)
}

// interval draws a point at (mean, y) and, when half is a number, a
// horizontal bar from mean−half to mean+half.
func interval(p *plot.Plot, mean, half, y float64, col color.Color) error {
	if math.IsNaN(mean) {
		return nil
	}
	pt := plotter.XYs{{X: mean, Y: y}}
	if !math.IsNaN(half) {
		eb, err := plotter.NewXErrorBars(struct {
			plotter.XYs
			plotter.XErrors
		}{pt, plotter.XErrors{{Low: half, High: half}}})
		if err != nil {
			return err
		}
		eb.LineStyle.Color, eb.LineStyle.Width, eb.CapWidth = col, vg.Points(1.5), vg.Points(6)
		p.Add(eb)
	}
	sc, err := plotter.NewScatter(pt)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, draw.CircleGlyph{}, vg.Points(3.5)
	p.Add(sc)
	return nil
}

// vline draws a vertical line at x across n rows.
func vline(p *plot.Plot, x float64, n int, col color.Color, dash []vg.Length) error {
	if math.IsNaN(x) {
		return nil
	}
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: -0.6}, {X: x, Y: float64(n) - 0.4}})
	if err != nil {
		return err
	}
	l.LineStyle.Color, l.LineStyle.Width, l.LineStyle.Dashes = col, vg.Points(1), dash
	p.Add(l)
	return nil
}
