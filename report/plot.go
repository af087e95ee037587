package report

// What every figure shares: the palette (one colour per search family and
// one per training label, the same in every figure of a report), readable
// ticks, and the layout (a grid of plots with a legend column on the
// right, so that a legend never hides a point).

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure sizes. At vgimg's 96 dpi, 8 inches is 768 pixels.
const (
	figWidth  = 8 * vg.Inch
	figHeight = 5 * vg.Inch
)

// palette is Tableau's ten colours less its yellow and grey, which read
// badly on white, then darker shades of the same for reports with more
// than eight families or labels.
var palette = []color.RGBA{
	{0x4e, 0x79, 0xa7, 0xff}, // blue
	{0xf2, 0x8e, 0x2b, 0xff}, // orange
	{0xe1, 0x57, 0x59, 0xff}, // red
	{0x59, 0xa1, 0x4f, 0xff}, // green
	{0xb0, 0x7a, 0xa1, 0xff}, // purple
	{0x9c, 0x75, 0x5f, 0xff}, // brown
	{0xff, 0x9d, 0xa7, 0xff}, // pink
	{0x76, 0xb7, 0xb2, 0xff}, // teal
}

// paletteColour is the i-th colour: the palette, then each colour darker
// by a third on every further round.
func paletteColour(i int) color.RGBA {
	c := palette[i%len(palette)]
	for range i / len(palette) {
		c.R, c.G, c.B = c.R*2/3, c.G*2/3, c.B*2/3
	}
	return c
}

// translucent is c at the given opacity (premultiplied, as color.RGBA is).
func translucent(c color.RGBA, alpha float64) color.RGBA {
	f := func(v uint8) uint8 { return uint8(math.Round(float64(v) * alpha)) }
	return color.RGBA{f(c.R), f(c.G), f(c.B), f(255)}
}

var (
	grey   = color.RGBA{0x70, 0x70, 0x70, 0xff}
	dashes = []vg.Length{vg.Points(5), vg.Points(3)}
)

// niceTicks labels an axis at 3 to 7 round values (1, 2 or 5 times a power
// of ten) with no more decimals than their spacing needs and thousands
// separated by commas ("2,500", not "2500.00"), with unlabelled minor
// ticks between labels.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []plot.Tick{{Value: lo, Label: tickLabel(lo, 0)}}
	}
	step, mant := niceStep(lo, hi)
	dec := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	minor := step / 5
	if mant == 2 {
		minor = step / 4 // 0.2 → 0.05, not 0.04
	}
	var ts []plot.Tick
	for k := math.Ceil(lo/minor - 1e-9); k*minor <= hi+1e-9*step; k++ {
		v := k * minor
		t := plot.Tick{Value: v}
		if r := v / step; math.Abs(r-math.Round(r)) < 1e-6 {
			t.Label = tickLabel(v, dec)
		}
		ts = append(ts, t)
	}
	return ts
}

// logTicks labels a log axis at 1, 2 and 5 times the powers of ten in
// its range (plot.LogTicks labels only the powers, which a perplexity
// curve between 20 and 90 does not reach), with the other integers'
// multiples as minor ticks, or labelled too when the range is narrow.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return niceTicks{}.Ticks(lo, hi)
	}
	ticks := func(labelled func(m int) bool) (ts []plot.Tick, labels int) {
		for p := math.Pow(10, math.Floor(math.Log10(lo))); p <= hi; p *= 10 {
			for m := 1; m < 10; m++ {
				v := float64(m) * p
				if v < lo || v > hi {
					continue
				}
				t := plot.Tick{Value: v}
				if labelled(m) {
					t.Label = tickLabel(v, max(0, int(math.Ceil(-math.Log10(v)-1e-9))))
					labels++
				}
				ts = append(ts, t)
			}
		}
		return ts, labels
	}
	ts, n := ticks(func(m int) bool { return m == 1 || m == 2 || m == 5 })
	if n < 3 { // a narrow range: label every tick
		ts, _ = ticks(func(int) bool { return true })
	}
	return ts
}

// niceStep is the smallest step of 1, 2 or 5 times a power of ten (mant
// is that 1, 2 or 5) that puts at most 7 labels on [lo, hi].
func niceStep(lo, hi float64) (step float64, mant int) {
	p := math.Pow(10, math.Floor(math.Log10(hi-lo))-1)
	for {
		for _, m := range []int{1, 2, 5} {
			step = float64(m) * p
			if math.Floor(hi/step+1e-9)-math.Ceil(lo/step-1e-9)+1 <= 7 {
				return step, m
			}
		}
		p *= 10
	}
}

// tickLabel formats v with dec decimals and commas between thousands.
func tickLabel(v float64, dec int) string {
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if s == "-0" || strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if frac != "" {
		whole += "." + frac
	}
	if neg {
		return "−" + whole
	}
	return whole
}

// newPlot is a plot with a grid and readable ticks on both axes.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	return p
}

// key is a legend drawn in the column right of a row of plots.
type key struct {
	leg   plot.Legend
	names []string
}

func newKey() *key {
	k := &key{leg: plot.NewLegend()}
	k.leg.Top, k.leg.Left = true, true
	k.leg.TextStyle.Font.Size = vg.Points(10)
	return k
}

func (k *key) add(name string, th ...plot.Thumbnailer) {
	k.leg.Add(name, th...)
	k.names = append(k.names, name)
}

func (k *key) width() vg.Length {
	if k == nil || len(k.names) == 0 {
		return 0
	}
	w := vg.Length(0)
	for _, n := range k.names {
		w = max(w, k.leg.TextStyle.Rectangle(n).Max.X)
	}
	return w + k.leg.ThumbnailWidth + vg.Points(12)
}

// styleLine is a legend thumbnail: a grey line in a style the figure
// uses for every colour.
func styleLine(width vg.Length, dash []vg.Length) *plotter.Line {
	l := &plotter.Line{LineStyle: draw.LineStyle{Color: grey, Width: width, Dashes: dash}}
	return l
}

// encodePNG draws rows of plots (every row with the same number of
// columns; a nil plot leaves its tile empty) with aligned axes, each row's
// key (nil for none) in a column on the right, as a PNG.
func encodePNG(rows [][]*plot.Plot, keys []*key, w, h vg.Length) ([]byte, error) {
	lw := vg.Length(0)
	for _, k := range keys {
		lw = max(lw, k.width())
	}
	img := vgimg.New(w+lw, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(rows), Cols: len(rows[0]), PadX: 6 * vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	filled := make([][]*plot.Plot, len(rows))
	for i, row := range rows {
		filled[i] = make([]*plot.Plot, len(row))
		for j, p := range row {
			if p == nil {
				p = plot.New() // Align needs a plot in every tile
				p.HideAxes()
			}
			filled[i][j] = p
		}
	}
	cs := plot.Align(filled, t, draw.Crop(dc, 0, -lw, 0, 0))
	for i, row := range rows {
		for j, p := range row {
			if p != nil {
				p.Draw(cs[i][j])
			}
		}
		if i >= len(keys) || keys[i] == nil || len(keys[i].names) == 0 {
			continue
		}
		last := cs[i][len(row)-1]
		lc := last
		lc.Min.X, lc.Max.X = last.Max.X+vg.Points(8), last.Max.X+lw
		if p := filled[i][len(row)-1]; p.Title.Text != "" { // level with the data area
			lc.Max.Y -= p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + vg.Points(8)
		}
		keys[i].leg.Draw(lc)
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// sameY gives every plot the union of their Y ranges, so that small
// multiples compare at a glance; sameX does the same for X.
func sameY(ps ...*plot.Plot) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = math.Min(lo, p.Y.Min), math.Max(hi, p.Y.Max)
	}
	for _, p := range ps {
		p.Y.Min, p.Y.Max = lo, hi
	}
}

func sameX(ps ...*plot.Plot) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range ps {
		lo, hi = math.Min(lo, p.X.Min), math.Max(hi, p.X.Max)
	}
	for _, p := range ps {
		p.X.Min, p.X.Max = lo, hi
	}
}
