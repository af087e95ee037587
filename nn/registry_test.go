package nn

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     Input
		params int64
		err    string
	}{
		{"convnet", Input{1, 28, 28}, 421738, ""},
		{"WRN-16-2", Input{3, 32, 32}, 691674, ""},
		{"resnet18", Input{3, 32, 32}, 11181642, ""}, // torchvision's, 10 classes
		{"efficientnet-b0", Input{3, 32, 32}, 4020358, ""},
		{"convnet", Input{1, 30, 30}, 0, "divisible by 4"},
		{"wrn-27-2", Input{3, 32, 32}, 0, "6n+4"},
		// Fashion-MNIST: the stem takes 1 channel, as ResNet's does
		// (32·(3-1)·3·3 fewer weights).
		{"efficientnet-b0", Input{1, 28, 28}, 4020358 - 576, ""},
		{"vgg16", Input{3, 32, 32}, 0, "unknown model"},
	} {
		vs := gnn.NewVarStore(gotch.CPU)
		m, err := New(tc.name, vs.Root(), tc.in, 10)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New(%s) error = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%s): %v", tc.name, err)
			continue
		}
		if got := countParams(vs); got != tc.params {
			t.Errorf("New(%s) has %d parameters, want %d", tc.name, got, tc.params)
		}
		if len(m.Sites().Names()) == 0 {
			t.Errorf("New(%s) has no dropout sites", tc.name)
		}
	}
}

// A wrong model name lists every family and the wrn-D-K form, with the
// canonical name of a near miss; spellings New accepts have one
// canonical name (issue 27: "wrn16-2" listed 4 examples, "resnet-18" was
// taken silently).
func TestModelNames(t *testing.T) {
	for _, tc := range []struct {
		name, canonical, err string
	}{
		{"resnet18", "resnet18", ""},
		{"resnet-18", "resnet18", ""},
		{"ResNet50", "resnet50", ""},
		{"efficientnet_b0", "efficientnet-b0", ""},
		{"EfficientNet-B7", "efficientnet-b7", ""},
		{"WRN-16-2", "wrn-16-2", ""},
		{"convnet", "convnet", ""},
		{"wrn16-2", "", `unknown model "wrn16-2" (did you mean "wrn-16-2"?)`},
		{"wrn_28_10", "", `(did you mean "wrn-28-10"?)`},
		{"wide-resnet-28-10", "", `(did you mean "wrn-28-10"?)`},
		{"res-net-50", "", `(did you mean "resnet50"?)`},
		{"efficientnet b3", "", `(did you mean "efficientnet-b3"?)`},
		{"vgg16", "", `unknown model "vgg16": want convnet, wrn-D-K`},
	} {
		got, err := CanonicalName(tc.name)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CanonicalName(%q) error = %v, want %q", tc.name, err, tc.err)
			}
			for _, family := range []string{"convnet", "wrn-D-K", "6n+4", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "efficientnet-b0", "efficientnet-b7"} {
				if err != nil && !strings.Contains(err.Error(), family) {
					t.Errorf("CanonicalName(%q) error %q does not list %s", tc.name, err, family)
				}
			}
			continue
		}
		if err != nil || got != tc.canonical {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", tc.name, got, err, tc.canonical)
		}
	}
}
