package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The study's committed report is what `autodropout report docs/study/runs
// --out docs/study/report.md` makes of the committed raw results, figures
// included (docs/study.md; issue 17's "regenerated unchanged").
func TestStudyReportRegenerates(t *testing.T) {
	t.Chdir("..") // the repository root: the report names the folder it read
	const raw, committed = "docs/study/runs", "docs/study/report.md"
	if _, err := os.Stat(raw); err != nil {
		t.Skip("no committed study results:", err)
	}
	out := filepath.Join(t.TempDir(), "report.md")
	if _, err := Write(raw, Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*"))
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(filepath.Dir(committed), filepath.Base(f)))
		if err != nil {
			t.Errorf("%s is not committed next to %s: %v", filepath.Base(f), committed, err)
			continue
		}
		if got, _ := os.ReadFile(f); !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the committed raw results give: run scripts/study.sh sync (or autodropout report %s --out %s)", filepath.Base(f), raw, committed)
		}
	}
}
