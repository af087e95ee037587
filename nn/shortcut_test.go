package nn

import (
	"strings"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// shortcutZeroer records the shapes it sees and, in training, zeroes its
// input: a shortcut that a pattern drops entirely.
type shortcutZeroer struct{ shapes [][]int64 }

func (z *shortcutZeroer) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	z.shapes = append(z.shapes, x.MustSize())
	if !train {
		return x
	}
	return x.MustZerosLike(false)
}

// The residual token masks the shortcut path before the addition, the same
// way in every model family: each residual block has one shortcut site,
// distinct from its batch-norm sites, that sees a tensor of the block's
// output shape once per forward pass, and zeroing it changes the output.
// SetPatterns routes a residual pattern of any of a block's batch-norm
// sites to that block's shortcut.
func TestShortcutSites(t *testing.T) {
	tests := []struct {
		name   string
		build  func(p *gnn.Path) (SiteModel, error)
		input  []int64
		blocks int    // residual blocks
		bn     string // a batch-norm site of the block below
		block  string
		stem   string // a site outside every block
	}{
		{"wrn", func(p *gnn.Path) (SiteModel, error) { return NewWRN(p, 10, 1, 1, 10) },
			[]int64{2, 1, 16, 16}, 3, "block2.layer.0.bn2", "block2.layer.0", "bn1"},
		{"resnet", func(p *gnn.Path) (SiteModel, error) { return NewResNetDepth(p, 18, 10) },
			[]int64{2, 3, 32, 32}, 8, "layer2.0.downsample.1", "layer2.0", "bn1"},
		{"efficientnet", func(p *gnn.Path) (SiteModel, error) {
			return NewEfficientNet(p, tinyEfficientNetConfig(0.25, 0.5, 10))
		}, []int64{2, 3, 32, 32}, -1, "", "", "features.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := gnn.NewVarStore(gotch.CPU)
			m, err := tt.build(vs.Root())
			if err != nil {
				t.Fatal(err)
			}
			sites := m.Sites()
			var shortcuts []string
			for _, n := range sites.Names() {
				if strings.HasSuffix(n, ".shortcut") {
					shortcuts = append(shortcuts, n)
				}
			}
			if tt.blocks >= 0 && len(shortcuts) != tt.blocks {
				t.Fatalf("%d shortcut sites, want %d", len(shortcuts), tt.blocks)
			}
			if len(shortcuts) == 0 {
				t.Fatal("no shortcut sites")
			}
			if tt.bn == "" { // the first block with a shortcut and one of its batch norms
				tt.block = strings.TrimSuffix(shortcuts[0], ".shortcut")
				for _, n := range sites.Names() {
					if strings.HasPrefix(n, tt.block+".") && n != shortcuts[0] {
						tt.bn = n
						break
					}
				}
			}
			x := ts.MustRandn(tt.input, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			plain := m.ForwardT(x, true).Float64Values()
			z := &shortcutZeroer{}
			for _, n := range shortcuts {
				if err := sites.Set(n, z); err != nil {
					t.Fatal(err)
				}
			}
			masked := m.ForwardT(x, true).Float64Values()
			if len(z.shapes) != len(shortcuts) {
				t.Fatalf("shortcut sites ran %d times in one forward pass, want %d", len(z.shapes), len(shortcuts))
			}
			same := true
			for i := range plain {
				same = same && plain[i] == masked[i]
			}
			if same {
				t.Error("zeroing every shortcut left the output unchanged")
			}
			for _, n := range shortcuts {
				_ = sites.Set(n, nil)
			}

			// SetPatterns: a residual pattern at a block's batch norm also
			// masks that block's shortcut; one without the token, or at a
			// site outside every block, masks nothing more.
			if sc, ok := sites.Shortcut(tt.bn); !ok || sc != tt.block+".shortcut" {
				t.Fatalf("Shortcut(%q) = %q, %v; want %q", tt.bn, sc, ok, tt.block+".shortcut")
			}
			if _, ok := sites.Shortcut(tt.stem); ok {
				t.Errorf("%s is in no block but has a shortcut", tt.stem)
			}
			p := autodropout.Pattern{Size: 1, Stride: 1, Repeat: 2, Residual: true}
			n, err := sites.SetPatterns([]autodropout.SitePattern{{Site: tt.bn, Pattern: p}, {Site: tt.stem, Pattern: p}})
			if err != nil || n != 3 {
				t.Fatalf("SetPatterns set %d sites, %v; want 3 (two sites and one shortcut)", n, err)
			}
			if sites.Get(tt.block+".shortcut") == nil {
				t.Error("the residual token did not reach the block's shortcut")
			}
			vs2 := gnn.NewVarStore(gotch.CPU)
			m2, _ := tt.build(vs2.Root())
			p.Residual = false
			if n, err := m2.Sites().SetPatterns([]autodropout.SitePattern{{Site: tt.bn, Pattern: p}}); err != nil || n != 1 {
				t.Fatalf("without the residual token SetPatterns set %d sites, %v; want 1", n, err)
			}
			if m2.Sites().Get(tt.block+".shortcut") != nil {
				t.Error("a pattern without the residual token reached the shortcut")
			}
		})
	}
}

// An off pattern's tokens do nothing, its residual token included: a
// block's shortcut takes the pattern of the first of its sites whose
// pattern is not off and sets the token.
func TestOffPatternLeavesShortcut(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := NewWRN(vs.Root(), 10, 1, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	off := autodropout.Pattern{Size: 1, Stride: 1, Repeat: 2, Residual: true, Off: true}
	on := autodropout.Pattern{Size: 2, Stride: 1, Repeat: 2, Residual: true}
	sites := m.Sites()
	n, err := sites.SetPatterns([]autodropout.SitePattern{{Site: "block2.layer.0.bn1", Pattern: off}, {Site: "block2.layer.0.bn2", Pattern: on}})
	if err != nil || n != 3 {
		t.Fatalf("SetPatterns set %d sites, %v; want 3", n, err)
	}
	got, ok := sites.Get("block2.layer.0.shortcut").(*autodropout.PatternDropout)
	if !ok || got.Pattern != on {
		t.Errorf("the shortcut has %v, want the pattern that is not off (%v)", sites.Get("block2.layer.0.shortcut"), on)
	}
}
