package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// regenerates checks that `autodropout report RAW --out COMMITTED`, run
// from the repository root, gives the committed report and figures byte
// for byte: the committed report is what its committed raw results say.
func regenerates(t *testing.T, raw, committed string) {
	t.Helper()
	t.Chdir("..") // the repository root: the report names the folder it read
	if _, err := os.Stat(raw); err != nil {
		t.Skip("no committed results:", err)
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
			t.Errorf("%s differs from what the committed raw results give: run autodropout report %s --out %s", filepath.Base(f), raw, committed)
		}
	}
}

// Every committed report is what `autodropout report RAW --out REPORT`
// makes of its committed raw results, figures included, so that a report
// cannot drift from its data (issue 17's "regenerated unchanged";
// scripts/study.sh STUDY sync does the same).
func TestReportsRegenerate(t *testing.T) {
	for _, tc := range []struct{ raw, report string }{
		{"docs/study/runs", "docs/study/report.md"},                                      // the Fashion-MNIST study (docs/study.md)
		{"docs/demo/runs", "docs/demo/report.md"},                                        // one committed `make demo` run
		{"docs/study/uda/runs", "docs/study/uda/report.md"},                              // the UDA measurement (docs/study/uda.md)
		{"docs/study/lm/runs", "docs/study/lm/report.md"},                                // the language-model study (docs/study.md)
		{"docs/study/lm-regime/whole-3000", "docs/study/lm-regime/whole-3000/report.md"}, // its regime checks
		{"docs/study/lm-regime/first-200k", "docs/study/lm-regime/first-200k/report.md"},
		{"docs/study/lm-regime/spread-100k", "docs/study/lm-regime/spread-100k/report.md"},
	} {
		t.Run(tc.raw, func(t *testing.T) { regenerates(t, tc.raw, tc.report) })
	}
}

// quotedNumbers returns the README's text from the first line that
// contains start up to the next heading, and the numbers in it that match
// num (the README's minus sign read as the report's hyphen).
func quotedNumbers(t *testing.T, start string, num *regexp.Regexp) (string, []string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(readme)
	i := strings.Index(sec, start)
	if i < 0 {
		t.Fatalf("README has no %q", start)
	}
	sec = sec[strings.LastIndex(sec[:i], "\n")+1:]
	if end := strings.Index(sec[1:], "\n#"); end >= 0 {
		sec = sec[:end+1]
	}
	sec = strings.ReplaceAll(sec, "−", "-")
	return sec, num.FindAllString(sec, -1)
}

// Every accuracy in the README's "Does it work?" section and its
// subsections is one its study's committed report prints (issue 17:
// "every number in the README's section comes from it"; issues 28 and 30
// for the language-model and UDA answers).
func TestReadmeQuotesStudyReport(t *testing.T) {
	for _, tc := range []struct {
		heading string
		reports []string // each figure is printed by one of them
		num     *regexp.Regexp
		min     int // the figures the subsection must quote
	}{
		{"## Does it work?", []string{"../docs/study/report.md"}, accuracy, 10},
		{"### With RandAugment", []string{"../docs/study/report.md"}, accuracy, 5},
		{"### Language models", []string{"../docs/study/lm-regime/spread-100k/report.md", "../docs/study/lm/report.md"}, perplexity, 4},
		{"### Semi-supervised: UDA with 1,000 labels", []string{"../docs/study/uda/report.md"}, accuracy, 12},
	} {
		var reps []string
		for _, r := range tc.reports {
			rep, err := os.ReadFile(r)
			if err != nil {
				t.Errorf("%s: no committed study report: %v", tc.heading, err)
			}
			reps = append(reps, string(rep))
		}
		_, nums := quotedNumbers(t, tc.heading, tc.num)
		if len(nums) < tc.min {
			t.Errorf("README's %q quotes %d figures, want at least %d", tc.heading, len(nums), tc.min)
		}
		for _, n := range nums {
			if !slices.ContainsFunc(reps, func(rep string) bool { return strings.Contains(rep, n) }) {
				t.Errorf("README's %q quotes %s, which none of %s prints", tc.heading, n, strings.Join(tc.reports, ", "))
			}
		}
	}
}

// accuracy matches an accuracy or a difference of two, as the reports
// print them.
var accuracy = regexp.MustCompile(`[-+]?\d\.\d{4}`)

// perplexity matches a perplexity as the reports print them.
var perplexity = regexp.MustCompile(`\d+\.\d{2}\b`)

// Every figure with decimals in the README's demo text (from the line
// that links docs/demo/report.md to the next heading: accuracies, reward
// differences, CPU-seconds, cost ratios) is one the committed demo report
// prints (issue 27: the README quoted a demo from before bf16).
func TestReadmeQuotesDemoReport(t *testing.T) {
	rep, err := os.ReadFile("../docs/demo/report.md")
	if err != nil {
		t.Skip("no committed demo report:", err)
	}
	sec, nums := quotedNumbers(t, "(docs/demo/report.md)", regexp.MustCompile(`[-+]?\d+\.\d+×?`))
	if !strings.Contains(sec, "| `none` |") || len(nums) < 15 {
		t.Fatalf("README's demo text quotes %d figures and no final table; want the table of docs/demo/report.md:\n%s", len(nums), sec)
	}
	for _, n := range nums {
		if !strings.Contains(string(rep), n) {
			t.Errorf("README's demo text quotes %s, which docs/demo/report.md does not print", n)
		}
	}
}
