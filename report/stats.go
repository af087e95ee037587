package report

import "math"

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
