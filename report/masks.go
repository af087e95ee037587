package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/autodropout/autodropout/autodropout"
)

// SiteMask is what the mask picture shows of one site.
type SiteMask struct {
	Site    string
	Pattern autodropout.Pattern
	Dropped float64 // fraction of the drawn cells dropped
}

// masksPNG draws, for each site, the masks of its pattern for a
// 1×channels×h×w activation (one sample), channels side by side, with the
// site's name and dropped fraction on the left. The masks are
// autodropout.DrawSiteMasks', drawn from seed, so the picture is
// reproducible.
func masksPNG(ps []autodropout.SitePattern, channels, h, w int, seed int64) ([]byte, []SiteMask, error) {
	drawn, err := autodropout.DrawSiteMasks(ps, autodropout.MaskPicture{Samples: 1, Channels: channels, Height: h, Width: w, Seed: seed})
	if err != nil {
		return nil, nil, err
	}
	face := basicfont.Face7x13
	const lineH, pad = 13, 6
	var tiles []*image.Gray
	var info []SiteMask
	labelW := 0
	for _, d := range drawn {
		tiles = append(tiles, d.Image)
		info = append(info, SiteMask{Site: d.Site, Pattern: d.Pattern, Dropped: d.Dropped})
		labelW = max(labelW, utf8.RuneCountInString(d.Site), len("drops 100.0%"))
	}
	labelW = labelW*face.Advance + 2*pad
	W, H := labelW, 0
	rowH := make([]int, len(tiles))
	for i, t := range tiles {
		rowH[i] = max(t.Bounds().Dy(), 2*lineH+2*pad)
		W = max(W, labelW+t.Bounds().Dx())
		H += rowH[i] + pad
	}
	img := image.NewGray(image.Rect(0, 0, W+pad, H+pad))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	y := pad
	for i, t := range tiles {
		draw.Draw(img, image.Rect(labelW, y, labelW+t.Bounds().Dx(), y+t.Bounds().Dy()), t, t.Bounds().Min, draw.Src)
		d := font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
		d.Dot = fixed.P(pad, y+lineH)
		d.DrawString(info[i].Site)
		d.Dot = fixed.P(pad, y+2*lineH+2)
		d.DrawString(fmt.Sprintf("drops %.1f%%", 100*info[i].Dropped))
		y += rowH[i] + pad
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, nil, fmt.Errorf("encode masks: %w", err)
	}
	return buf.Bytes(), info, nil
}
