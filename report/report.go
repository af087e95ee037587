package report

import (
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Options control Write.
type Options struct {
	// Out is the Markdown file to write (default: DIR/report.md). The
	// figures go in the same folder.
	Out string
	// Mask pictures show each site's pattern on a 1×Channels×MapH×MapW
	// activation (default 1×8×32×32: CIFAR-sized maps, enough channels to
	// see per-channel offsets) with libtorch seeded by Seed (default 1).
	Channels, MapH, MapW int
	Seed                 int64
}

func (o Options) withDefaults(dir string) Options {
	if o.Out == "" {
		o.Out = filepath.Join(dir, "report.md")
	}
	if o.Channels <= 0 {
		o.Channels = 8
	}
	if o.MapH <= 0 {
		o.MapH = 32
	}
	if o.MapW <= 0 {
		o.MapW = 32
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Write loads dir (see Load) and writes its report: the Markdown file and
// its PNG figures. It returns the Markdown file's path.
func Write(dir string, opt Options) (string, error) {
	r, err := Load(dir)
	if err != nil {
		return "", err
	}
	return r.Write(opt)
}

// Figure is a PNG the report links to.
type Figure struct {
	Name string // file name, next to the Markdown file
	PNG  []byte
}

// Write writes the report of r and its figures (see the package Write).
func (r *Report) Write(opt Options) (string, error) {
	opt = opt.withDefaults(r.Dir)
	figs, masks, err := r.figures(opt)
	if err != nil {
		return "", err
	}
	outDir := filepath.Dir(opt.Out)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	for _, f := range figs {
		if err := atomicfile.Write(filepath.Join(outDir, f.Name), f.PNG); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
	}
	var b strings.Builder
	r.markdown(&b, figs, masks, opt)
	if err := atomicfile.Write(opt.Out, []byte(b.String())); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return opt.Out, nil
}

// maskFigure is the mask picture of one search's best pattern file.
type maskFigure struct {
	Figure string // "" when the file is not a ConvNet pattern file
	Top    TopFile
	Sites  []SiteMask
}

func (r *Report) figures(opt Options) ([]Figure, map[*Search]*maskFigure, error) {
	var figs []Figure
	if b, err := rewardsPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: rewards figure: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"rewards.png", b})
	}
	if b, err := costPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: cost figure: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"cost.png", b})
	}
	if b, err := curvesPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: learning curves: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"curves.png", b})
	}
	if b, err := droppedPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: dropped-share figure: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"dropped.png", b})
	}
	if b, err := controllerPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: controller figure: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"controller.png", b})
	}
	if b, err := comparisonPNG(r); err != nil {
		return nil, nil, fmt.Errorf("report: comparison figure: %w", err)
	} else if b != nil {
		figs = append(figs, Figure{"comparison.png", b})
	}
	masks := map[*Search]*maskFigure{}
	used := map[string]bool{}
	for _, s := range r.Searches {
		if len(s.Top) == 0 {
			continue
		}
		mf := &maskFigure{Top: s.Top[0]}
		masks[s] = mf
		if mf.Top.Patterns == nil {
			continue
		}
		name := "masks-" + slug(s.Name) + ".png"
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("masks-%s-%d.png", slug(s.Name), i)
		}
		used[name] = true
		b, sites, err := masksPNG(mf.Top.Patterns, opt.Channels, opt.MapH, opt.MapW, opt.Seed)
		if err != nil {
			return nil, nil, fmt.Errorf("report: masks of %s: %w", mf.Top.Path, err)
		}
		mf.Figure, mf.Sites = name, sites
		figs = append(figs, Figure{name, b})
	}
	return figs, masks, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func slug(s string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(s, "-"), "-.")
	if s == "" {
		return "search"
	}
	return s
}
