package autodropout

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// SearchSpace lists the values a controller may choose for each token of
// a ConvNet pattern. It is data: DefaultSearchSpace documents the defaults
// and LoadSearchSpace reads an edited copy from JSON, e.g.
//
//	{"size": [1, 2, 3], "stride": [1, 2], "repeat": [1, 4, 32],
//	 "rotate": [0, 45], "shear_x": [0, 0.5], "shear_y": [0, 0.5],
//	 "share_c": [false, true], "residual": [false, true]}
//
// When Height and Width are both given, the controller chooses the tile's
// height and width (the paper's rectangle) instead of the square Size, and
// patterns must set Height and Width from those lists.
type SearchSpace struct {
	Size     []int     `json:"size"`
	Stride   []int     `json:"stride"`
	Repeat   []int     `json:"repeat"`
	Rotate   []float64 `json:"rotate"`
	ShearX   []float64 `json:"shear_x"`
	ShearY   []float64 `json:"shear_y"`
	ShareC   []bool    `json:"share_c"`
	Residual []bool    `json:"residual"`
	Height   []int     `json:"height,omitempty"`
	Width    []int     `json:"width,omitempty"`
	// Off, when given, adds a last token that can leave a site
	// unregularized (Pattern.Off): [false, true] offers it. Absent by
	// default, so the default space is the paper's eight tokens.
	Off []bool `json:"off,omitempty"`
}

// DefaultSearchSpace returns the default vocabulary. The paper does not
// publish its value lists; these are ours, chosen for CIFAR-size maps
// (32, 16 and 8 cells across in a WRN) that still make sense on ImageNet
// maps (112 down to 7):
//
//   - size 1…7: 1 gives grid-like dropout of single cells, 7 is the block
//     size DropBlock found best on ImageNet; one-cell steps because on an
//     8×8 map every cell of tile size matters. Larger tiles would cover
//     most of the 8×8 maps of a WRN's last group, and a pattern that
//     covers a whole map is kept whole (see the package documentation).
//   - stride 1, 2, 3, 4, 6, 8: the kept gap between tiles. At least 1, so a
//     tiling with many repeats always keeps whole rows and columns (stride
//     0 turns repeats into one bigger tile, which size already covers, and
//     with many repeats drops the whole map); up to 8 so that sparse grids
//     (e.g. 1-cell tiles every 9 cells, about 1% dropped) are reachable.
//   - repeat 1, 2, 3, 4, 6, 8, 16, 32, 64: one to four tiles (DropBlock-like
//     patches), then doubling up to 64, which at the smallest period (size
//     1, stride 1) tiles a 128-cell map: every map of the paper's networks.
//   - rotate 0, 15, …, 165 degrees: a tiling drawn at a random offset looks
//     the same turned by 180°, so [0°, 180°) covers every orientation. A
//     15° turn moves the corner cells of an 8×8 map by about 1.5 cells;
//     much finer steps would barely change the masks there.
//   - shear_x, shear_y 0, 0.1, …, 1: the paper's shears lie in [0, 1]; 1 is
//     a 45° slant. Image augmentation stops near 0.3 because it distorts
//     content; a mask has none, so the whole range is offered.
//   - share_c and residual: both values of each binary token.
func DefaultSearchSpace() *SearchSpace {
	return &SearchSpace{
		Size:     []int{1, 2, 3, 4, 5, 6, 7},
		Stride:   []int{1, 2, 3, 4, 6, 8},
		Repeat:   []int{1, 2, 3, 4, 6, 8, 16, 32, 64},
		Rotate:   []float64{0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165},
		ShearX:   []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1},
		ShearY:   []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1},
		ShareC:   []bool{false, true},
		Residual: []bool{false, true},
	}
}

// Rectangular reports whether the space chooses a tile's height and width
// (Height and Width lists) rather than a square size.
func (s *SearchSpace) Rectangular() bool { return len(s.Height) > 0 && len(s.Width) > 0 }

// Check reports whether the space itself is usable: every list non-empty
// and without duplicates, and every value one that Pattern.Check accepts.
// Height and Width are optional but go together.
func (s *SearchSpace) Check() error {
	ints := []struct {
		name     string
		v        []int
		min      int
		optional bool
	}{
		{"size", s.Size, 1, s.Rectangular()},
		{"stride", s.Stride, 0, false},
		{"repeat", s.Repeat, 1, false},
		{"height", s.Height, 1, true},
		{"width", s.Width, 1, true},
	}
	for _, f := range ints {
		if len(f.v) == 0 {
			if f.optional {
				continue
			}
			return &FieldError{Field: f.name, Value: "[]", Reason: "want at least one value"}
		}
		seen := map[int]bool{}
		for _, v := range f.v {
			if v < f.min || v >= maxCells {
				return &FieldError{Field: f.name, Value: v, Reason: fmt.Sprintf("want %d ≤ value < %d", f.min, maxCells)}
			}
			if seen[v] {
				return &FieldError{Field: f.name, Value: v, Reason: "listed twice (duplicates bias the search)"}
			}
			seen[v] = true
		}
	}
	if (len(s.Height) > 0) != (len(s.Width) > 0) {
		return &FieldError{Field: "height", Value: fmt.Sprint(s.Height), Reason: "height and width must be given together (or neither)"}
	}
	floats := []struct {
		name  string
		v     []float64
		limit float64
	}{
		{"rotate", s.Rotate, math.Inf(1)},
		{"shear_x", s.ShearX, maxShear},
		{"shear_y", s.ShearY, maxShear},
	}
	for _, f := range floats {
		if len(f.v) == 0 {
			return &FieldError{Field: f.name, Value: "[]", Reason: "want at least one value"}
		}
		for i, v := range f.v {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > f.limit {
				return &FieldError{Field: f.name, Value: v, Reason: "want a finite value" + limitText(f.limit)}
			}
			for _, u := range f.v[:i] {
				if sameFloat(u, v) {
					return &FieldError{Field: f.name, Value: v, Reason: "listed twice (duplicates bias the search)"}
				}
			}
		}
	}
	for _, f := range []struct {
		name string
		v    []bool
	}{{"share_c", s.ShareC}, {"residual", s.Residual}, {"off", s.Off}} {
		if len(f.v) == 0 && f.name == "off" {
			continue // optional
		}
		if len(f.v) == 0 {
			return &FieldError{Field: f.name, Value: "[]", Reason: "want at least one value"}
		}
		if len(f.v) > 2 || (len(f.v) == 2 && f.v[0] == f.v[1]) {
			return &FieldError{Field: f.name, Value: fmt.Sprint(f.v), Reason: "want [false], [true] or [false, true]"}
		}
	}
	return nil
}

func limitText(l float64) string {
	if math.IsInf(l, 1) {
		return ""
	}
	return fmt.Sprintf(" within ±%g", l)
}

func sameFloat(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

// ErrOutsideSpace is what errors.Is finds in the error of Validate (and
// SearchSpace.ReadPatterns) when a well-formed pattern has a value the
// space does not offer, as opposed to a pattern that is not well formed.
var ErrOutsideSpace = errors.New("pattern outside the search space")

// outside marks an error as ErrOutsideSpace, keeping its text.
type outside struct{ error }

func (o outside) Is(target error) bool { return target == ErrOutsideSpace }
func (o outside) Unwrap() error        { return o.error }

// Validate reports whether p is well formed (Pattern.Check) and every
// token is one of the space's values. The error names the first bad field
// and its value, and lists the allowed values; for a value outside the
// space, errors.Is(err, ErrOutsideSpace).
func (s *SearchSpace) Validate(p Pattern) error {
	if err := p.Check(); err != nil {
		return err
	}
	if err := s.inSpace(p); err != nil {
		return outside{err}
	}
	return nil
}

// inSpace checks a well-formed pattern's tokens against the space.
func (s *SearchSpace) inSpace(p Pattern) error {
	if s.Rectangular() {
		if p.Height == 0 || p.Width == 0 {
			return &FieldError{Field: "height", Value: p.Height, Reason: "this search space chooses height and width; set both"}
		}
		if err := oneOfInt("height", p.Height, s.Height); err != nil {
			return err
		}
		if err := oneOfInt("width", p.Width, s.Width); err != nil {
			return err
		}
	} else {
		// A square space: Height and Width, if set, come from the size list.
		if p.Height == 0 || p.Width == 0 {
			if err := oneOfInt("size", p.Size, s.Size); err != nil {
				return err
			}
		}
		if p.Height > 0 {
			if err := oneOfInt("height", p.Height, s.Size); err != nil {
				return err
			}
		}
		if p.Width > 0 {
			if err := oneOfInt("width", p.Width, s.Size); err != nil {
				return err
			}
		}
	}
	if err := oneOfInt("stride", p.Stride, s.Stride); err != nil {
		return err
	}
	if err := oneOfInt("repeat", p.Repeat, s.Repeat); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
		in   []float64
	}{{"rotate", p.Rotate, s.Rotate}, {"shear_x", p.ShearX, s.ShearX}, {"shear_y", p.ShearY, s.ShearY}} {
		if indexFloat(f.in, f.v) < 0 {
			return &FieldError{Field: f.name, Value: f.v, Reason: "not in the search space " + listText(f.in)}
		}
	}
	for _, f := range []struct {
		name string
		v    bool
		in   []bool
	}{{"share_c", p.ShareC, s.ShareC}, {"residual", p.Residual, s.Residual}, {"off", p.Off, s.offValues()}} {
		if indexBool(f.in, f.v) < 0 {
			return &FieldError{Field: f.name, Value: f.v, Reason: "not in the search space " + listText(f.in)}
		}
	}
	return nil
}

func oneOfInt(name string, v int, in []int) error {
	if indexInt(in, v) < 0 {
		return &FieldError{Field: name, Value: v, Reason: "not in the search space " + listText(in)}
	}
	return nil
}

func listText[T any](v []T) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func indexInt(in []int, v int) int {
	for i, u := range in {
		if u == v {
			return i
		}
	}
	return -1
}

func indexFloat(in []float64, v float64) int {
	for i, u := range in {
		if sameFloat(u, v) {
			return i
		}
	}
	return -1
}

func indexBool(in []bool, v bool) int {
	for i, u := range in {
		if u == v {
			return i
		}
	}
	return -1
}

// Token is one decision a controller makes for a pattern.
type Token struct {
	Name    string // JSON field name, e.g. "shear_x"
	Choices int    // number of values
}

// offValues is the off token's values, [false] when the space has none.
func (s *SearchSpace) offValues() []bool {
	if len(s.Off) == 0 {
		return []bool{false}
	}
	return s.Off
}

// Tokens lists a pattern's decisions in the paper's order (size, stride,
// repeat, rotate, shear_x, shear_y, share_c, residual); a rectangular
// space has height and width in place of size, and a space with an off
// token has it last.
func (s *SearchSpace) Tokens() []Token {
	var t []Token
	if s.Rectangular() {
		t = append(t, Token{"height", len(s.Height)}, Token{"width", len(s.Width)})
	} else {
		t = append(t, Token{"size", len(s.Size)})
	}
	t = append(t,
		Token{"stride", len(s.Stride)}, Token{"repeat", len(s.Repeat)},
		Token{"rotate", len(s.Rotate)}, Token{"shear_x", len(s.ShearX)}, Token{"shear_y", len(s.ShearY)},
		Token{"share_c", len(s.ShareC)}, Token{"residual", len(s.Residual)})
	if len(s.Off) > 0 {
		t = append(t, Token{"off", len(s.Off)})
	}
	return t
}

// Pattern builds the pattern a controller chose: choice[i] indexes the
// values of Tokens()[i].
func (s *SearchSpace) Pattern(choice []int) (Pattern, error) {
	tokens := s.Tokens()
	if len(choice) != len(tokens) {
		return Pattern{}, fmt.Errorf("pattern from choices: got %d choices, want %d", len(choice), len(tokens))
	}
	for i, t := range tokens {
		if choice[i] < 0 || choice[i] >= t.Choices {
			return Pattern{}, &FieldError{Field: t.Name, Value: choice[i], Reason: fmt.Sprintf("choice out of range [0, %d)", t.Choices)}
		}
	}
	var p Pattern
	k := 0
	if s.Rectangular() {
		p.Height, p.Width = s.Height[choice[0]], s.Width[choice[1]]
		k = 2
	} else {
		p.Size = s.Size[choice[0]]
		k = 1
	}
	c := choice[k:]
	p.Stride, p.Repeat = s.Stride[c[0]], s.Repeat[c[1]]
	p.Rotate, p.ShearX, p.ShearY = s.Rotate[c[2]], s.ShearX[c[3]], s.ShearY[c[4]]
	p.ShareC, p.Residual = s.ShareC[c[5]], s.Residual[c[6]]
	if len(s.Off) > 0 {
		p.Off = s.Off[c[7]]
	}
	return p, nil
}

// Choices is the inverse of Pattern: the index of each of p's tokens in
// the space. p must pass Validate.
func (s *SearchSpace) Choices(p Pattern) ([]int, error) {
	if err := s.Validate(p); err != nil {
		return nil, err
	}
	var c []int
	if s.Rectangular() {
		c = append(c, indexInt(s.Height, p.Height), indexInt(s.Width, p.Width))
	} else {
		if p.Height > 0 || p.Width > 0 {
			return nil, &FieldError{Field: "height", Value: p.Height, Reason: "a square search space has no height/width token"}
		}
		c = append(c, indexInt(s.Size, p.Size))
	}
	c = append(c, indexInt(s.Stride, p.Stride), indexInt(s.Repeat, p.Repeat),
		indexFloat(s.Rotate, p.Rotate), indexFloat(s.ShearX, p.ShearX), indexFloat(s.ShearY, p.ShearY),
		indexBool(s.ShareC, p.ShareC), indexBool(s.Residual, p.Residual))
	if len(s.Off) > 0 {
		c = append(c, indexBool(s.Off, p.Off))
	}
	return c, nil
}
