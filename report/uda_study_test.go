package report

import "testing"

// The UDA measurement's committed report (docs/study/uda.md) is what
// `autodropout report docs/study/uda/runs --out docs/study/uda/report.md`
// makes of its committed raw results (scripts/study.sh uda sync).
func TestUDAReportRegenerates(t *testing.T) {
	regenerates(t, "docs/study/uda/runs", "docs/study/uda/report.md")
}
