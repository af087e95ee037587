package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/internal/atomicfile"
)

// runShow renders the masks of a pattern file: for each site, a grid of
// samples (rows) by channels (columns), the sites stacked top to bottom.
func runShow(args []string) error {
	fs := newFlagSet("show")
	out := fs.String("png", "", "output PNG file (required)")
	samples := fs.Int("samples", 4, "samples per site (rows)")
	channels := fs.Int("channels", 8, "channels per sample (columns)")
	height := fs.Int("height", 32, "feature-map height")
	width := fs.Int("width", 32, "feature-map width")
	seed := fs.Int64("seed", 1, "seed of the masks' random offsets")
	cell := fs.Int("cell", 0, "pixels per mask cell (0: automatic)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout show PATTERN.json --png OUT.png [flags]")
		fs.PrintDefaults()
	}
	// Accept the pattern file before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if file == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("need a pattern file and --png")
	}
	if *samples < 1 || *channels < 1 || *height < 1 || *width < 1 {
		return fmt.Errorf("--samples, --channels, --height and --width must be positive")
	}
	if *cell < 0 {
		return fmt.Errorf("--cell %d: want 0 (automatic) or more", *cell)
	}
	ps, err := readDrawable(file)
	if err != nil {
		return err
	}
	drawn, err := autodropout.DrawSiteMasks(ps, autodropout.MaskPicture{Samples: *samples, Channels: *channels,
		Height: *height, Width: *width, Seed: *seed, Cell: *cell})
	if err != nil {
		return err
	}
	var parts []*image.Gray
	for _, d := range drawn {
		fmt.Printf("%-28s %s  drops %.1f%%\n", d.Site, d.Pattern, 100*d.Dropped)
		parts = append(parts, d.Image)
	}
	if err := writePNG(*out, stack(parts, 6)); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d sites, %d samples × %d channels of %d×%d each\n", *out, len(ps), *samples, *channels, *height, *width)
	return nil
}

// readDrawable reads the image patterns of file, refusing a file without
// any.
func readDrawable(file string) ([]autodropout.SitePattern, error) {
	ps, err := autodropout.ReadPatterns(file)
	if _, serr := os.Stat(file); err != nil && serr == nil { // there, but not image patterns
		return nil, fmt.Errorf("%w (show draws the per-site patterns of image models)", err)
	}
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s holds no patterns: nothing to draw", file)
	}
	return ps, nil
}

// stack places images top to bottom with gap grey pixels between them.
func stack(parts []*image.Gray, gap int) *image.Gray {
	w, h := 0, 0
	for i, p := range parts {
		w = max(w, p.Bounds().Dx())
		h += p.Bounds().Dy()
		if i > 0 {
			h += gap
		}
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), &image.Uniform{color.Gray{Y: 200}}, image.Point{}, draw.Src)
	y := 0
	for _, p := range parts {
		r := image.Rect(0, y, p.Bounds().Dx(), y+p.Bounds().Dy())
		draw.Draw(out, r, p, p.Bounds().Min, draw.Src)
		y += p.Bounds().Dy() + gap
	}
	return out
}

// writePNG writes img atomically where path says, creating its folder.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes())
}
