package report

// Number, list and table formatting shared by the report's sections.

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	ys := append([]float64(nil), xs...)
	sort.Float64s(ys)
	n := len(ys)
	if n%2 == 1 {
		return ys[n/2]
	}
	return (ys[n/2-1] + ys[n/2]) / 2
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

func seeds(g *Group) string {
	var ss []string
	for _, r := range g.Runs {
		ss = append(ss, fmt.Sprint(r.Seed))
	}
	return strings.Join(ss, ", ")
}

func cpuMean(g *Group) string {
	if g.CPUEstimated {
		return f1(g.CPU.Mean) + "*"
	}
	return f1(g.CPU.Mean)
}

func fmtOr(format string, x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	s := fmt.Sprintf(format, x)
	if strings.Trim(s, "-+0.") == "" && strings.ContainsAny(s, "0") { // no "-0.0000"
		s = strings.TrimLeft(s, "-+")
	}
	return s
}

func f1(x float64) string     { return fmtOr("%.1f", x) }
func f2(x float64) string     { return fmtOr("%.2f", x) }
func f4(x float64) string     { return fmtOr("%.4f", x) }
func signed(x float64) string { return fmtOr("%+.4f", x) }
func ratio(x float64) string  { return fmtOr("%.2f×", x) }
func pct(x float64) string    { return fmtOr("%.1f%%", 100*x) }

// pm formats mean ± sample std (just the mean for one run).
func pm(s Stat) string {
	if s.N < 2 {
		return f4(s.Mean)
	}
	return f4(s.Mean) + " ± " + f4(s.Std)
}

func pm2(s Stat) string {
	if s.N < 2 {
		return f2(s.Mean)
	}
	return f2(s.Mean) + " ± " + f2(s.Std)
}

func rng(s Stat) string  { return f4(s.Min) + "–" + f4(s.Max) }
func rng2(s Stat) string { return f2(s.Min) + "–" + f2(s.Max) }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func intOrDash(n int) string {
	if n <= 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

func trialOrDash(id int) string {
	if id < 0 {
		return "—"
	}
	return fmt.Sprint(id)
}

// cell makes text safe in a table cell: one line, no bare pipes, at most
// 200 characters.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// table writes a paragraph, a table's header lines and its rows (each
// ending in a newline); nothing without rows.
func table(b *strings.Builder, intro, header string, rows []string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "%s\n\n%s\n", intro, header)
	for _, row := range rows {
		b.WriteString(row)
	}
	b.WriteString("\n")
}
