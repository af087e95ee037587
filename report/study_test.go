package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// Every accuracy in the README's "Does it work?" section is one the
// study's committed report prints (issue 17: "every number in the
// README's section comes from it").
func TestReadmeQuotesStudyReport(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := os.ReadFile("../docs/study/report.md")
	if err != nil {
		t.Skip("no committed study report:", err)
	}
	sec := string(readme)
	start := strings.Index(sec, "## Does it work?")
	if start < 0 {
		t.Fatal(`README has no "Does it work?" section`)
	}
	sec = sec[start+3:]
	if end := strings.Index(sec, "\n## "); end >= 0 {
		sec = sec[:end]
	}
	sec = strings.ReplaceAll(sec, "−", "-") // the README's minus sign, the report's hyphen
	nums := regexp.MustCompile(`[-+]?\d\.\d{4}`).FindAllString(sec, -1)
	if len(nums) < 10 {
		t.Fatalf("README's section quotes %d accuracies, want the final table's", len(nums))
	}
	for _, n := range nums {
		if !strings.Contains(string(rep), n) {
			t.Errorf("README quotes %s, which docs/study/report.md does not print", n)
		}
	}
}
