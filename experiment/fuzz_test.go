package experiment

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

// FuzzExperimentConfig checks that any input either fails with an error
// or gives an experiment configuration whose final task passes its check
// and that reads back the same after a JSON round trip. Seeds: the
// experiment configurations in configs/ and testdata/fuzz.
func FuzzExperimentConfig(f *testing.F) {
	for _, glob := range []string{"../configs/*.json", "../configs/paper/*.json", "../configs/study/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.Final.Task.Check(); err != nil {
			t.Fatalf("parsed config's final task fails Check: %v", err)
		}
		if (c.Search == "" && len(c.Methods) > 0) || len(c.Final.Seeds) == 0 || c.Parallel < 1 {
			t.Fatalf("parsed config %+v has methods without a search, or lacks seeds or parallel", c)
		}
		if d := (search.Config{Task: c.Final.Task}.WithDefaults().Task); !reflect.DeepEqual(d, c.Final.Task) {
			t.Fatalf("defaults changed a parsed task:\n%+v\n%+v", c.Final.Task, d)
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfig(raw)
		if err != nil {
			t.Fatalf("re-reading %s: %v", raw, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c, c2)
		}
		if len(c.baselines(nil)) == 0 || len(c.Final.Spec().Args()) == 0 {
			t.Fatal("no baselines or train arguments")
		}
		// Every final training is a trial the trial package accepts.
		for _, r := range c.baselines(nil) {
			s := c.Final.Spec()
			s.Regularizer, s.Seed = r.reg, c.Final.Seeds[0]
			if _, err := trial.ParseArgs(s.Args()); err != nil {
				t.Fatalf("final %s: trial refuses %q: %v", r.label, s.Args(), err)
			}
		}
	})
}
