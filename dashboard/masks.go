package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"sync"

	"github.com/sugarme/gotch"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
)

// convNetPatterns decodes a ConvNet pattern file ({"patterns": [{"site",
// "pattern"}]}) and checks every pattern. ok is false for any other pattern
// file (a Transformer search's list), which the page shows as text.
func convNetPatterns(b []byte) (ps []autodropout.SitePattern, ok bool) {
	var f struct {
		Patterns []autodropout.SitePattern `json:"patterns"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if d.Decode(&f) != nil || len(f.Patterns) == 0 {
		return nil, false
	}
	for _, sp := range f.Patterns {
		if sp.Site == "" || sp.Pattern.Check() != nil {
			return nil, false
		}
	}
	return f.Patterns, true
}

// maskRenderer draws mask pictures with the package autodropout renderer
// and keeps them: a picture depends only on the pattern, the map shape and
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
	if err := libtorch.ManualSeed(r.seed); err != nil {
		return nil, err
	}
	m, err := p.Mask(1, int64(r.channels), int64(h), int64(w), gotch.CPU)
	if err != nil {
		return nil, err
	}
	defer m.MustDrop()
	img, err := autodropout.MasksImage(m, autodropout.RenderOptions{MaxSamples: 1, MaxChannels: r.channels})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
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
