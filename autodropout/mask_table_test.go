package autodropout

import (
	"reflect"
	"testing"

	"github.com/sugarme/gotch"
)

// Masks looked up in the table of every shift and masks cut out of the
// tiled base per draw are the same, bit for bit, and so are the modules'
// outputs: the table is an optimisation only.
func TestMaskTableMatchesComputed(t *testing.T) {
	defer func(v int64) { maxTableCells = v; resetBases() }(maxTableCells)
	for _, p := range []Pattern{
		{Size: 3, Stride: 2, Repeat: 8, Rotate: 30, ShearX: 0.1},
		{Size: 3, Stride: 1, Repeat: 2},
		{Height: 3, Width: 5, Stride: 1, Repeat: 2, ShearY: 0.2},
		{Size: 2, Stride: 2, Repeat: 16, Rotate: -75, ShareC: true},
		{Size: 9, Stride: 1, Repeat: 1, Rotate: 10}, // drops everything: kept whole
	} {
		const n, c, h, w = 4, 6, 7, 9
		type out struct{ keep, perMask, perBatch []float64 }
		run := func(cells int64) out {
			maxTableCells = cells
			resetBases()
			var o out
			seed(t, 21)
			keep, err := p.Mask(n, c, h, w, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			_, o.keep = read(t, keep)
			for _, sc := range []struct {
				scope Scope
				v     *[]float64
			}{{PerMask, &o.perMask}, {PerBatch, &o.perBatch}} {
				d, err := NewPatternDropout(p, sc.scope)
				if err != nil {
					t.Fatal(err)
				}
				x := randn(t, n, c, h, w)
				seed(t, 22)
				_, *sc.v = read(t, d.ForwardT(x, true))
				x.MustDrop()
			}
			return o
		}
		table, computed := run(1<<22), run(0)
		if !reflect.DeepEqual(table, computed) {
			t.Errorf("%v: table and computed masks differ", p)
		}
	}
}

// resetBases empties the cache of base masks, so that the next draw builds
// them under the current maxTableCells.
func resetBases() {
	bases.Lock()
	bases.m = map[baseKey]*base{}
	bases.bytes = 0
	bases.Unlock()
}

// Transformer masks looked up in a selection table are, bit for bit, the
// masks computed for the drawn offsets, for every noise and granularity,
// and so are the modules' outputs on 3-D and 2-D inputs.
func TestSelectionTableMatchesComputed(t *testing.T) {
	defer func(v int64) { maxSelectionCells = v }(maxSelectionCells)
	for _, p := range []TransformerPattern{
		{Size: 2, Stride: 8, Repeat: 4, Noise: "zero"},
		{Size: 1, Stride: 4, Repeat: 8, Noise: "zero", PerFeature: true},
		{Size: 3, Stride: 8, Repeat: 2, Noise: "gaussian", Sigma: 0.5},
		{Size: 5, Stride: 2, Repeat: 16, Noise: "zero"},                                 // overlaps: every token selected
		{Size: 4, Stride: 8, Repeat: 16, Noise: "gaussian", Sigma: 1, PerFeature: true}, // wraps around
	} {
		const b, tt, dim = 3, 11, 5
		type out struct{ sel, factor, y3, y2 []float64 }
		run := func(cells int64) out {
			maxSelectionCells = cells
			d, err := NewTransformerDropout(p)
			if err != nil {
				t.Fatal(err)
			}
			var o out
			seed(t, 31)
			sel, err := d.Selection(b, tt, dim, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			_, o.sel = read(t, sel)
			factor, err := d.Factor(b, tt, dim, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			_, o.factor = read(t, factor)
			x3, x2 := randn(t, b, tt, dim), randn(t, tt, dim)
			seed(t, 32)
			_, o.y3 = read(t, d.ForwardT(x3, true))
			_, o.y2 = read(t, d.ForwardT(x2, true))
			x3.MustDrop()
			x2.MustDrop()
			return o
		}
		table, computed := run(1<<20), run(0)
		if !reflect.DeepEqual(table, computed) {
			t.Errorf("%v: table and computed masks differ:\ntable    %v\ncomputed %v", p, table.factor, computed.factor)
		}
	}
}
