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
	// macs counts one forward pass of one example (see ForwardMACs).
	macs func(m []string, in Input, classes int64) (int64, error)
}{
	{regexp.MustCompile(`^convnet$`), "convnet", func([]string) constructor {
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			if err := checkConvNetInput(in); err != nil {
				return nil, err
			}
			return NewConvNet(p, in.C, in.H, in.W, classes), nil
		}
	}, func(_ []string, in Input, classes int64) (int64, error) { return convNetMACs(in, classes) }},
	{regexp.MustCompile(`^wrn-(\d+)-(\d+)$`), "wrn-28-10", func(m []string) constructor {
		d, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			return NewWRN(p, d, k, in.C, classes)
		}
	}, func(m []string, in Input, classes int64) (int64, error) {
		d, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		return wrnMACs(d, k, in, classes)
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
	}, func(m []string, in Input, classes int64) (int64, error) {
		d, _ := strconv.Atoi(m[1])
		cfg, err := ResNetDepth(d, classes)
		if err != nil {
			return 0, err
		}
		cfg.InChannels = in.C
		return resNetMACs(cfg, in), nil
	}},
	{regexp.MustCompile(`^efficientnet[-_]?b(\d)$`), "efficientnet-b0", func(m []string) constructor {
		n, _ := strconv.Atoi(m[1])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			if err := checkEfficientNetInput(in); err != nil {
				return nil, err
			}
			return NewEfficientNetB(p, n, classes)
		}
	}, func(m []string, in Input, classes int64) (int64, error) {
		n, _ := strconv.Atoi(m[1])
		cfg, err := EfficientNetB(n, classes)
		if err != nil {
			return 0, err
		}
		if err := checkEfficientNetInput(in); err != nil {
			return 0, err
		}
		return efficientNetMACs(cfg, in), nil
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
	return nil, unknownModel(name)
}

func unknownModel(name string) error {
	return fmt.Errorf("unknown model %q: want one of %s", name, strings.Join(Models(), ", "))
}

func checkConvNetInput(in Input) error {
	if in.H%4 != 0 || in.W%4 != 0 {
		return fmt.Errorf("convnet needs image sides divisible by 4, got %d×%d", in.H, in.W)
	}
	return nil
}

func checkEfficientNetInput(in Input) error {
	if in.C != 3 {
		return fmt.Errorf("efficientnet takes 3-channel images, got %d channels", in.C)
	}
	return nil
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
