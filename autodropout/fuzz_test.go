package autodropout

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for the files users edit: pattern files, Transformer
// pattern files and search spaces. The seeds (f.Add and
// testdata/fuzz/<target>) run as ordinary tests in every `go test`;
// `go test -fuzz=FuzzReadPatterns ./autodropout/` explores beyond them. A
// reader may refuse its input but must not panic or hang, its error must
// name the file, and what it accepts must be valid and survive a round
// trip through the writer.

func fuzzFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func addFileSeed(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzReadPatterns(f *testing.F) {
	addFileSeed(f, filepath.Join("..", "configs", "patterns", "wrn-16-2-hand.json"))
	f.Add([]byte(`{"patterns": [{"site": "bn1", "pattern": {"size": 3, "stride": 2, "repeat": 4, "rotate": 90, "shear_x": 0, "shear_y": 0, "share_c": true, "residual": false}}]}`))
	f.Add([]byte(`{"patterns": [{"site": "a", "pattern": {"height": 2, "width": 5, "stride": 0, "repeat": 1}}, {"site": "a", "pattern": {"size": 1}}]}`))
	f.Add([]byte(`{"patterns": []}`))
	f.Add([]byte(`{"patterns": [{"site": "x", "pattern": {"size": 1e30}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, b)
		ps, err := ReadPatterns(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, sp := range ps {
			if err := sp.Pattern.Check(); err != nil {
				t.Fatalf("accepted an ill-formed pattern at %s: %v", sp.Site, err)
			}
			_ = sp.Pattern.String()
		}
		// What is read writes back and reads again unchanged.
		out := filepath.Join(t.TempDir(), "out.json")
		if err := WritePatterns(out, ps); err != nil {
			t.Fatalf("write back: %v", err)
		}
		again, err := ReadPatterns(out)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if len(ps) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(ps, again) {
			t.Fatalf("round trip changed the patterns:\n%v\n%v", ps, again)
		}
		// Validating against the default space must not panic either.
		if _, err := DefaultSearchSpace().ReadPatterns(path); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

func FuzzReadTransformerPatterns(f *testing.F) {
	addFileSeed(f, filepath.Join("..", "configs", "transformer-xl-patterns-hand.json"))
	f.Add([]byte(`[{"sites": "(", "pattern": {"size": 1, "stride": 1, "repeat": 1, "noise": "zero"}}]`))
	f.Add([]byte(`[{"sites": "ff", "pattern": {"size": 0, "stride": 1, "repeat": 1, "noise": "gaussian", "sigma": -1}}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, b)
		ps, err := ReadTransformerPatterns(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, p := range ps {
			if _, err := NewTransformerDropout(p.Pattern); err != nil {
				t.Fatalf("accepted a pattern the module refuses: %v", err)
			}
			_ = p.Pattern.String()
			for _, T := range []int{1, 7, 70} {
				if n := p.Pattern.Selected(T); n < 0 || n > T {
					t.Fatalf("%v selects %d of %d positions", p.Pattern, n, T)
				}
			}
		}
	})
}

// FuzzLoadSearchSpace reads the same bytes as a ConvNet search space and
// as a Transformer search space.
func FuzzLoadSearchSpace(f *testing.F) {
	f.Add([]byte(`{"size": [1, 2, 3], "stride": [1, 2], "repeat": [1, 4, 32], "rotate": [0, 45], "shear_x": [0, 0.5], "shear_y": [0, 0.5], "share_c": [false, true], "residual": [false, true]}`))
	f.Add([]byte(`{"height": [1, 2], "width": [3], "size": []}`))
	f.Add([]byte(`{"size": [1, 1]}`))
	f.Add([]byte(`{"size": [1, 2], "stride": [1], "repeat": [1, 2], "noise": ["zero", "gaussian"], "sigma": [0.5], "per_feature": [true], "sites": ["emb"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, b)
		s, err := LoadSearchSpace(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
		} else {
			if err := s.Check(); err != nil {
				t.Fatalf("accepted a space that fails Check: %v", err)
			}
			// Every first and last choice builds a pattern the space accepts.
			tokens := s.Tokens()
			for _, last := range []bool{false, true} {
				choice := make([]int, len(tokens))
				for i, tok := range tokens {
					if last {
						choice[i] = tok.Choices - 1
					}
				}
				p, err := s.Pattern(choice)
				if err != nil {
					t.Fatalf("choice %v: %v", choice, err)
				}
				if err := s.Validate(p); err != nil {
					t.Fatalf("the space refuses its own pattern %v: %v", p, err)
				}
			}
			out := filepath.Join(t.TempDir(), "space.json")
			if err := s.Save(out); err != nil {
				t.Fatalf("save: %v", err)
			}
			again, err := LoadSearchSpace(out)
			if err != nil {
				t.Fatalf("load back: %v", err)
			}
			// Compare what is saved: an empty list and an absent one mean
			// the same (the file's "height": [] reads as an empty slice,
			// and Save omits it).
			out2 := filepath.Join(t.TempDir(), "again.json")
			if err := again.Save(out2); err != nil {
				t.Fatalf("save again: %v", err)
			}
			if a, b := readAll(t, out), readAll(t, out2); a != b {
				t.Fatalf("round trip changed the space:\n%s\n%s", a, b)
			}
		}
		ts, err := LoadTransformerSpace(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		tokens := ts.Tokens()
		choice := make([]int, len(tokens))
		p, err := ts.Pattern(choice)
		if err != nil {
			t.Fatalf("choice %v: %v", choice, err)
		}
		if err := p.Validate(); err != nil || !ts.Contains(p) {
			t.Fatalf("the space's own pattern %v: valid %v, contained %v", p, err, ts.Contains(p))
		}
	})
}

// TestLoadTransformerSpaceLongLists loads a space with 300 values in each
// list. Validate used to check every combination (300⁵ of them), which
// held the process for hours; each value is now checked once.
func TestLoadTransformerSpaceLongLists(t *testing.T) {
	list := func(format string) string {
		vals := make([]string, 300)
		for i := range vals {
			vals[i] = fmt.Sprintf(format, i+1)
		}
		return "[" + strings.Join(vals, ",") + "]"
	}
	for _, tc := range []struct {
		name, sigma, err string
	}{
		{"valid", list("%d"), ""},
		{"a negative sigma last", strings.Replace(list("%d"), "300]", "-1]", 1), "sigma"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fuzzFile(t, []byte(fmt.Sprintf(`{"size": %s, "stride": %s, "repeat": %s, "noise": ["zero", "gaussian"], "sigma": %s, "per_feature": [false]}`,
				list("%d"), list("%d"), list("%d"), tc.sigma)))
			_, err := LoadTransformerSpace(path)
			if tc.err == "" && err != nil {
				t.Fatal(err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path)) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, path, tc.err)
			}
		})
	}
}
