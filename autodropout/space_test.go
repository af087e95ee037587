package autodropout

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultSearchSpace(t *testing.T) {
	s := DefaultSearchSpace()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range s.Tokens() {
		names = append(names, tok.Name)
	}
	if want := []string{"size", "stride", "repeat", "rotate", "shear_x", "shear_y", "share_c", "residual"}; !reflect.DeepEqual(names, want) {
		t.Errorf("tokens %v, want the paper's order %v", names, want)
	}
	for _, v := range append(append([]float64{}, s.ShearX...), s.ShearY...) {
		if v < 0 || v > 1 {
			t.Errorf("default shear %v outside [0, 1]", v)
		}
	}
	for _, v := range s.Rotate {
		if v < 0 || v >= 180 {
			t.Errorf("default angle %v outside [0, 180)", v)
		}
	}
}

// Choosing by index and reading the indices back are inverse, and every
// chosen pattern validates.
func TestSearchSpaceChoices(t *testing.T) {
	for _, s := range []*SearchSpace{DefaultSearchSpace(), rectangular()} {
		tokens := s.Tokens()
		for k := 0; k < 50; k++ {
			choice := make([]int, len(tokens))
			for i, tok := range tokens {
				choice[i] = (k*7 + i*3) % tok.Choices
			}
			p, err := s.Pattern(choice)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(p); err != nil {
				t.Fatalf("%v: %v", p, err)
			}
			back, err := s.Choices(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, choice) {
				t.Fatalf("choices %v → %v → %v", choice, p, back)
			}
		}
		bad := make([]int, len(tokens))
		bad[len(bad)-1] = 2
		if _, err := s.Pattern(bad); err == nil || !strings.Contains(err.Error(), "residual") {
			t.Errorf("out-of-range choice: error %v, want one naming residual", err)
		}
	}
}

func rectangular() *SearchSpace {
	s := DefaultSearchSpace()
	s.Height, s.Width = []int{1, 2, 4}, []int{1, 3, 5, 7}
	return s
}

func TestValidateNamesTheField(t *testing.T) {
	ok := Pattern{Size: 3, Stride: 2, Repeat: 4, Rotate: 45, ShearX: 0.2, ShearY: 0, ShareC: true}
	tests := []struct {
		name  string
		space *SearchSpace
		edit  func(*Pattern)
		field string // "" means valid
		value string // in the message
	}{
		{"valid", DefaultSearchSpace(), func(*Pattern) {}, "", ""},
		{"size", DefaultSearchSpace(), func(p *Pattern) { p.Size = 9 }, "size", "9"},
		{"stride", DefaultSearchSpace(), func(p *Pattern) { p.Stride = 5 }, "stride", "5"},
		{"negative stride", DefaultSearchSpace(), func(p *Pattern) { p.Stride = -1 }, "stride", "-1"},
		{"repeat", DefaultSearchSpace(), func(p *Pattern) { p.Repeat = 5 }, "repeat", "5"},
		{"rotate", DefaultSearchSpace(), func(p *Pattern) { p.Rotate = 37 }, "rotate", "37"},
		{"shear_x", DefaultSearchSpace(), func(p *Pattern) { p.ShearX = 0.25 }, "shear_x", "0.25"},
		{"shear_y", DefaultSearchSpace(), func(p *Pattern) { p.ShearY = -0.1 }, "shear_y", "-0.1"},
		{"huge shear", DefaultSearchSpace(), func(p *Pattern) { p.ShearY = 1e9 }, "shear_y", "1e+09"},
		{"infinite angle", DefaultSearchSpace(), func(p *Pattern) { p.Rotate = math.Inf(1) }, "rotate", "Inf"},
		{"height from sizes", DefaultSearchSpace(), func(p *Pattern) { p.Height = 2; p.Width = 5 }, "", ""},
		{"height not a size", DefaultSearchSpace(), func(p *Pattern) { p.Height = 8 }, "height", "8"},
		{"share_c", &SearchSpace{Size: []int{3}, Stride: []int{2}, Repeat: []int{4}, Rotate: []float64{45}, ShearX: []float64{0.2}, ShearY: []float64{0}, ShareC: []bool{false}, Residual: []bool{false}}, func(*Pattern) {}, "share_c", "true"},
		{"rectangular space wants height", rectangular(), func(*Pattern) {}, "height", "0"},
		{"rectangular width", rectangular(), func(p *Pattern) { p.Height = 2; p.Width = 2 }, "width", "2"},
		{"rectangular ok", rectangular(), func(p *Pattern) { p.Height = 2; p.Width = 3 }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			err := tt.space.Validate(p)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate(%v): %v", p, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate(%v) = %v, want a FieldError on %q", p, err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.value) || !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Errorf("error %q does not name field %q and value %s", err, tt.field, tt.value)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSearchSpaceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "space.json")
	for _, s := range []*SearchSpace{DefaultSearchSpace(), rectangular()} {
		if err := s.Save(path); err != nil {
			t.Fatal(err)
		}
		back, err := LoadSearchSpace(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Errorf("round trip: got %+v, want %+v", back, s)
		}
	}
	// Lists a file leaves out keep their defaults.
	partial := writeFile(t, "partial.json", `{"rotate": [0, 90], "share_c": [true]}`)
	s, err := LoadSearchSpace(partial)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSearchSpace()
	want.Rotate, want.ShareC = []float64{0, 90}, []bool{true}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("partial file: got %+v, want %+v", s, want)
	}
}

func TestLoadSearchSpaceErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string // all in the error
	}{
		{"malformed", "{\n  \"size\": [1, 2,]\n}", []string{"line 2", "malformed JSON"}},
		{"truncated", `{"size": [1, 2`, []string{"truncated"}},
		{"empty", ``, []string{"empty file"}},
		{"mistyped", `{"rotate": ["45"]}`, []string{`line 1 col 13: rotate[0]: got the string "45", want a number`}},
		{"unknown field", `{"size": [1], "shearx": [0]}`, []string{`line 1 col 15: unknown field "shearx"; did you mean "shear_x"?`}},
		{"empty list", `{"stride": []}`, []string{`"stride"`, "at least one"}},
		{"zero size", `{"size": [0, 1]}`, []string{`"size"`, "0"}},
		{"duplicate", `{"rotate": [0, 45, 45]}`, []string{`"rotate"`, "twice"}},
		{"huge shear", `{"shear_x": [0, 20]}`, []string{`"shear_x"`, "20"}},
		{"height without width", `{"height": [1, 2]}`, []string{`"height"`, "together"}},
		{"trailing data", `{"size": [1]} {"size": [2]}`, []string{"after the JSON value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "space.json", tt.content)
			_, err := LoadSearchSpace(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := LoadSearchSpace(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestPatternsFile(t *testing.T) {
	ps := []SitePattern{
		{"block1.layer.0.bn1", Pattern{Size: 3, Stride: 1, Repeat: 4, Rotate: 45, ShearX: 0.3, ShareC: true}},
		{"block1.layer.0.shortcut", Pattern{Size: 1, Stride: 2, Repeat: 64, ShearY: 1, Residual: true}},
		{"bn1", Pattern{Height: 2, Width: 5, Stride: 3, Repeat: 2}},
	}
	path := filepath.Join(t.TempDir(), "patterns.json")
	if err := WritePatterns(path, ps); err != nil {
		t.Fatal(err)
	}
	back, err := ReadPatterns(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ps) {
		t.Errorf("round trip: got %+v, want %+v", back, ps)
	}
	if m := PatternMap(back); len(m) != 3 || m["bn1"] != ps[2].Pattern {
		t.Errorf("PatternMap = %v", m)
	}
	// The JSON uses the paper's token names.
	data, _ := os.ReadFile(path)
	var raw struct {
		Patterns []struct {
			Pattern map[string]any
		}
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"size", "stride", "repeat", "rotate", "shear_x", "shear_y", "share_c", "residual"} {
		if _, ok := raw.Patterns[0].Pattern[key]; !ok {
			t.Errorf("pattern JSON lacks %q: %s", key, data)
		}
	}
	// An invalid set is refused and the file on disk is left as it was.
	bad := append([]SitePattern{}, ps...)
	bad[1].Pattern.Repeat = 0
	if err := WritePatterns(path, bad); err == nil || !strings.Contains(err.Error(), "repeat") {
		t.Errorf("writing repeat 0: %v", err)
	}
	if again, err := ReadPatterns(path); err != nil || !reflect.DeepEqual(again, ps) {
		t.Errorf("file changed by a refused write: %v", err)
	}
}

func TestReadPatternsErrors(t *testing.T) {
	const good = `{"size": 3, "stride": 1, "repeat": 4, "rotate": 45, "shear_x": 0.3, "shear_y": 0, "share_c": true, "residual": false}`
	tests := []struct {
		name, content string
		space         bool // validate against the default space
		want          []string
	}{
		{"valid", `{"patterns": [{"site": "bn1", "pattern": ` + good + `}]}`, true, nil},
		{"malformed", "{\"patterns\": [\n{\"site\": \"bn1\" \"pattern\": {}}]}", false, []string{"line 2", "malformed JSON"}},
		{"truncated", `{"patterns": [{"site": "bn1", "pattern": {"size": 3`, false, []string{"truncated"}},
		{"not an object", `[1, 2]`, false, []string{"line 1 col 1: got a list, want an object"}},
		{"no list", `{}`, false, []string{`no "patterns"`}},
		{"unknown field", `{"patterns": [{"site": "bn1", "pattern": {"size": 3, "shearx": 1}}]}`, false, []string{`patterns[0].pattern: unknown field "shearx"; did you mean "shear_x"?`}},
		// The line of the key, not of the end of the file (issue 27).
		{"unknown field line", "{\"patterns\": [\n  {\"site\": \"bn1\",\n   \"pattern\": " + good + "},\n  {\"site\": \"bn2\",\n   \"pattern\": {\n     \"size\": 3,\n     \"stide\": 1,\n     \"repeat\": 4\n   }\n  }\n]}\n" + strings.Repeat("\n", 20), false,
			[]string{`line 7 col 6: patterns[1].pattern: unknown field "stide"; did you mean "stride"?`}},
		{"mistyped", `{"patterns": [{"site": "bn1", "pattern": {"size": 3, "rotate": "45"}}]}`, false, []string{`patterns[0].pattern.rotate: got the string "45", want a number`}},
		{"fractional size", `{"patterns": [{"site": "bn1", "pattern": {"size": 2.5}}]}`, false, []string{"size", "number 2.5"}},
		{"ill-formed", `{"patterns": [{"site": "bn1", "pattern": {"size": 3, "stride": 1, "repeat": 0}}]}`, false, []string{"patterns[0]", `site "bn1"`, `"repeat"`}},
		{"out of space", `{"patterns": [{"site": "a", "pattern": ` + good + `}, {"site": "b", "pattern": {"size": 3, "stride": 1, "repeat": 4, "rotate": 37}}]}`, true, []string{"patterns[1]", `site "b"`, `"rotate"`, "37"}},
		{"duplicate site", `{"patterns": [{"site": "bn1", "pattern": ` + good + `}, {"site": "bn1", "pattern": ` + good + `}]}`, false, []string{"patterns[1]", "patterns[0]"}},
		{"empty site", `{"patterns": [{"site": "", "pattern": ` + good + `}]}`, false, []string{"patterns[0]", "empty site"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "patterns.json", tt.content)
			var err error
			if tt.space {
				_, err = DefaultSearchSpace().ReadPatterns(path)
			} else {
				_, err = ReadPatterns(path)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("read without error")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestPatternString(t *testing.T) {
	p := Pattern{Size: 3, Stride: 2, Repeat: 4, Rotate: 45, ShearY: 0.2, ShareC: true}
	if got, want := p.String(), "size=3 stride=2 repeat=4 rotate=45 shear_x=0 shear_y=0.2 share_c=true residual=false"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	p.Height, p.Width = 2, 5
	if got := p.String(); !strings.HasPrefix(got, "tile=2x5 ") {
		t.Errorf("String() = %q, want a tile=2x5 prefix", got)
	}
	if h, w := p.Extent(); h != 3*4+2 || w != 3*7+5 {
		t.Errorf("Extent() = %d×%d", h, w)
	}
}

// The off token: absent from the default space (whose decisions stay the
// paper's eight), a last token when a space offers it, and a pattern that
// keeps every cell.
func TestOffToken(t *testing.T) {
	def := DefaultSearchSpace()
	if toks := def.Tokens(); len(toks) != 8 || toks[len(toks)-1].Name != "residual" {
		t.Fatalf("default tokens %v, want the paper's eight", toks)
	}
	on := Pattern{Size: 3, Stride: 1, Repeat: 4, Off: true}
	var fe *FieldError
	if err := def.Validate(on); !errors.As(err, &fe) || fe.Field != "off" {
		t.Errorf("default space accepted an off pattern: %v", err)
	}
	s := DefaultSearchSpace()
	s.Off = []bool{false, true}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	toks := s.Tokens()
	if len(toks) != 9 || toks[8] != (Token{"off", 2}) {
		t.Fatalf("tokens %v, want off last with 2 values", toks)
	}
	choice := make([]int, 9)
	choice[8] = 1
	p, err := s.Pattern(choice)
	if err != nil || !p.Off {
		t.Fatalf("pattern of %v: %v %v, want off", choice, p, err)
	}
	back, err := s.Choices(p)
	if err != nil || !reflect.DeepEqual(back, choice) {
		t.Errorf("choices %v (%v), want %v", back, err, choice)
	}
	if !strings.Contains(p.String(), "off=true") {
		t.Errorf("String() = %q lacks off=true", p.String())
	}
	for _, bad := range [][]bool{{true, true}, {false, true, false}} {
		s.Off = bad
		if err := s.Check(); !errors.As(err, &fe) || fe.Field != "off" {
			t.Errorf("off %v: err %v, want one naming off", bad, err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "space.json")
	os.WriteFile(path, []byte(`{"off": [false, true]}`), 0o644)
	if sp, err := LoadSearchSpace(path); err != nil || len(sp.Off) != 2 || len(sp.Size) != len(def.Size) {
		t.Errorf("space file with off: %+v, %v", sp, err)
	}
}

func TestOffPatternKeepsEverything(t *testing.T) {
	for _, p := range []Pattern{
		{Size: 7, Stride: 1, Repeat: 64, Off: true},
		{Size: 2, Stride: 0, Repeat: 8, ShareC: true, Off: true},
	} {
		shape, v := mask(t, p, 2, 3, 7, 7)
		want := []int64{2, 3, 7, 7}
		if p.ShareC {
			want[1] = 1
		}
		if !sameShape(shape, want) || mean(v) != 1 {
			t.Errorf("%v: mask %v with mean %v, want %v of ones", p, shape, mean(v), want)
		}
		if k, err := p.KeptFraction(7, 7); err != nil || k != 1 {
			t.Errorf("%v: kept fraction %v %v, want 1", p, k, err)
		}
		if b, err := p.BaseMask(5, 5); err != nil || mean(f64(b)) != 1 {
			t.Errorf("%v: base mask %v %v, want ones", p, b, err)
		}
		x := randn(t, 2, 3, 7, 7)
		y := (&PatternDropout{Pattern: p}).ForwardT(x, true)
		_, out := read(t, y) // read drops what it reads
		_, in := read(t, x)
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%v: training forward changed the input", p)
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
