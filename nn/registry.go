package nn

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	gnn "github.com/sugarme/gotch/nn"
)

// Input is the shape of one input image.
type Input struct{ C, H, W int64 }

// A constructor builds a model for an input shape and a class count.
type constructor func(p *gnn.Path, in Input, classes int64) (SiteModel, error)

// families match model names to constructors; each entry's pattern is
// anchored and its example is shown in errors.
var families = []struct {
	pattern *regexp.Regexp
	example string
	build   func(m []string) constructor
}{
	{regexp.MustCompile(`^convnet$`), "convnet", func([]string) constructor {
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			if in.H%4 != 0 || in.W%4 != 0 {
				return nil, fmt.Errorf("convnet needs image sides divisible by 4, got %d×%d", in.H, in.W)
			}
			return NewConvNet(p, in.C, in.H, in.W, classes), nil
		}
	}},
	{regexp.MustCompile(`^wrn-(\d+)-(\d+)$`), "wrn-28-10", func(m []string) constructor {
		d, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			return NewWRN(p, d, k, in.C, classes)
		}
	}},
	{regexp.MustCompile(`^resnet-?(\d+)$`), "resnet50", func(m []string) constructor {
		d, _ := strconv.Atoi(m[1])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			cfg, err := ResNetDepth(d, classes)
			if err != nil {
				return nil, err
			}
			cfg.InChannels = in.C
			return NewResNet(p, cfg)
		}
	}},
	{regexp.MustCompile(`^efficientnet[-_]?b(\d)$`), "efficientnet-b0", func(m []string) constructor {
		n, _ := strconv.Atoi(m[1])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			if in.C != 3 {
				return nil, fmt.Errorf("efficientnet takes 3-channel images, got %d channels", in.C)
			}
			return NewEfficientNetB(p, n, classes)
		}
	}},
}

// New builds the named model: "convnet", "wrn-D-K" (e.g. wrn-28-10),
// and the others listed by Models.
func New(name string, p *gnn.Path, in Input, classes int64) (SiteModel, error) {
	key := strings.ToLower(name)
	for _, f := range families {
		if m := f.pattern.FindStringSubmatch(key); m != nil {
			return f.build(m)(p, in, classes)
		}
	}
	return nil, fmt.Errorf("unknown model %q: want one of %s", name, strings.Join(Models(), ", "))
}

// Models lists an example name of every model family.
func Models() []string {
	var out []string
	for _, f := range families {
		out = append(out, f.example)
	}
	sort.Strings(out)
	return out
}
