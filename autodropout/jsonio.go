package autodropout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/internal/strictjson"
)

// SitePattern is a pattern assigned to a named dropout site of a model
// (e.g. "block1.layer.0.bn2"; see the nn package's Sites).
type SitePattern struct {
	Site    string  `json:"site"`
	Pattern Pattern `json:"pattern"`
}

// patternFile is the JSON layout of ReadPatterns and WritePatterns:
//
//	{"patterns": [{"site": "bn1", "pattern": {"size": 3, "stride": 1, ...}}, ...]}
//
// An ordered list rather than an object keyed by site keeps the order the
// forward pass meets the sites and gives stable diffs.
type patternFile struct {
	Patterns []SitePattern `json:"patterns"`
}

// ReadPatterns reads a set of site patterns written by WritePatterns.
// Malformed JSON, unknown or mistyped fields, empty or duplicate site
// names and ill-formed patterns (Pattern.Check) are errors that name the
// file, the entry and the field. To also require every pattern to come
// from a search space, use SearchSpace.ReadPatterns.
func ReadPatterns(path string) ([]SitePattern, error) {
	return readPatterns(path, nil)
}

// ReadPatterns reads a set of site patterns (see the package function
// ReadPatterns) and validates every pattern against s.
func (s *SearchSpace) ReadPatterns(path string) ([]SitePattern, error) {
	return readPatterns(path, s)
}

func readPatterns(path string, space *SearchSpace) ([]SitePattern, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read patterns: %w", err)
	}
	ps, err := parsePatterns(data, space)
	if err != nil {
		return nil, fmt.Errorf("read patterns %s: %w", path, err)
	}
	return ps, nil
}

// ParsePatterns decodes the contents of a pattern file (see ReadPatterns),
// such as the one a search journals with each proposal.
func ParsePatterns(data []byte) ([]SitePattern, error) {
	return parsePatterns(data, nil)
}

// ParsePatterns decodes the contents of a pattern file and validates
// every pattern against s (see SearchSpace.ReadPatterns).
func (s *SearchSpace) ParsePatterns(data []byte) ([]SitePattern, error) {
	return parsePatterns(data, s)
}

func parsePatterns(data []byte, space *SearchSpace) ([]SitePattern, error) {
	var f patternFile
	if err := strictjson.Decode(data, &f); err != nil {
		return nil, err
	}
	if f.Patterns == nil {
		return nil, errors.New("no \"patterns\" list")
	}
	if err := checkSites(f.Patterns, space); err != nil {
		return nil, err
	}
	return f.Patterns, nil
}

func checkSites(ps []SitePattern, space *SearchSpace) error {
	seen := map[string]int{}
	for i, sp := range ps {
		where := fmt.Sprintf("patterns[%d]", i)
		if sp.Site == "" {
			return fmt.Errorf("%s: empty site name", where)
		}
		where += fmt.Sprintf(" (site %q)", sp.Site)
		if j, dup := seen[sp.Site]; dup {
			return fmt.Errorf("%s: site also given in patterns[%d]", where, j)
		}
		seen[sp.Site] = i
		var err error
		if space != nil {
			err = space.Validate(sp.Pattern)
		} else {
			err = sp.Pattern.Check()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

// WritePatterns writes site patterns as JSON (see ReadPatterns), after the
// same checks. It writes a temporary file in the same folder and renames
// it, so an existing file is never left half written.
func WritePatterns(path string, ps []SitePattern) error {
	data, err := EncodePatterns(ps)
	if err != nil {
		return fmt.Errorf("write patterns %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data); err != nil {
		return fmt.Errorf("write patterns: %w", err)
	}
	return nil
}

// EncodePatterns returns the contents WritePatterns writes.
func EncodePatterns(ps []SitePattern) ([]byte, error) {
	if err := checkSites(ps, nil); err != nil {
		return nil, err
	}
	if ps == nil {
		ps = []SitePattern{}
	}
	data, err := json.MarshalIndent(patternFile{Patterns: ps}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// PatternMap returns the patterns keyed by site.
func PatternMap(ps []SitePattern) map[string]Pattern {
	m := make(map[string]Pattern, len(ps))
	for _, sp := range ps {
		m[sp.Site] = sp.Pattern
	}
	return m
}

// LoadSearchSpace reads a search space from JSON (see SearchSpace). Lists
// the file leaves out keep their defaults (DefaultSearchSpace); lists it
// gives replace them. The space must pass Check; errors name the file and
// the field.
func LoadSearchSpace(path string) (*SearchSpace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load search space: %w", err)
	}
	s := DefaultSearchSpace()
	if err := strictjson.Decode(data, s); err != nil {
		return nil, fmt.Errorf("load search space %s: %w", path, err)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("load search space %s: %w", path, err)
	}
	return s, nil
}

// Save writes the space as JSON, atomically (see WritePatterns).
func (s *SearchSpace) Save(path string) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("save search space %s: %w", path, err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save search space %s: %w", path, err)
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return fmt.Errorf("save search space: %w", err)
	}
	return nil
}
