package nn

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// A whole pickled model (torch.save(model)) is refused with what to do
// instead (issue 27: it said "loadGlobal() failed: class not found:
// torchvision.models.resnet ResNet").
func TestLoadWholeModel(t *testing.T) {
	const file = "testdata/whole_model.pth" // make_fixtures.py
	want := []string{file, "class torch.nn.modules.container.Sequential", "not a state dict", "save model.state_dict() instead"}
	_, err := ReadStateDict(file)
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("ReadStateDict: error %v, want it to say %q", err, w)
		}
	}
	vs := gnn.NewVarStore(gotch.CPU)
	_, err = LoadStateDict(vs, file, nil)
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("LoadStateDict: error %v, want it to say %q", err, w)
		}
	}
}
