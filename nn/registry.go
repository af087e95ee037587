package nn

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	gnn "github.com/sugarme/gotch/nn"
)

// Input is the shape of one input image.
type Input struct{ C, H, W int64 }

// A constructor builds a model for an input shape and a class count.
type constructor func(p *gnn.Path, in Input, classes int64) (SiteModel, error)

// families match model names to constructors. Each entry's pattern is
// anchored and accepts a few spellings (any case, "resnet-50",
// "efficientnet_b0"); canonical gives the one name of a match, which the
// command says when it differs. A name that matches loose but not pattern
// is refused with its canonical form as a suggestion ("wrn16-2").
var families = []struct {
	pattern   *regexp.Regexp
	loose     *regexp.Regexp
	canonical func(m []string) string
	build     func(m []string) constructor
	// macs counts one forward pass of one example (see ForwardMACs).
	macs func(m []string, in Input, classes int64) (tally, error)
}{
	{regexp.MustCompile(`^convnet$`), regexp.MustCompile(`^conv[-_ ]?net$`), func([]string) string { return "convnet" }, func([]string) constructor {
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			if err := checkConvNetInput(in); err != nil {
				return nil, err
			}
			return NewConvNet(p, in.C, in.H, in.W, classes), nil
		}
	}, func(_ []string, in Input, classes int64) (tally, error) { return convNetMACs(in, classes) }},
	{regexp.MustCompile(`^wrn-(\d+)-(\d+)$`), regexp.MustCompile(`^w(?:ide)?[-_ ]?(?:rn|resnet)[-_ ]?(\d+)[-_ x](\d+)$`), func(m []string) string { return "wrn-" + m[1] + "-" + m[2] }, func(m []string) constructor {
		d, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			return NewWRN(p, d, k, in.C, classes)
		}
	}, func(m []string, in Input, classes int64) (tally, error) {
		d, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		return wrnMACs(d, k, in, classes)
	}},
	{regexp.MustCompile(`^resnet-?(\d+)$`), regexp.MustCompile(`^res[-_ ]?net[-_ ]?(\d+)$`), func(m []string) string { return "resnet" + m[1] }, func(m []string) constructor {
		d, _ := strconv.Atoi(m[1])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			cfg, err := ResNetDepth(d, classes)
			if err != nil {
				return nil, err
			}
			cfg.InChannels = in.C
			return NewResNet(p, cfg)
		}
	}, func(m []string, in Input, classes int64) (tally, error) {
		d, _ := strconv.Atoi(m[1])
		cfg, err := ResNetDepth(d, classes)
		if err != nil {
			return tally{}, err
		}
		cfg.InChannels = in.C
		return resNetMACs(cfg, in), nil
	}},
	{regexp.MustCompile(`^efficientnet[-_]?b(\d)$`), regexp.MustCompile(`^efficient[-_ ]?net[-_ ]?b?[-_ ]?(\d)$`), func(m []string) string { return "efficientnet-b" + m[1] }, func(m []string) constructor {
		n, _ := strconv.Atoi(m[1])
		return func(p *gnn.Path, in Input, classes int64) (SiteModel, error) {
			cfg, err := EfficientNetB(n, classes)
			if err != nil {
				return nil, err
			}
			cfg.InChannels = in.C
			return NewEfficientNet(p, cfg)
		}
	}, func(m []string, in Input, classes int64) (tally, error) {
		n, _ := strconv.Atoi(m[1])
		cfg, err := EfficientNetB(n, classes)
		if err != nil {
			return tally{}, err
		}
		cfg.InChannels = in.C
		return efficientNetMACs(cfg, in), nil
	}},
}

// ModelNames describes every name New accepts: each family and the form
// of its names.
const ModelNames = "convnet, wrn-D-K (wide ResNet of depth D = 6n+4 and width K, e.g. wrn-28-10, wrn-16-2), " +
	"resnet18, resnet34, resnet50, resnet101, resnet152, efficientnet-b0 … efficientnet-b7"

// New builds the named model (see ModelNames; the case of the letters does
// not matter, and CanonicalName says which model a spelling names).
// ResNet and EfficientNet take images of any channel count, with a stem
// convolution to match; torchvision's weights fit 3.
func New(name string, p *gnn.Path, in Input, classes int64) (SiteModel, error) {
	key := strings.ToLower(name)
	for _, f := range families {
		if m := f.pattern.FindStringSubmatch(key); m != nil {
			return f.build(m)(p, in, classes)
		}
	}
	return nil, unknownModel(name)
}

// CanonicalName returns the one name of the model a name spells
// ("resnet-18" and "ResNet18" are "resnet18"), or the error New gives.
// It checks the spelling only, not the depth or width.
func CanonicalName(name string) (string, error) {
	key := strings.ToLower(name)
	for _, f := range families {
		if m := f.pattern.FindStringSubmatch(key); m != nil {
			return f.canonical(m), nil
		}
	}
	return "", unknownModel(name)
}

// unknownModel lists every model family, with the canonical name of a
// near miss first.
func unknownModel(name string) error {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, f := range families {
		if m := f.loose.FindStringSubmatch(key); m != nil {
			return fmt.Errorf("unknown model %q (did you mean %q?): want %s", name, f.canonical(m), ModelNames)
		}
	}
	return fmt.Errorf("unknown model %q: want %s", name, ModelNames)
}

func checkConvNetInput(in Input) error {
	if in.H%4 != 0 || in.W%4 != 0 {
		return fmt.Errorf("convnet needs image sides divisible by 4, got %d×%d", in.H, in.W)
	}
	return nil
}
