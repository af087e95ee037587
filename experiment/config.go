package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

// Config is an experiment (configs/demo.json, configs/paper/*,
// configs/study/*): searches of one search configuration, optionally over
// several seeds and restricted subspaces; optionally a grid that tunes
// the hand-designed baselines on validation accuracy; then a final
// training of the target model with every regularizer over several seeds.
type Config struct {
	Source string `json:"source,omitempty"` // where the values come from
	// Search is the search configuration file (its method and seed are
	// overridden); "": no searches (the final compares the baselines and
	// Patterns), and methods, search seeds, subspaces, variants and
	// reward noise must be unset.
	Search   string      `json:"search"`
	Final    FinalConfig `json:"final"`
	Parallel int         `json:"parallel"` // final and grid trainings at once (default 1); cores are divided among them

	// Methods lists the searches of the full space: "rl" (the controller)
	// and "random" by default.
	Methods []string `json:"methods,omitempty"`
	// SearchSeeds runs every search once per seed; empty: once, with the
	// search configuration's seed.
	SearchSeeds []int64 `json:"search_seeds,omitempty"`
	// Subspaces adds searches in restricted search spaces, each with the
	// same budget and seeds.
	Subspaces []Subspace `json:"subspaces,omitempty"`
	// Variants adds searches with another search configuration (multi-
	// fidelity, another controller) on the same seeds, for the cost
	// comparison: their best patterns are not retrained in the final.
	Variants []Variant `json:"variants,omitempty"`
	// Grid tunes the baselines; without it they use Final.DropRate and
	// Final.BlockSize.
	Grid *Grid `json:"grid,omitempty"`
	// RewardNoise, when set, retrains patterns and baselines at the
	// search's own trial settings with other seeds, to measure how noisy
	// a trial's reward is against the differences between patterns.
	RewardNoise *RewardNoise `json:"reward_noise,omitempty"`
	// Patterns are pattern files retrained in the final comparison as
	// they are, without a search, each labelled by its name: patterns
	// found before, such as another study's best.
	Patterns []FixedPattern `json:"patterns,omitempty"`
	// Supervised adds the row "supervised" to a semi-supervised final
	// (final.semi "uda"): the same labeled images trained on alone,
	// without the unlabeled ones and without a regularizer.
	Supervised bool `json:"supervised,omitempty"`
}

// FixedPattern is a pattern file of the final comparison, labelled Name.
type FixedPattern struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// RewardNoise says what the reward-noise stage retrains, each run at the
// search configuration's task (a trial's settings, validation only):
// the Top best patterns of the full space's searches of SearchSeeds, with
// each of Seeds (the journal has their reward at the task's own seed),
// and no regularizer and the tuned baselines with the task's seed and
// each of Seeds. The stage runs right after the last of those searches.
// Its folders are named by rank (noise/<search>-top<k>): a search resumed
// with a larger budget after the stage ran needs those folders removed.
type RewardNoise struct {
	Top         int     `json:"top,omitempty"`          // best patterns of each search (default 3; at most the search's top_k)
	Seeds       []int64 `json:"seeds"`                  // training seeds other than the task's
	SearchSeeds []int64 `json:"search_seeds,omitempty"` // default: the first search seed
}

// FinalConfig is the training the regularizers are compared on: a search
// task (its trial.Spec, Task.Spec, with the task's defaults), the seeds,
// and the baselines' settings when no grid tunes them.
type FinalConfig struct {
	search.Task
	Seeds     []int64 `json:"seeds"`
	DropRate  float64 `json:"drop_rate,omitempty"`  // classify: Dropout and DropBlock (LM baselines use the recipe's rates)
	BlockSize int     `json:"block_size,omitempty"` // classify: DropBlock
}

// Subspace is a search space file searched like the full space. Its name
// labels its searches and final runs ("<name>-rl-best").
type Subspace struct {
	Name    string   `json:"name"`
	Space   string   `json:"space"`             // search-space JSON file
	Methods []string `json:"methods,omitempty"` // default ["rl"]
	Seeds   []int64  `json:"seeds,omitempty"`   // default: the experiment's search seeds
}

// Variant is a search configuration file searched like the main one (its
// method and seed overridden as there), named for its folders
// ("search-<name>-<method>-seed<s>").
type Variant struct {
	Name    string   `json:"name"`
	Search  string   `json:"search"`            // search configuration file
	Methods []string `json:"methods,omitempty"` // default ["rl"]
	Seeds   []int64  `json:"seeds,omitempty"`   // default: the experiment's search seeds
	// Final retrains the variant's best pattern of each method in the
	// final comparison, labelled "<name>-<method>-best" (another
	// controller's patterns against the main one's); false: the variant
	// serves the cost comparison only.
	Final bool `json:"final,omitempty"`
}

// Grid lists the settings tried for each hand-designed baseline. Each
// setting is trained once (seed Seed, default the first final seed) on
// the final task without the test set; the one with the best validation
// accuracy is the baseline's setting in the final comparison.
//
// A language model's grid (final.kind "lm") tunes the reference's
// placement: Dropout's rates (the recipe's "dropout"), each with each of
// DropAtt's attention rates, and Variational's rates likewise; 0 in
// DropAtt is the recipe's dropatt. The best is the lowest validation
// perplexity.
type Grid struct {
	Dropout     []float64 `json:"dropout,omitempty"`     // drop rates
	DropAtt     []float64 `json:"dropatt,omitempty"`     // lm: attention-probability rates (default [0]: the recipe's)
	Variational []float64 `json:"variational,omitempty"` // lm: variational dropout's rates; variational joins the grid when set
	Spatial     []float64 `json:"spatial,omitempty"`     // drop rates; SpatialDropout joins the comparison when set
	DropBlock   []float64 `json:"dropblock,omitempty"`   // drop rates; DropBlock joins the comparison when set
	BlockSizes  []int     `json:"block_sizes,omitempty"` // DropBlock block sizes (default [Final.BlockSize])
	Sites       string    `json:"sites,omitempty"`       // sites the baselines go to (default: trial.DefaultSites, the batch-norm outputs)
	Seed        int64     `json:"seed,omitempty"`
}

// ReadConfig reads and checks an experiment configuration.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read experiment config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return c, fmt.Errorf("experiment config %s: %w", path, err)
	}
	return c, nil
}

// CheckFiles says which file the configuration names is missing (Run
// checks before it starts). Its paths are relative to the working
// directory, not to the configuration file: the shipped configurations
// name configs/… from the repository root.
func (c Config) CheckFiles() error {
	files := [][2]string{{"search", c.Search}}
	for i, s := range c.Subspaces {
		files = append(files, [2]string{fmt.Sprintf("subspaces[%d].space", i), s.Space})
	}
	for i, v := range c.Variants {
		files = append(files, [2]string{fmt.Sprintf("variants[%d].search", i), v.Search})
	}
	for i, p := range c.Patterns {
		files = append(files, [2]string{fmt.Sprintf("patterns[%d].file", i), p.File})
	}
	for _, f := range files {
		if f[1] == "" {
			continue
		}
		if _, err := os.Stat(f[1]); err != nil {
			wd, _ := os.Getwd()
			return fmt.Errorf("%s: %w (paths are relative to the working directory, %s)", f[0], err, wd)
		}
	}
	return nil
}

// ParseConfig decodes an experiment configuration strictly (unknown
// fields, trailing data and wrong types are errors), fills the defaults
// and checks every field, naming the first bad one. The search
// configuration it names is not read.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := strictjson.Decode(b, &c); err != nil {
		return c, err
	}
	return c, c.check()
}

// check fills the defaults and checks every field, naming the first bad
// one.
func (c *Config) check() error {
	if c.Parallel < 0 {
		return fmt.Errorf("parallel %d: want 1 or more (0: 1)", c.Parallel)
	}
	c.Parallel = max(c.Parallel, 1)
	if err := c.checkNoSearch(); err != nil {
		return err
	}
	if len(c.Methods) == 0 && c.Search != "" {
		c.Methods = []string{"rl", "random"}
	}
	c.Final.Task = search.Config{Task: c.Final.Task}.WithDefaults().Task
	f := c.Final
	switch {
	case len(f.Seeds) == 0:
		return fmt.Errorf("final.seeds: want at least one seed")
	case f.Kind == "lm" && f.DropRate != 0:
		return fmt.Errorf("final.drop_rate: not used by lm tasks (the recipe sets the baselines' rates)")
	case f.Kind == "lm" && f.BlockSize != 0:
		return fmt.Errorf("final.block_size: not used by lm tasks")
	}
	if err := trainingSeeds("final.seeds", f.Seeds); err != nil {
		return err
	}
	for _, m := range c.Methods {
		if m != "rl" && m != "random" {
			return fmt.Errorf("methods: %q: want rl or random", m)
		}
	}
	if err := trainingSeeds("search_seeds", c.SearchSeeds); err != nil {
		return err
	}
	if err := c.checkNames(); err != nil {
		return err
	}
	if err := c.checkRewardNoise(); err != nil {
		return err
	}
	if err := c.checkGrid(); err != nil {
		return err
	}
	if err := c.Final.Task.Check(); err != nil {
		return fmt.Errorf("final.%w", err)
	}
	return nil
}

// checkNames checks the subspaces' and variants' names (one namespace of
// folder names), files and methods, and fills their default methods.
func (c *Config) checkNames() error {
	names := map[string]bool{}
	named := func(field, name, file, fileWant string, methods *[]string) error {
		switch {
		case !plainName(name):
			return fmt.Errorf("%s.name %q: want a plain name (it names folders)", field, name)
		case names[name]:
			return fmt.Errorf("%s.name %q: used twice", field, name)
		case file == "":
			return fmt.Errorf("%s: want %s", field, fileWant)
		}
		names[name] = true
		if len(*methods) == 0 {
			*methods = []string{"rl"}
		}
		for _, m := range *methods {
			if m != "rl" && m != "random" {
				return fmt.Errorf("%s.methods: %q: want rl or random", field, m)
			}
		}
		return nil
	}
	for i := range c.Subspaces {
		s := &c.Subspaces[i]
		if err := named(fmt.Sprintf("subspaces[%d]", i), s.Name, s.Space, "a search-space file (space)", &s.Methods); err != nil {
			return err
		}
	}
	for i := range c.Variants {
		v := &c.Variants[i]
		if err := named(fmt.Sprintf("variants[%d]", i), v.Name, v.Search, "a search configuration file (search)", &v.Methods); err != nil {
			return err
		}
	}
	reserved := []string{"none", "dropout", "spatial", "dropblock", "variational", "supervised"}
	for i, p := range c.Patterns {
		field := fmt.Sprintf("patterns[%d]", i)
		var methods []string = []string{"rl"} // patterns have none; named checks a non-empty list
		if err := named(field, p.Name, p.File, "a pattern file (file)", &methods); err != nil {
			return err
		}
		if slices.Contains(reserved, p.Name) || strings.HasSuffix(p.Name, "-best") {
			return fmt.Errorf("%s.name %q: a baseline's or a search's label; choose another", field, p.Name)
		}
	}
	return nil
}

// checkNoSearch checks an experiment without a search configuration, and
// the semi-supervised row.
func (c *Config) checkNoSearch() error {
	if c.Supervised && c.Final.Semi != trial.SemiUDA {
		return fmt.Errorf("supervised: the supervised row needs a semi-supervised final (final.semi \"uda\")")
	}
	if c.Search != "" {
		return nil
	}
	switch {
	case len(c.Methods) > 0 || len(c.SearchSeeds) > 0:
		return fmt.Errorf("methods, search_seeds: an experiment without a search configuration (search) runs no searches")
	case len(c.Subspaces) > 0 || len(c.Variants) > 0 || c.RewardNoise != nil:
		return fmt.Errorf("subspaces, variants, reward_noise: an experiment without a search configuration (search) runs no searches")
	}
	return nil
}

// SearchConfig reads the search configuration file; without one, it is a
// configuration whose task is the final's (what the plan and the report
// read from it) and which runs no search.
func (c Config) SearchConfig() (search.Config, error) {
	if c.Search != "" {
		return search.ReadConfig(c.Search)
	}
	sc := search.Config{Task: c.Final.Task}.WithDefaults()
	return sc, nil
}

// checkRewardNoise checks the reward-noise stage, if any, and fills its
// default top.
func (c *Config) checkRewardNoise() error {
	n := c.RewardNoise
	if n == nil {
		return nil
	}
	if n.Top < 0 {
		return fmt.Errorf("reward_noise.top %d: want 1 or more (0: 3)", n.Top)
	}
	if n.Top == 0 {
		n.Top = 3
	}
	if len(n.Seeds) == 0 {
		return fmt.Errorf("reward_noise.seeds: want at least one training seed")
	}
	if err := trainingSeeds("reward_noise.seeds", n.Seeds); err != nil {
		return err
	}
	if err := distinct("reward_noise.search_seeds", n.SearchSeeds); err != nil {
		return err
	}
	for _, s := range n.SearchSeeds {
		if len(c.SearchSeeds) > 0 && !slices.Contains(c.SearchSeeds, s) {
			return fmt.Errorf("reward_noise.search_seeds: %d is not one of search_seeds %v", s, c.SearchSeeds)
		}
	}
	return nil
}

// checkGrid checks the baseline grid and fills its defaults from final;
// without a grid, final's drop rate and block size. A language model's
// grid is checkLMGrid's.
func (c *Config) checkGrid() error {
	f := c.Final
	rate := func(field string, v float64) error {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("%s: %v: want a drop rate in (0, 1)", field, v)
		}
		return nil
	}
	if f.Kind != "lm" {
		if g := c.Grid; g != nil {
			for _, l := range []struct {
				name string
				v    []float64
			}{{"grid.dropout", g.Dropout}, {"grid.spatial", g.Spatial}, {"grid.dropblock", g.DropBlock}} {
				for _, v := range l.v {
					if err := rate(l.name, v); err != nil {
						return err
					}
				}
			}
			if len(g.Dropout) == 0 {
				return fmt.Errorf("grid: want at least one dropout rate")
			}
			for _, b := range g.BlockSizes {
				if b < 1 {
					return fmt.Errorf("grid.block_sizes: %d: want positive sizes", b)
				}
			}
			if len(g.BlockSizes) == 0 && len(g.DropBlock) > 0 {
				if f.BlockSize < 1 {
					return fmt.Errorf("grid.block_sizes: want at least one (or final.block_size)")
				}
				g.BlockSizes = []int{f.BlockSize}
			}
			if g.Seed == 0 {
				g.Seed = f.Seeds[0]
			}
		} else {
			if err := rate("final.drop_rate", f.DropRate); err != nil {
				return err
			}
			if f.BlockSize < 1 {
				return fmt.Errorf("final.block_size: %d: want a positive block size", f.BlockSize)
			}
		}
	} else if err := c.checkLMGrid(rate); err != nil {
		return err
	}
	return nil
}

// checkLMGrid checks a language model's grid (none is fine: the baselines
// then take the recipe's rates) and fills its defaults.
func (c *Config) checkLMGrid(rate func(string, float64) error) error {
	g := c.Grid
	if g == nil {
		return nil
	}
	switch {
	case len(g.Spatial) > 0 || len(g.DropBlock) > 0 || len(g.BlockSizes) > 0 || g.Sites != "":
		return fmt.Errorf("grid: a language model's grid takes dropout, dropatt and variational rates (the reference's sites), not spatial, dropblock, block_sizes or sites")
	case len(g.Dropout) == 0:
		return fmt.Errorf("grid.dropout: want at least one rate")
	}
	for _, l := range []struct {
		name string
		v    []float64
	}{{"grid.dropout", g.Dropout}, {"grid.variational", g.Variational}} {
		for _, v := range l.v {
			if err := rate(l.name, v); err != nil {
				return err
			}
		}
	}
	for _, a := range g.DropAtt {
		if !(a >= 0 && a < 1) {
			return fmt.Errorf("grid.dropatt: %v: want a rate in [0, 1) (0: the recipe's)", a)
		}
	}
	if len(g.DropAtt) == 0 {
		g.DropAtt = []float64{0}
	}
	if g.Seed == 0 {
		g.Seed = c.Final.Seeds[0]
	}
	return nil
}

// distinct returns an error naming field if a seed is listed twice.
func distinct(field string, seeds []int64) error {
	seen := map[int64]bool{}
	for _, s := range seeds {
		if seen[s] {
			return fmt.Errorf("%s: seed %d listed twice", field, s)
		}
		seen[s] = true
	}
	return nil
}

// trainingSeeds checks the seeds of trainings or searches: distinct, and
// not 0, which a trial.Spec and a search configuration read as their
// default seed, 1.
func trainingSeeds(field string, seeds []int64) error {
	if slices.Contains(seeds, 0) {
		return fmt.Errorf("%s: seed 0 stands for the default seed 1; use another", field)
	}
	return distinct(field, seeds)
}

// plainName reports whether name can name a folder on its own.
func plainName(name string) bool {
	return name != "" && name == filepath.Base(name) && name != "." && name != ".."
}

// searchRun is one search of the experiment.
type searchRun struct {
	Main   bool   // a search of the full space with one of the experiment's methods
	Label  string // final-run label of its family's best pattern, e.g. "autodropout-best"
	Dir    string // folder under the output folder
	Space  string // search-space file, "" for the search configuration's own
	Config search.Config
}

// searches lists the experiment's searches in the order they run: every
// method of the full space, then every subspace's, each over every search
// seed. Without search seeds, folder names are those of earlier versions
// (search-rl, search-random), so old runs resume.
func (c Config) searches(scfg search.Config) []searchRun {
	seeds := c.SearchSeeds
	if len(seeds) == 0 {
		seeds = []int64{scfg.Seed}
	}
	var out []searchRun
	add := func(prefix, method, space string, seeds []int64) {
		for _, s := range seeds {
			dir := "search-" + prefix + method
			if len(c.SearchSeeds) > 0 || prefix != "" {
				dir += "-seed" + strconv.FormatInt(s, 10)
			}
			sc := scfg
			sc.Method, sc.Seed = method, s
			if space != "" {
				sc.SearchSpace = space
			}
			out = append(out, searchRun{Main: prefix == "", Label: familyLabel(prefix, method), Dir: dir, Space: space, Config: sc})
		}
	}
	for _, m := range c.Methods {
		add("", m, "", seeds)
	}
	for _, sub := range c.Subspaces {
		s := seeds
		if len(sub.Seeds) > 0 {
			s = sub.Seeds
		}
		for _, m := range sub.Methods {
			add(sub.Name+"-", m, sub.Space, s)
		}
	}
	return out
}

// variantSearches lists the variants' searches, reading each variant's
// search configuration.
func (c Config) variantSearches(scfg search.Config) ([]searchRun, error) {
	seeds := c.SearchSeeds
	if len(seeds) == 0 {
		seeds = []int64{scfg.Seed}
	}
	var out []searchRun
	for i, v := range c.Variants {
		vc, err := search.ReadConfig(v.Search)
		if err != nil {
			return nil, fmt.Errorf("variants[%d] (%s): %w", i, v.Name, err)
		}
		s := seeds
		if len(v.Seeds) > 0 {
			s = v.Seeds
		}
		for _, m := range v.Methods {
			for _, seed := range s {
				sc := vc
				sc.Method, sc.Seed = m, seed
				label := v.Name + "-" + m
				if v.Final {
					label += "-best"
				}
				out = append(out, searchRun{Label: label, Dir: fmt.Sprintf("search-%s-%s-seed%d", v.Name, m, seed), Config: sc})
			}
		}
	}
	return out, nil
}

// allSearches is every search of the experiment in the order they run:
// seed by seed, and for each seed the full space's, the subspaces', then
// the variants'. Seed by seed, so that an experiment stopped part way
// (a long study spans sessions) has whole seeds of every family.
func (c Config) allSearches(scfg search.Config) ([]searchRun, error) {
	vs, err := c.variantSearches(scfg)
	all := append(c.searches(scfg), vs...)
	rank := map[int64]int{}
	for _, r := range all {
		if _, ok := rank[r.Config.Seed]; !ok {
			rank[r.Config.Seed] = len(rank)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return rank[all[i].Config.Seed] < rank[all[j].Config.Seed] })
	return all, err
}

// familyLabel names the final run of a search family's best pattern.
func familyLabel(prefix, method string) string {
	if prefix == "" {
		if method == "rl" {
			return "autodropout-best"
		}
		return "random-best"
	}
	return prefix + method + "-best"
}

// gridRun is one training of a baseline grid.
type gridRun struct {
	family string // dropout, spatial, dropblock
	name   string // e.g. "p0.1-b3"
	reg    trial.Regularizer
}

// gridRuns lists the grid's trainings (none without a grid).
func (c Config) gridRuns() []gridRun {
	g := c.Grid
	if g == nil {
		return nil
	}
	ftoa := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var out []gridRun
	if c.Final.Kind == "lm" {
		for _, fam := range []struct {
			name  string
			rates []float64
		}{{"dropout", g.Dropout}, {"variational", g.Variational}} {
			for _, p := range fam.rates {
				for _, a := range g.DropAtt {
					out = append(out, gridRun{fam.name, "p" + ftoa(p) + "-a" + ftoa(a), trial.Regularizer{Name: fam.name, DropRate: p, DropAtt: a}})
				}
			}
		}
		return out
	}
	for _, p := range g.Dropout {
		out = append(out, gridRun{"dropout", "p" + ftoa(p), trial.Regularizer{Name: "dropout", DropRate: p}})
	}
	for _, p := range g.Spatial {
		out = append(out, gridRun{"spatial", "p" + ftoa(p), trial.Regularizer{Name: "spatial", DropRate: p}})
	}
	for _, p := range g.DropBlock {
		for _, b := range g.BlockSizes {
			out = append(out, gridRun{"dropblock", "p" + ftoa(p) + "-b" + strconv.Itoa(b),
				trial.Regularizer{Name: "dropblock", DropRate: p, BlockSize: b}})
		}
	}
	for i := range out {
		out[i].reg.Sites = g.Sites
	}
	return out
}

// finalLabels lists the final comparison's regularizers in order.
func (c Config) finalLabels() []string {
	var out []string
	for _, r := range c.baselines(nil) {
		out = append(out, r.label)
	}
	seen := map[string]bool{}
	for _, s := range c.searches(search.Config{}) {
		if !seen[s.Label] {
			seen[s.Label] = true
			out = append(out, s.Label)
		}
	}
	for _, v := range c.Variants {
		if v.Final {
			for _, m := range v.Methods {
				out = append(out, v.Name+"-"+m+"-best")
			}
		}
	}
	return out
}

// regularizer is one final-comparison entry.
type regularizer struct {
	label      string
	reg        trial.Regularizer
	supervised bool // the final's labeled subset alone (Config.Supervised)
}

// baselines lists the hand-designed regularizers of the final comparison,
// with the settings tuned chose (family → regularizer) where the grid
// picked one.
func (c Config) baselines(tuned map[string]trial.Regularizer) []regularizer {
	f := c.Final
	if f.Kind == "lm" {
		regs := []regularizer{{label: "none", reg: trial.Regularizer{Name: "none"}}}
		for _, fam := range []string{"dropout", "variational"} {
			reg, ok := tuned[fam]
			if !ok { // the recipe's rates
				reg = trial.Regularizer{Name: fam}
			}
			regs = append(regs, regularizer{label: fam, reg: reg})
		}
		return regs
	}
	regs := []regularizer{{label: "none", reg: trial.Regularizer{Name: "none"}}}
	families := []string{"dropout", "dropblock"}
	if g := c.Grid; g != nil { // spatial and dropblock join when the grid tunes them
		families = []string{"dropout"}
		if len(g.Spatial) > 0 {
			families = append(families, "spatial")
		}
		if len(g.DropBlock) > 0 {
			families = append(families, "dropblock")
		}
	}
	for _, fam := range families {
		reg, ok := tuned[fam]
		if !ok {
			reg = trial.Regularizer{Name: fam, DropRate: f.DropRate}
			if fam == "dropblock" {
				reg.BlockSize = f.BlockSize
			}
			if c.Grid != nil {
				reg.Sites = c.Grid.Sites
			}
		}
		regs = append(regs, regularizer{label: fam, reg: reg})
	}
	if c.Supervised {
		regs = append([]regularizer{{label: "supervised", reg: trial.Regularizer{Name: "none"}, supervised: true}}, regs...)
	}
	for _, p := range c.Patterns {
		regs = append(regs, regularizer{label: p.Name, reg: trial.Regularizer{Pattern: p.File, AllowOutsideSpace: true}})
	}
	return regs
}
