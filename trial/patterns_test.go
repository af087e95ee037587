package trial

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// train refuses pattern values outside the search space, naming the field,
// unless --allow-outside-space; --space names another space.
func TestReadPatternsSpace(t *testing.T) {
	dir := t.TempDir()
	file := func(name, pattern string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`{"patterns":[{"site":"bn1","pattern":`+pattern+`}]}`), 0o644)
		return p
	}
	space := filepath.Join(dir, "space.json")
	os.WriteFile(space, []byte(`{"stride": [0, 1]}`), 0o644)
	ok := `{"size":3,"stride":1,"repeat":2,"rotate":15,"shear_x":0,"shear_y":0.1,"share_c":false,"residual":true}`
	for _, c := range []struct {
		name, pattern, space string
		outside              bool
		err                  string // "" when accepted
	}{
		{"in the default space", ok, "", false, ""},
		{"stride 0", strings.Replace(ok, `"stride":1`, `"stride":0`, 1), "", false, `field "stride"`},
		{"rotate 1e9", strings.Replace(ok, `"rotate":15`, `"rotate":1e9`, 1), "", false, `field "rotate"`},
		{"shear 0.05", strings.Replace(ok, `"shear_y":0.1`, `"shear_y":0.05`, 1), "", false, `field "shear_y"`},
		{"stride 0 allowed", strings.Replace(ok, `"stride":1`, `"stride":0`, 1), "", true, ""},
		{"stride 0 in another space", strings.Replace(ok, `"stride":1`, `"stride":0`, 1), space, false, ""},
		{"shear 99 never", strings.Replace(ok, `"shear_y":0.1`, `"shear_y":99`, 1), "", true, `field "shear_y"`},
	} {
		s := Spec{Regularizer: Regularizer{Pattern: file(strings.ReplaceAll(c.name, " ", "_")+".json", c.pattern), Space: c.space, AllowOutsideSpace: c.outside}}
		_, _, err := s.readPatterns()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.err)
		}
	}
}
