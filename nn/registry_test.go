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
		{"efficientnet-b0", Input{1, 28, 28}, 0, "3-channel"},
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
