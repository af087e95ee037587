package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch/ts"
)

// Sites are the named places of a model where a regularizer (a dropout
// pattern or a baseline such as DropBlock) can be applied: the outputs of
// batch-norm layers and, for residual networks, the residual branches. A
// model declares its sites when it is built; callers assign regularizers by
// name. An unassigned site is the identity.
type Sites struct {
	names []string
	index map[string]int
	mods  []ts.ModuleT
}

// declare adds a site; models call it while they are built.
func (s *Sites) declare(name string) string {
	if s.index == nil {
		s.index = map[string]int{}
	}
	if _, dup := s.index[name]; dup {
		panic(fmt.Sprintf("nn: dropout site %q declared twice", name)) // a bug in the model
	}
	s.index[name] = len(s.names)
	s.names = append(s.names, name)
	s.mods = append(s.mods, nil)
	return name
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
	m := s.mods[s.index[name]]
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

// A SiteModel is a model with dropout sites.
type SiteModel interface {
	ts.ModuleT
	Sites() *Sites
}
