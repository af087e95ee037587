package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/search"
)

// runSpace prints what a search space's patterns do to some map sizes
// (autodropout.SearchSpace.Survey).
func runSpace(args []string) error {
	fs := newFlagSet("space")
	file := fs.String("space", "", "search-space JSON file (default: the default space)")
	maps := fs.String("maps", "", "comma-separated map sizes HxW (default: those of --model, or --data's side, half and quarter)")
	dataset := fs.String("data", "fashion-mnist", "dataset whose maps to survey: "+strings.Join(data.Datasets, ", "))
	model := fs.String("model", "", "survey the map sizes at this model's dropout sites on --data (default: --data's side, half and quarter, a WRN's three groups)")
	samples := fs.Int("samples", 2000, "patterns drawn uniformly from the space per map size")
	seed := fs.Int64("seed", 1, "seed of the drawn patterns")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout space [--space FILE] [--data NAME] [--model NAME | --maps 28x28,14x14,7x7] [--samples N]\n\nPrint the distribution of dropped fractions and the number of distinct masks of a search space's patterns.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *maps != "" && (flagGiven(fs, "model") || flagGiven(fs, "data")) {
		return fmt.Errorf("--maps gives the map sizes; --model and --data would choose them: give one or the other")
	}
	if *samples < 1 {
		return fmt.Errorf("--samples %d: want 1 or more", *samples)
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
	sizes, from, err := surveyMaps(*maps, *dataset, *model)
	if err != nil {
		return err
	}
	fmt.Printf("%s, %d patterns drawn uniformly per map (seed %d) on %s; dropped fraction of the map:\n\n", name, *samples, *seed, from)
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

// surveyMaps returns the map sizes to survey and says where they come
// from: --maps, the distinct maps at --model's sites on --data, or
// --data's image side, half and quarter (a WRN's three groups).
func surveyMaps(maps, dataset, model string) ([][2]int64, string, error) {
	if maps != "" {
		sizes, err := parseMaps(maps)
		return sizes, "the --maps sizes", err
	}
	in, _, ok := search.DatasetInput(dataset)
	if !ok {
		return nil, "", fmt.Errorf("--data %q: want one of %s", dataset, strings.Join(data.Datasets, ", "))
	}
	if model == "" {
		h, w := in.H, in.W
		sizes := [][2]int64{{h, w}, {(h + 1) / 2, (w + 1) / 2}, {(h + 3) / 4, (w + 3) / 4}}
		return sizes, fmt.Sprintf("the maps of %s (%d×%d images, halved twice as in a WRN; --model for another model's)", dataset, h, w), nil
	}
	at, err := search.SiteMaps(search.Task{Data: dataset, Model: model})
	if err != nil {
		return nil, "", fmt.Errorf("--model: %w", err)
	}
	var sizes [][2]int64
	for _, hw := range at {
		if !slices.Contains(sizes, hw) {
			sizes = append(sizes, hw)
		}
	}
	slices.SortFunc(sizes, func(a, b [2]int64) int { return cmp.Compare(b[0]*b[1], a[0]*a[1]) })
	return sizes, fmt.Sprintf("the maps at the sites of %s on %s", model, dataset), nil
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
