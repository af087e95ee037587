package report

import (
	"fmt"
	"math"
	"sort"
)

// Stat summarizes a sample: its size, mean, sample standard deviation
// (divisor n-1; NaN for fewer than two values) and range. An empty sample
// has N = 0 and NaN everywhere else.
type Stat struct {
	N                   int
	Mean, Std, Min, Max float64
}

// Describe returns the Stat of xs.
func Describe(xs []float64) Stat {
	s := Stat{N: len(xs), Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	sum := 0.0
	s.Min, s.Max = xs[0], xs[0]
	for _, x := range xs {
		sum += x
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// t975 holds Student's t quantile 0.975 for 1 to 30 degrees of freedom.
var t975 = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// T95 returns the two-sided 95% quantile of Student's t with df degrees of
// freedom (a table to 30, then the Cornish–Fisher expansion, within 0.1%);
// NaN for df < 1.
func T95(df int) float64 {
	switch {
	case df < 1:
		return math.NaN()
	case df <= len(t975):
		return t975[df-1]
	}
	const z = 1.959964
	return z + (z*z*z+z)/(4*float64(df)) + (5*math.Pow(z, 5)+16*z*z*z+3*z)/(96*float64(df*df))
}

// Half95 is the half-width of the 95% t-interval of the mean; NaN with
// fewer than two values.
func (s Stat) Half95() float64 {
	if s.N < 2 {
		return math.NaN()
	}
	return T95(s.N-1) * s.Std / math.Sqrt(float64(s.N))
}

// Paired is the difference A − B of a score over the seeds both groups
// ran: its mean and the half-width of its 95% t-interval.
type Paired struct {
	A, B  string
	Seeds []int64
	Diff  Stat
	BMean float64 // B's mean over the paired seeds
}

// Relative is the mean difference over B's mean on the paired seeds
// (−0.27: A is 27% below B).
func (p Paired) Relative() float64 { return p.Diff.Mean / p.BMean }

// Significant reports whether the 95% interval excludes zero.
func (p Paired) Significant() bool {
	h := p.Diff.Half95()
	return !math.IsNaN(h) && (p.Diff.Mean-h > 0 || p.Diff.Mean+h < 0)
}

// interval is the difference's 95% interval as text ("—" with fewer than
// two seeds) and the verdict on it.
func (p Paired) interval() (iv, verdict string) {
	h := p.Diff.Half95()
	if math.IsNaN(h) {
		return "—", "too few seeds"
	}
	iv = fmt.Sprintf("[%+.4f, %+.4f]", p.Diff.Mean-h, p.Diff.Mean+h)
	if p.Significant() {
		return iv, "yes"
	}
	return iv, "no: the interval contains 0"
}

// PairedDiff pairs a's and b's runs by seed and describes score(a) −
// score(b) over the seeds where both have a score.
func PairedDiff(a, b *Group, score func(Run) float64) Paired {
	p := Paired{A: a.Label, B: b.Label}
	bySeed := map[int64]float64{}
	for _, r := range b.Runs {
		if v := score(r); !math.IsNaN(v) {
			bySeed[r.Seed] = v
		}
	}
	var d, bs []float64
	for _, r := range a.Runs {
		v := score(r)
		w, ok := bySeed[r.Seed]
		if !ok || math.IsNaN(v) {
			continue
		}
		d, bs = append(d, v-w), append(bs, w)
		p.Seeds = append(p.Seeds, r.Seed)
	}
	p.Diff, p.BMean = Describe(d), Describe(bs).Mean
	return p
}

// Spearman is the rank correlation of xs and ys (ties get their mean
// rank); NaN for fewer than 3 pairs, a constant series, or a value that is
// NaN or infinite.
func Spearman(xs, ys []float64) float64 {
	if len(xs) != len(ys) || len(xs) < 3 {
		return math.NaN()
	}
	for i := range xs {
		if math.IsNaN(xs[i]) || math.IsInf(xs[i], 0) || math.IsNaN(ys[i]) || math.IsInf(ys[i], 0) {
			return math.NaN()
		}
	}
	rx, ry := ranks(xs), ranks(ys)
	mx, my := Describe(rx).Mean, Describe(ry).Mean
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// ranks returns the 1-based ranks of xs, ties sharing their mean rank.
func ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	r := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}
