package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
)

// runSpace prints what a search space's patterns do to some map sizes
// (autodropout.SearchSpace.Survey).
func runSpace(args []string) error {
	fs := newFlagSet("space")
	file := fs.String("space", "", "search-space JSON file (default: the default space)")
	maps := fs.String("maps", "32x32,16x16,8x8", "comma-separated map sizes HxW")
	samples := fs.Int("samples", 2000, "patterns drawn uniformly from the space per map size")
	seed := fs.Int64("seed", 1, "seed of the drawn patterns")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout space [--space FILE] [--maps 32x32,16x16,8x8] [--samples N]\n\nPrint the distribution of dropped fractions and the number of distinct masks of a search space's patterns.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	space := autodropout.DefaultSearchSpace()
	name := "the default search space"
	if *file != "" {
		var err error
		if space, err = autodropout.LoadSearchSpace(*file); err != nil {
			return err
		}
		name = *file
	}
	sizes, err := parseMaps(*maps)
	if err != nil {
		return err
	}
	fmt.Printf("%s, %d patterns drawn uniformly per map (seed %d); dropped fraction of the map:\n\n", name, *samples, *seed)
	fmt.Println("| map | mean | 10% | 25% | median | 75% | 90% | drop > half | kept whole | distinct masks |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, hw := range sizes {
		s, err := space.Survey(hw[0], hw[1], *samples, *seed)
		if err != nil {
			return err
		}
		fmt.Printf("| %d×%d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f%% | %.1f%% | %d |\n",
			s.H, s.W, s.Mean, s.Q10, s.Q25, s.Median, s.Q75, s.Q90, 100*s.OverHalf, 100*s.Whole, s.Distinct)
	}
	fmt.Println("\nKept whole: the pattern would drop the entire map, so the site is left unregularized. Distinct masks: different centred base masks among the draws (every mask is a cyclic shift of its base).")
	if len(space.Off) > 0 {
		s, err := space.Survey(sizes[0][0], sizes[0][1], *samples, *seed)
		if err != nil {
			return err
		}
		fmt.Printf("Off: %.1f%% of the draws leave the site unregularized (the space's off token); they count in the fractions above as 0 dropped, not as kept whole.\n", 100*s.Off)
	}
	return nil
}

// parseMaps reads "32x32,16x16" into [h, w] pairs.
func parseMaps(s string) ([][2]int64, error) {
	var out [][2]int64
	for _, f := range strings.Split(s, ",") {
		h, w, ok := strings.Cut(strings.TrimSpace(f), "x")
		hv, err1 := strconv.ParseInt(h, 10, 64)
		wv, err2 := strconv.ParseInt(w, 10, 64)
		if !ok || err1 != nil || err2 != nil || hv < 1 || wv < 1 {
			return nil, fmt.Errorf("--maps %q: %q is not a size HxW with positive sides", s, f)
		}
		out = append(out, [2]int64{hv, wv})
	}
	return out, nil
}
