package search

import (
	"encoding/json"
	"fmt"

	"github.com/autodropout/autodropout/autodropout"
)

// A Space is a search space as the controller sees it: the decisions that
// make one site's pattern, and how a choice for every site becomes the
// pattern file a trial trains with (the file `autodropout train --pattern`
// reads). The search itself never looks inside a pattern, so ConvNet and
// Transformer searches share the controller, the journal and the executors.
type Space interface {
	// Tokens lists one site's decisions, in the order they are made.
	Tokens() []autodropout.Token
	// PatternFile encodes choices[i] (indexes into Tokens) for sites[i].
	PatternFile(sites []string, choices [][]int) (json.RawMessage, error)
}

// ConvNetSpace searches one ConvNet pattern per site (a batch-norm output
// of the model); its pattern files are autodropout.WritePatterns files.
type ConvNetSpace struct{ *autodropout.SearchSpace }

// PatternFile implements Space.
func (s ConvNetSpace) PatternFile(sites []string, choices [][]int) (json.RawMessage, error) {
	if err := sameLen(sites, choices); err != nil {
		return nil, err
	}
	ps := make([]autodropout.SitePattern, len(sites))
	for i, site := range sites {
		p, err := s.Pattern(choices[i])
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", site, err)
		}
		ps[i] = autodropout.SitePattern{Site: site, Pattern: p}
	}
	return autodropout.EncodePatterns(ps)
}

// TransformerSpace searches one Transformer pattern per site, where a site
// is a regular expression over the model's site names (one sublayer kind
// across all layers, e.g. `\.ff\.hidden$`); its pattern files are
// autodropout.WriteTransformerPatterns files.
type TransformerSpace struct{ autodropout.TransformerSpace }

// PatternFile implements Space.
func (s TransformerSpace) PatternFile(sites []string, choices [][]int) (json.RawMessage, error) {
	if err := sameLen(sites, choices); err != nil {
		return nil, err
	}
	ps := make([]autodropout.TransformerSitePattern, len(sites))
	for i, site := range sites {
		p, err := s.Pattern(choices[i])
		if err != nil {
			return nil, fmt.Errorf("sites %s: %w", site, err)
		}
		ps[i] = autodropout.TransformerSitePattern{Sites: site, Pattern: p}
	}
	b, err := json.MarshalIndent(ps, "", "  ")
	return append(b, '\n'), err
}

func sameLen(sites []string, choices [][]int) error {
	if len(choices) != len(sites) {
		return fmt.Errorf("patterns: %d choice lists for %d sites", len(choices), len(sites))
	}
	return nil
}
