package nn

import (
	"fmt"
	"regexp"

	"github.com/autodropout/autodropout/autodropout"
)

// XLDropoutSites lists, as regular expressions over a TransformerXL's site
// names, where the reference implementation (mem_transformer.py) applies
// its `dropout` rate: the word and position embeddings, the attention
// output after its projection, inside and after the feed-forward
// sublayer, and the last layer's output. Its `dropatt` rate goes on the
// attention probabilities (XLDropAttSites). Queries, keys and values get
// no dropout in the reference, and none here.
var (
	XLDropoutSites = regexp.MustCompile(`^emb$|^pos_emb$|\.attn\.attn_out$|\.ff\.hidden$|\.ff\.out$|^out$`)
	XLDropAttSites = regexp.MustCompile(`\.attn\.prob$`)
)

// SetLMRegularizer assigns a language model's regularizers by name:
//   - "none": nothing;
//   - "dropout": the reference's placement, Dropout(c.Dropout) at
//     XLDropoutSites and Dropout(c.DropAtt) at XLDropAttSites;
//   - "variational": the same sites, with one mask per sequence and
//     feature shared along time (VariationalDropout) where the activation
//     is a sequence; the position embedding and the attention
//     probabilities keep plain dropout;
//   - "pattern": the Transformer patterns of patternFile
//     (autodropout.ReadTransformerPatterns), each at the sites its
//     expression matches.
func SetLMRegularizer(s *Sites, reg, patternFile string, c TransformerXLConfig) error {
	switch reg {
	case "none":
		return nil
	case "dropout", "variational":
		d, err := autodropout.NewDropout(c.Dropout)
		if err != nil {
			return fmt.Errorf("dropout: %w", err)
		}
		s.SetAll(d, XLDropoutSites.MatchString)
		if reg == "variational" {
			v, err := autodropout.NewVariationalDropout(c.Dropout)
			if err != nil {
				return fmt.Errorf("variational: %w", err)
			}
			s.SetAll(v, func(n string) bool { return XLDropoutSites.MatchString(n) && n != "pos_emb" })
		}
		if c.DropAtt > 0 {
			da, err := autodropout.NewDropout(c.DropAtt)
			if err != nil {
				return fmt.Errorf("dropatt: %w", err)
			}
			s.SetAll(da, XLDropAttSites.MatchString)
		}
		return nil
	case "pattern":
		ps, err := autodropout.ReadTransformerPatterns(patternFile)
		if err != nil {
			return err
		}
		return SetLMPatterns(s, ps, "pattern file "+patternFile)
	}
	return fmt.Errorf("regularizer %q: want none, dropout, variational or pattern", reg)
}

// SetLMPatterns puts each of the Transformer patterns ps at the sites its
// expression matches; source names ps in errors (e.g. "pattern file F").
// An expression that matches no site is an error.
func SetLMPatterns(s *Sites, ps []autodropout.TransformerSitePattern, source string) error {
	for i, p := range ps {
		re, err := regexp.Compile(p.Sites)
		if err != nil {
			return fmt.Errorf("%s entry %d: sites %q: %w", source, i, p.Sites, err)
		}
		d, err := autodropout.NewTransformerDropout(p.Pattern)
		if err != nil {
			return fmt.Errorf("%s entry %d: %w", source, i, err)
		}
		if s.SetAll(d, re.MatchString) == 0 {
			return fmt.Errorf("%s entry %d: sites %q match no site", source, i, p.Sites)
		}
	}
	return nil
}
