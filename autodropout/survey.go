package autodropout

import (
	"fmt"
	"math/rand"
	"sort"
)

// A Survey describes what a search space's patterns do to one map size:
// how much of the map they drop and how many different masks they make. It
// is the evidence for (or against) a space's value lists, which the paper
// never justified.
type Survey struct {
	H, W    int64
	Samples int // patterns drawn uniformly from the space's token choices
	// Dropped fraction of the map (1 − KeptFraction) over the samples.
	Mean, Q10, Q25, Median, Q75, Q90 float64
	OverHalf                         float64 // share of patterns dropping more than half the map
	Whole                            float64 // share kept whole: the pattern would drop the entire map (off patterns not counted)
	Off                              float64 // share of off patterns (a space with the off token), which drop nothing
	Distinct                         int     // distinct base masks among the samples (masks up to a cyclic shift, counted by their centred base)
}

// Survey draws samples patterns uniformly from the space (every token
// independently, as an untrained controller does), seeded by seed, and
// measures their masks on an h×w map.
func (s *SearchSpace) Survey(h, w int64, samples int, seed int64) (Survey, error) {
	if err := s.Check(); err != nil {
		return Survey{}, err
	}
	if samples < 1 {
		return Survey{}, fmt.Errorf("survey: %d samples: want at least 1", samples)
	}
	rng := rand.New(rand.NewSource(seed))
	tokens := s.Tokens()
	out := Survey{H: h, W: w, Samples: samples}
	dropped := make([]float64, 0, samples)
	seen := map[string]bool{}
	choice := make([]int, len(tokens))
	for i := 0; i < samples; i++ {
		for j, t := range tokens {
			choice[j] = rng.Intn(t.Choices)
		}
		p, err := s.Pattern(choice)
		if err != nil {
			return Survey{}, err
		}
		base, err := p.BaseMask(h, w)
		if err != nil {
			return Survey{}, fmt.Errorf("survey %v: %w", p, err)
		}
		kept := 0
		key := make([]byte, len(base))
		for k, v := range base {
			key[k] = '0'
			if v != 0 {
				kept++
				key[k] = '1'
			}
		}
		seen[string(key)] = true
		d := 1 - float64(kept)/float64(len(base))
		dropped = append(dropped, d)
		out.Mean += d / float64(samples)
		if d > 0.5 {
			out.OverHalf += 1 / float64(samples)
		}
		switch {
		case p.Off:
			out.Off += 1 / float64(samples)
		case d == 0:
			out.Whole += 1 / float64(samples)
		}
	}
	sort.Float64s(dropped)
	q := func(f float64) float64 { return dropped[min(len(dropped)-1, int(f*float64(len(dropped))))] }
	out.Q10, out.Q25, out.Median, out.Q75, out.Q90 = q(0.10), q(0.25), q(0.5), q(0.75), q(0.90)
	out.Distinct = len(seen)
	return out, nil
}
