package report

// The report's pattern sections: each search's best pattern file with its
// masks, and how the reward follows the share of the maps dropped.

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/autodropout/autodropout/autodropout"
)

func (r *Report) patternSection(b *strings.Builder, masks map[*Search]*maskFigure, opt Options) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Best patterns\n\n")
	pictures := false
	for _, mf := range masks {
		pictures = pictures || mf.Figure != ""
	}
	if pictures {
		p("Mask pictures draw each site's pattern with `Pattern.Mask` on a %d×%d×%d×%d activation (one sample, %d channels of %d×%d; the model's own map sizes are not in the pattern file), libtorch seeded with %d: one row per site, one tile per channel (a single tile when the pattern shares its mask across channels), white kept, black dropped. The dropped share is over the drawn cells.\n\n",
			1, opt.Channels, opt.MapH, opt.MapW, opt.Channels, opt.MapH, opt.MapW, opt.Seed)
	}
	for _, s := range r.Searches {
		p("### `%s`\n\n", s.Name)
		mf := masks[s]
		if mf == nil {
			p("No `top/` pattern files (a search writes them when it ends).\n\n")
			continue
		}
		rel := relName(r.Dir, mf.Top.Path)
		p("Best pattern file `%s`: reward %s", rel, f4(mf.Top.Reward))
		if t, ok := s.Best(); ok {
			p(" (the journal's best is trial %d with %s)", t.ID, f4(t.Reward))
		}
		p(".\n\n")
		if mf.Figure != "" {
			p("![Masks of %s](%s)\n\n", rel, mf.Figure)
			p("| site | pattern | dropped |\n|---|---|---:|\n")
			for _, sm := range mf.Sites {
				p("| `%s` | %s | %s |\n", sm.Site, sm.Pattern, pct(sm.Dropped))
			}
			p("\n")
		} else if len(mf.Top.TPatterns) > 0 && s.SegmentLen > 0 {
			tokenTable(b, mf.Top.TPatterns, s.SegmentLen)
		} else {
			p("Not a ConvNet pattern file (no mask picture); its patterns:\n\n```json\n%s\n```\n\n", strings.TrimSpace(mf.Top.Text))
		}
		if len(s.Top) > 1 {
			var ls []string
			for _, t := range s.Top[1:] {
				ls = append(ls, fmt.Sprintf("`%s` (%s)", filepath.Base(t.Path), f4(t.Reward)))
			}
			p("Other top files: %s.\n\n", strings.Join(ls, ", "))
		}
	}
}

// tokenTable describes a Transformer pattern list at segment length T:
// per entry, the share of the tokens it selects and the variance of the
// multiplicative noise it puts on a token, Dropout's measure of strength.
func tokenTable(b *strings.Builder, ps []autodropout.TransformerSitePattern, T int) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("A Transformer pattern list, read at the search's segment length of %d tokens. Selected: the share of a segment's tokens the pattern selects (drops, or multiplies by 1+σε). Noise variance: the variance of the factor a token is multiplied by, which Dropout at rate p has as p/(1−p) (0.11 at 0.1, 0.25 at 0.2, 0.43 at 0.3); ∞ when every token is dropped. Sites the list does not name get no noise.\n\n", T)
	p("| sites | pattern | selected | noise variance |\n|---|---|---:|---:|\n")
	for _, sp := range ps {
		v := sp.Pattern.NoiseVariance(T)
		vs := fmt.Sprintf("%.2f", v)
		if math.IsInf(v, 1) {
			vs = "∞"
		}
		p("| `%s` | %s | %s | %s |\n", sp.Sites, sp.Pattern, pct(sp.Pattern.SelectedShare(T)), vs)
	}
	p("\n")
}

// droppedPairs returns the dropped share and reward of s's finished
// trials that have both.
func (s *Search) droppedPairs() (dropped, reward []float64) {
	for _, t := range s.Trials {
		if t.Status == Finished && !math.IsNaN(t.Dropped) {
			dropped = append(dropped, t.Dropped)
			reward = append(reward, t.Reward)
		}
	}
	return dropped, reward
}

// droppedSection relates each search's rewards to how much of the maps
// its patterns drop: a strong rank correlation says the reward mostly
// follows that one number, whatever the pattern's shape.
func (r *Report) droppedSection(b *strings.Builder, has map[string]bool) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var rows []string
	for _, s := range r.Searches {
		d, w := s.droppedPairs()
		if len(d) < 3 {
			continue
		}
		best, _ := s.Best()
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %d | %s | %s | %s | %s |\n", s.Name, orDash(s.Method), len(d),
			fmtOr("%+.2f", Spearman(d, w)), pct(median(d)), pct(best.Dropped), f4(best.Reward)))
	}
	if len(rows) == 0 {
		return
	}
	p("## What the reward follows: the share dropped\n\n")
	if has["dropped.png"] {
		p("![Reward against the mean share dropped, per finished trial](dropped.png)\n\n")
		p("One point per finished trial, in its search family's colour (filled: RL, open rings: random search).\n\n")
	}
	p("A trial's dropped share is the mean, over its sites, of the share of the site's activation map its pattern drops, at the map sizes of the search's model and data (every placement of a pattern drops the same number of cells)%s. ρ is Spearman's rank correlation between that share and the reward over the finished trials: near −1, the reward mostly says how much a pattern drops, whatever its shape.\n\n", lmDroppedNote(r.Searches))
	p("| search | method | finished trials | ρ (dropped share, reward) | dropped share, median | dropped share of the best trial | best reward |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		p("%s", row)
	}
	p("\n")
}

// lmDroppedNote says what the dropped share is for language-model
// searches, when there are any.
func lmDroppedNote(ss []*Search) string {
	if !hasTokenShares(ss) {
		return ""
	}
	return "; for a language model, the mean over its pattern list's entries of the share of a segment's tokens the entry drops (Gaussian-noise entries drop none)"
}

// hasTokenShares reports whether a search of ss is a language model's
// whose trials have token shares (its segment length is known).
func hasTokenShares(ss []*Search) bool {
	return slices.ContainsFunc(ss, func(s *Search) bool { return s.SegmentLen > 0 })
}
