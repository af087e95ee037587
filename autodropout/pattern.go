package autodropout

import (
	"fmt"
	"math"
	"strings"
)

// Pattern is one ConvNet dropout pattern: the paper's eight tokens in its
// order, plus an optional rectangle (Height, Width) that overrides the
// square Size and an optional Off that leaves the site unregularized. See
// the package documentation for the exact semantics.
type Pattern struct {
	// Size is the side of the square tile of dropped cells (activations).
	Size int `json:"size"`
	// Stride is the number of kept cells between two neighbouring tiles,
	// so tiles repeat every Size+Stride cells along each axis.
	Stride int `json:"stride"`
	// Repeat is the number of tiles along each spatial axis (Repeat² tiles
	// in all).
	Repeat int `json:"repeat"`
	// Rotate turns the tiled picture by this many degrees about the map's
	// centre, counter-clockwise as the map is displayed (row 0 on top).
	Rotate float64 `json:"rotate"`
	// ShearX and ShearY shear the tiled picture about the map's centre
	// (before the rotation): x' = x + ShearX·y, then y' = y + ShearY·x'.
	// 1 is a 45° slant.
	ShearX float64 `json:"shear_x"`
	ShearY float64 `json:"shear_y"`
	// ShareC applies one mask to all channels of a sample instead of a mask
	// per channel.
	ShareC bool `json:"share_c"`
	// Residual asks the model to apply the pattern to the block's residual
	// branch as well. Masks ignore it; models and the search read it.
	Residual bool `json:"residual"`
	// Height and Width, when positive, replace Size as the tile's height
	// and width (the paper's text speaks of a rectangle).
	Height int `json:"height,omitempty"`
	Width  int `json:"width,omitempty"`
	// Off leaves the site unregularized: its masks keep every cell and the
	// other tokens do nothing. Only a search space with an off token
	// (SearchSpace.Off) chooses it; the paper has no such token.
	Off bool `json:"off,omitempty"`
}

// Limits that keep a pattern's masks bounded in memory: the source
// coordinates after a shear span about (1+|shear|) times the map, and the
// tiled picture's extent must not overflow.
const (
	maxShear = 10
	maxCells = 1 << 20
)

// TileSize returns the tile's height and width: Height and Width where
// positive, Size otherwise.
func (p Pattern) TileSize() (h, w int) {
	h, w = p.Size, p.Size
	if p.Height > 0 {
		h = p.Height
	}
	if p.Width > 0 {
		w = p.Width
	}
	return h, w
}

// Extent returns the height and width of the tiled picture before any
// rotation or shear: (Repeat-1)·(tile+Stride) + tile along each axis.
func (p Pattern) Extent() (h, w int) {
	th, tw := p.TileSize()
	return (p.Repeat-1)*(th+p.Stride) + th, (p.Repeat-1)*(tw+p.Stride) + tw
}

// Check reports whether the pattern is well formed on its own, whatever
// the search space: a positive tile size, Stride ≥ 0, Repeat ≥ 1, finite
// angles, |shear| ≤ 10 and a tiled extent below 2²⁰ cells. The error names
// the first bad field.
func (p Pattern) Check() error {
	bad := func(field string, v any, want string) error {
		return &FieldError{Field: field, Value: v, Reason: want}
	}
	switch {
	case p.Height < 0:
		return bad("height", p.Height, "want ≥ 0 (0: use size)")
	case p.Width < 0:
		return bad("width", p.Width, "want ≥ 0 (0: use size)")
	case p.Size < 1 && (p.Height == 0 || p.Width == 0):
		return bad("size", p.Size, "want ≥ 1")
	case p.Size < 0:
		return bad("size", p.Size, "want ≥ 0")
	case p.Stride < 0:
		return bad("stride", p.Stride, "want ≥ 0")
	case p.Repeat < 1:
		return bad("repeat", p.Repeat, "want ≥ 1")
	case math.IsNaN(p.Rotate) || math.IsInf(p.Rotate, 0):
		return bad("rotate", p.Rotate, "want a finite angle in degrees")
	case !(math.Abs(p.ShearX) <= maxShear):
		return bad("shear_x", p.ShearX, fmt.Sprintf("want a finite shear within ±%d", maxShear))
	case !(math.Abs(p.ShearY) <= maxShear):
		return bad("shear_y", p.ShearY, fmt.Sprintf("want a finite shear within ±%d", maxShear))
	}
	th, tw := p.TileSize()
	for _, f := range []struct {
		name string
		v    int
	}{{"size", max(th, tw)}, {"stride", p.Stride}, {"repeat", p.Repeat}} {
		if f.v >= maxCells {
			return bad(f.name, f.v, fmt.Sprintf("want < %d", maxCells))
		}
	}
	if eh, ew := p.Extent(); eh >= maxCells || ew >= maxCells {
		return bad("repeat", p.Repeat, fmt.Sprintf("the tiled picture (%d×%d) must stay below %d cells across", eh, ew, maxCells))
	}
	return nil
}

// String formats the pattern compactly, e.g.
// "size=3 stride=2 repeat=4 rotate=45 shear_x=0 shear_y=0.2 share_c=true residual=false".
func (p Pattern) String() string {
	var b strings.Builder
	if p.Height > 0 || p.Width > 0 {
		h, w := p.TileSize()
		fmt.Fprintf(&b, "tile=%dx%d", h, w)
	} else {
		fmt.Fprintf(&b, "size=%d", p.Size)
	}
	fmt.Fprintf(&b, " stride=%d repeat=%d rotate=%g shear_x=%g shear_y=%g share_c=%t residual=%t",
		p.Stride, p.Repeat, p.Rotate, p.ShearX, p.ShearY, p.ShareC, p.Residual)
	if p.Off {
		b.WriteString(" off=true")
	}
	return b.String()
}

// FieldError reports a bad value of a named field of a pattern or a search
// space.
type FieldError struct {
	Field  string // JSON name, e.g. "shear_x"
	Value  any
	Reason string // what was wanted
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q: %v: %s", e.Field, e.Value, e.Reason)
}
