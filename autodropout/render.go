package autodropout

import (
	"bytes"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// RenderOptions control RenderMasks' picture.
type RenderOptions struct {
	// Cell is the side in pixels of one mask cell; 0 picks the smallest
	// that draws a map at least 48 pixels across.
	Cell int
	// MaxSamples and MaxChannels cap the rows and columns of the grid
	// (0: 8 and 16).
	MaxSamples, MaxChannels int
}

// Colours of a rendered mask: kept cells white, dropped cells black, the
// gaps between maps grey.
var (
	keptColour    = color.Gray{Y: 255}
	droppedColour = color.Gray{Y: 0}
	gapColour     = color.Gray{Y: 128}
)

const renderGap = 2 // pixels between maps

// RenderMasks draws a mask as a PNG at path: one row per sample, one
// column per channel, each map drawn with kept cells (non-zero values)
// white and dropped cells black. mask may be N×C×H×W, C×H×W or H×W, on
// any device; at most 8 samples and 16 channels are drawn. The file is
// written atomically.
func RenderMasks(mask *ts.Tensor, path string) error {
	var buf bytes.Buffer
	if err := WriteMasksPNG(&buf, mask, RenderOptions{}); err != nil {
		return fmt.Errorf("render masks %s: %w", path, err)
	}
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("render masks: %w", err)
	}
	return nil
}

// WriteMasksPNG encodes the picture RenderMasks draws to w.
func WriteMasksPNG(w io.Writer, mask *ts.Tensor, opt RenderOptions) error {
	img, err := MasksImage(mask, opt)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// MasksImage returns the picture RenderMasks draws.
func MasksImage(mask *ts.Tensor, opt RenderOptions) (*image.Gray, error) {
	size, err := mask.Size()
	if err != nil {
		return nil, err
	}
	shape := append([]int64(nil), size...)
	for len(shape) < 4 {
		shape = append([]int64{1}, shape...)
	}
	if len(shape) != 4 {
		return nil, fmt.Errorf("mask of shape %v: want N×C×H×W, C×H×W or H×W", size)
	}
	if opt.MaxSamples <= 0 {
		opt.MaxSamples = 8
	}
	if opt.MaxChannels <= 0 {
		opt.MaxChannels = 16
	}
	n, c, h, w := min(shape[0], int64(opt.MaxSamples)), min(shape[1], int64(opt.MaxChannels)), shape[2], shape[3]
	if n < 1 || c < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("mask of shape %v is empty", size)
	}
	cell := opt.Cell
	if cell <= 0 {
		cell = max(1, int((48+max(h, w)-1)/max(h, w)))
	}
	// Read back only the drawn part, as float64 on the CPU.
	var s scope
	t := s.do(func() (*ts.Tensor, error) { return mask.Reshape(shape, false) })
	t = s.do(func() (*ts.Tensor, error) { return t.Narrow(0, 0, n, false) })
	t = s.do(func() (*ts.Tensor, error) { return t.Narrow(1, 0, c, false) })
	t = s.do(func() (*ts.Tensor, error) { return t.To(gotch.CPU, false) })
	t = s.do(func() (*ts.Tensor, error) { return t.Totype(gotch.Double, false) })
	t = s.do(func() (*ts.Tensor, error) { return t.Contiguous(false) })
	if s.err != nil {
		s.release()
		return nil, fmt.Errorf("read mask: %w", s.err)
	}
	vals := make([]float64, n*c*h*w)
	err = t.CopyData(vals, uint(len(vals)))
	s.release()
	if err != nil {
		return nil, fmt.Errorf("read mask: %w", err)
	}

	mh, mw := int(h)*cell, int(w)*cell
	img := image.NewGray(image.Rect(0, 0, int(c)*(mw+renderGap)+renderGap, int(n)*(mh+renderGap)+renderGap))
	for i := range img.Pix {
		img.Pix[i] = gapColour.Y
	}
	for si := 0; si < int(n); si++ {
		for ci := 0; ci < int(c); ci++ {
			x0, y0 := renderGap+ci*(mw+renderGap), renderGap+si*(mh+renderGap)
			base := (si*int(c) + ci) * int(h*w)
			for y := 0; y < int(h); y++ {
				for x := 0; x < int(w); x++ {
					col := droppedColour
					if vals[base+y*int(w)+x] != 0 {
						col = keptColour
					}
					for dy := 0; dy < cell; dy++ {
						row := img.Pix[(y0+y*cell+dy)*img.Stride:]
						for dx := 0; dx < cell; dx++ {
							row[x0+x*cell+dx] = col.Y
						}
					}
				}
			}
		}
	}
	return img, nil
}

// MaskPicture says what DrawSiteMasks draws: every site's masks for a
// Samples×Channels×Height×Width activation, drawn after seeding
// libtorch's generator with Seed, so that the same patterns and seed
// always give the same picture.
type MaskPicture struct {
	Samples, Channels, Height, Width int
	Seed                             int64
	Cell                             int // pixels per mask cell; 0: RenderOptions' default
}

// SiteMasks is one site's part of a MaskPicture.
type SiteMasks struct {
	Site    string
	Pattern Pattern
	Dropped float64     // share of the drawn mask's cells that are dropped
	Image   *image.Gray // samples (rows) by channels (columns), as MasksImage draws them
}

// DrawSiteMasks seeds libtorch's generator with pic.Seed, then draws the
// masks of each site's pattern in turn on the CPU (the draws follow one
// another from that seed). It is the one path from a seed to a mask
// picture that the command's show, the report and the dashboard share.
func DrawSiteMasks(ps []SitePattern, pic MaskPicture) ([]SiteMasks, error) {
	if pic.Samples < 1 || pic.Channels < 1 || pic.Height < 1 || pic.Width < 1 {
		return nil, fmt.Errorf("mask picture of %d samples × %d channels of %d×%d: every dimension must be positive",
			pic.Samples, pic.Channels, pic.Height, pic.Width)
	}
	if err := libtorch.ManualSeed(pic.Seed); err != nil {
		return nil, err
	}
	out := make([]SiteMasks, 0, len(ps))
	for _, sp := range ps {
		m, err := sp.Pattern.Mask(int64(pic.Samples), int64(pic.Channels), int64(pic.Height), int64(pic.Width), gotch.CPU)
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", sp.Site, err)
		}
		sm := SiteMasks{Site: sp.Site, Pattern: sp.Pattern}
		sm.Dropped, err = droppedShare(m)
		if err == nil {
			sm.Image, err = MasksImage(m, RenderOptions{Cell: pic.Cell, MaxSamples: pic.Samples, MaxChannels: pic.Channels})
		}
		m.MustDrop()
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", sp.Site, err)
		}
		out = append(out, sm)
	}
	return out, nil
}

// droppedShare is the share of zeros in a keep-mask.
func droppedShare(m *ts.Tensor) (float64, error) {
	t, err := m.Totype(gotch.Double, false)
	if err != nil {
		return 0, fmt.Errorf("read mask: %w", err)
	}
	d, err := t.Contiguous(true)
	if err != nil {
		return 0, fmt.Errorf("read mask: %w", err)
	}
	defer d.MustDrop()
	n := d.Numel()
	vals := make([]float64, n)
	if err := d.CopyData(vals, n); err != nil {
		return 0, fmt.Errorf("read mask: %w", err)
	}
	zeros := 0
	for _, v := range vals {
		if v == 0 {
			zeros++
		}
	}
	return float64(zeros) / float64(max(n, 1)), nil
}
