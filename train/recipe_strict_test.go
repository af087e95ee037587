package train

import (
	"path/filepath"
	"strings"
	"testing"
)

// The shipped recipes decode strictly (ReadLMRecipe refuses unknown and
// mistyped fields), and a typo is reported with its line and a
// suggestion.
func TestReadLMRecipeStrict(t *testing.T) {
	files, _ := filepath.Glob("../configs/transformer-xl-*.json")
	n := 0
	for _, f := range files {
		if strings.Contains(f, "patterns") {
			continue
		}
		n++
		if _, err := ReadLMRecipe(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n < 3 {
		t.Fatalf("found %d recipes in configs/, want the 3 shipped", n)
	}
	bad := filepath.Join(t.TempDir(), "r.json")
	if err := writeTestFile(bad, "{\n  \"model\": {\"n_layer\": 2},\n  \"max_stpe\": 10\n}\n"); err != nil {
		t.Fatal(err)
	}
	_, err := ReadLMRecipe(bad)
	if err == nil || !strings.Contains(err.Error(), bad+`: line 3 col 3: unknown field "max_stpe"; did you mean "max_step"?`) {
		t.Errorf("err = %v, want the file, line 3 and max_step", err)
	}
}
