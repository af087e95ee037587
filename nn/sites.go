package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/sugarme/gotch/ts"
)

// Sites are the named places of a model where a regularizer (a dropout
// pattern or a baseline such as DropBlock) can be applied: the outputs of
// batch-norm layers and, for residual networks, each block's shortcut
// path just before the addition ("<block>.shortcut"). A model declares its
// sites when it is built; callers assign regularizers by name. An
// unassigned site is the identity.
//
// Sites is also the registry for a model of your own (see SiteModel): its
// zero value is ready; Declare each site while building the model, call
// Apply at each site in its forward pass, and a pattern file then maps
// onto the model by name with SetPatterns (or one regularizer onto many
// sites with SetAll).
type Sites struct {
	names    []string
	index    map[string]int
	mods     []ts.ModuleT
	shortcut map[string]string // batch-norm site → its block's shortcut site
}

// Declare adds a site and returns its name. Sites are listed (Names) in
// the order they are declared, which should be the order the forward pass
// meets them. Declaring an empty or an already declared name panics: like
// a duplicate parameter name, it is a bug in the model, not bad input.
func (s *Sites) Declare(name string) string {
	if s.index == nil {
		s.index = map[string]int{}
	}
	if name == "" {
		panic("nn: dropout site with an empty name")
	}
	if _, dup := s.index[name]; dup {
		panic(fmt.Sprintf("nn: dropout site %q declared twice", name))
	}
	s.index[name] = len(s.names)
	s.names = append(s.names, name)
	s.mods = append(s.mods, nil)
	return name
}

// DeclareShortcut adds the site "<block>.shortcut", the shortcut path of
// a residual block just before the addition, whose batch-norm sites are
// members: a pattern with the residual token at a member also masks it
// (SetPatterns). It returns the site's name.
func (s *Sites) DeclareShortcut(block string, members ...string) string {
	name := s.Declare(block + ".shortcut")
	if s.shortcut == nil {
		s.shortcut = map[string]string{}
	}
	for _, m := range members {
		s.shortcut[m] = name
	}
	return name
}

// Shortcut returns the shortcut site of the block that holds the
// batch-norm site, and false when the site is in no residual block.
func (s *Sites) Shortcut(site string) (string, bool) {
	sc, ok := s.shortcut[site]
	return sc, ok
}

// SetPatterns assigns each site its pattern (a PatternDropout) and returns
// how many sites it set. The residual token of a pattern also masks its
// block's shortcut path before the addition: the block's shortcut site
// gets the pattern of the first of its sites, in the file's order, whose
// pattern has residual set (an independent draw of the same pattern).
// Patterns with residual set at sites outside residual blocks (a stem, a
// final batch norm) have nothing more to mask. An explicit pattern for a
// shortcut site in the file wins over a residual token.
func (s *Sites) SetPatterns(ps []autodropout.SitePattern) (int, error) {
	n := 0
	explicit := map[string]bool{}
	for _, sp := range ps {
		explicit[sp.Site] = true
	}
	for _, sp := range ps {
		reg, err := autodropout.NewPatternDropout(sp.Pattern, autodropout.ScopeDefault)
		if err != nil {
			return n, fmt.Errorf("site %s: %w", sp.Site, err)
		}
		if err := s.Set(sp.Site, reg); err != nil {
			return n, err
		}
		n++
		sc, ok := s.Shortcut(sp.Site)
		// An off pattern's tokens do nothing, its residual token included.
		if sp.Pattern.Off || !sp.Pattern.Residual || !ok || explicit[sc] || s.Get(sc) != nil {
			continue
		}
		if err := s.Set(sc, reg); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Apply runs the regularizer assigned to the named site on x: it returns
// x itself when the site has none, and otherwise a new tensor. x stays the
// caller's to drop. A name that was never declared panics (a bug in the
// model's forward pass).
func (s *Sites) Apply(name string, x *ts.Tensor, train bool) *ts.Tensor {
	m := s.mods[s.mustIndex(name)]
	if m == nil {
		return x
	}
	return m.ForwardT(x, train)
}

func (s *Sites) mustIndex(name string) int {
	i, ok := s.index[name]
	if !ok {
		panic(fmt.Sprintf("nn: dropout site %q was never declared", name))
	}
	return i
}

// Names lists the sites in the order the forward pass meets them.
func (s *Sites) Names() []string { return append([]string(nil), s.names...) }

// Set assigns m to the named site (nil clears it). Unknown names are an
// error that lists close matches.
func (s *Sites) Set(name string, m ts.ModuleT) error {
	i, ok := s.index[name]
	if !ok {
		return fmt.Errorf("no dropout site %q in this model (%d sites; e.g. %s)", name, len(s.names), strings.Join(s.similar(name), ", "))
	}
	s.mods[i] = m
	return nil
}

// SetAll assigns m to every site whose name matches the filter (all sites
// when filter is nil) and returns how many it set.
func (s *Sites) SetAll(m ts.ModuleT, filter func(name string) bool) int {
	n := 0
	for i, name := range s.names {
		if filter == nil || filter(name) {
			s.mods[i] = m
			n++
		}
	}
	return n
}

// Get returns the regularizer assigned to a site, or nil.
func (s *Sites) Get(name string) ts.ModuleT {
	if i, ok := s.index[name]; ok {
		return s.mods[i]
	}
	return nil
}

// apply runs the site's regularizer on x. It returns x itself when the site
// is empty; otherwise it returns a new tensor and drops x.
func (s *Sites) apply(name string, x *ts.Tensor, train bool) *ts.Tensor {
	m := s.mods[s.mustIndex(name)]
	if m == nil {
		return x
	}
	y := m.ForwardT(x, train)
	if y != x {
		x.MustDrop()
	}
	return y
}

func (s *Sites) similar(name string) []string {
	var out []string
	prefix := name
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		prefix = name[:i]
	}
	for _, n := range s.names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		out = append(out, s.names[:min(3, len(s.names))]...)
	}
	sort.Strings(out)
	return out[:min(5, len(out))]
}

// A SiteModel is a model with dropout sites. Every model of this package
// is one, and so can a model of your own be, outside this repository:
//
//	type myNet struct {
//		sites adnn.Sites // adnn "github.com/autodropout/autodropout/nn"
//		...
//	}
//
//	// while building: one site after each batch norm
//	m.sites.Declare("bn1")
//
//	// in ForwardT: the identity until a regularizer is assigned
//	d := m.sites.Apply("bn1", h, train)
//
//	func (m *myNet) Sites() *adnn.Sites { return &m.sites }
//
// Then m.Sites().SetPatterns(ps) applies a pattern file (autodropout.
// ReadPatterns) by site name, and Sites().SetAll a baseline such as
// DropBlock; examples/gotchcnn does this.
type SiteModel interface {
	ts.ModuleT
	Sites() *Sites
}
