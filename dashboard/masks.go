package dashboard

import (
	"bytes"
	"fmt"
	"image/png"
	"sync"

	"github.com/autodropout/autodropout/autodropout"
)

// convNetPatterns reads a ConvNet pattern file ({"patterns": [{"site",
// "pattern"}]}) as autodropout.ParsePatterns does, with its checks (every
// pattern well formed, no site twice). ok is false for any other pattern
// file (a Transformer search's list) and for one without patterns, which
// the page shows as text.
func convNetPatterns(b []byte) (ps []autodropout.SitePattern, ok bool) {
	ps, err := autodropout.ParsePatterns(b)
	return ps, err == nil && len(ps) > 0
}

// maskRenderer draws mask pictures with autodropout.DrawSiteMasks and
// keeps them: a picture depends only on the pattern, the map shape and
// the seed, and libtorch's generator is global, so drawing is serialised.
type maskRenderer struct {
	mu       sync.Mutex
	cache    map[maskKey][]byte
	channels int
	seed     int64
}

type maskKey struct {
	pattern autodropout.Pattern
	h, w    int
}

// maxMaskCache bounds the cache; past it, the cache starts over.
const maxMaskCache = 512

// png returns the PNG of p's masks over a 1×channels×h×w activation, one
// tile per channel, drawn after seeding libtorch with the renderer's seed
// so that the same pattern always gives the same picture.
func (r *maskRenderer) png(p autodropout.Pattern, h, w int) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := maskKey{p, h, w}
	if b, ok := r.cache[k]; ok {
		return b, nil
	}
	drawn, err := autodropout.DrawSiteMasks([]autodropout.SitePattern{{Pattern: p}},
		autodropout.MaskPicture{Samples: 1, Channels: r.channels, Height: h, Width: w, Seed: r.seed})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawn[0].Image); err != nil {
		return nil, fmt.Errorf("encode masks: %w", err)
	}
	if r.cache == nil || len(r.cache) >= maxMaskCache {
		r.cache = map[maskKey][]byte{}
	}
	r.cache[k] = buf.Bytes()
	return buf.Bytes(), nil
}

// mapSize is the activation side the masks are drawn at for a dataset:
// the input's, which the first sites of a model see.
func mapSize(data string, def int) int {
	switch data {
	case "mnist", "fashion-mnist":
		return 28
	case "cifar10", "cifar100":
		return 32
	}
	return def
}
