package nn_test

import (
	"fmt"

	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// Load a state dict saved by PyTorch with torch.save(model.state_dict()):
// here a tiny torchvision EfficientNet (B0's stages at width 0.1 and depth
// 0.5, 10 classes).
func ExampleLoadStateDict() {
	cfg, _ := nn.EfficientNetB(0, 10)
	cfg.WidthMult, cfg.DepthMult = 0.1, 0.5
	vs := gnn.NewVarStore(gotch.CPU)
	if _, err := nn.NewEfficientNet(vs.Root(), cfg); err != nil {
		fmt.Println(err)
		return
	}
	report, err := nn.LoadStateDict(vs, "testdata/efficientnet_tiny.pth", nil)
	fmt.Println(report)
	fmt.Println(err)
	// Output:
	// 197 loaded; 31 num_batches_tracked ignored
	// <nil>
}

// Fine-tune from pretrained weights with a new classifier: a partial load
// takes everything but the head, whose shape differs, and reports it.
func ExampleLoadStateDict_partial() {
	cfg, _ := nn.EfficientNetB(0, 3)
	cfg.WidthMult, cfg.DepthMult = 0.1, 0.5
	vs := gnn.NewVarStore(gotch.CPU)
	if _, err := nn.NewEfficientNet(vs.Root(), cfg); err != nil {
		fmt.Println(err)
		return
	}
	_, err := nn.LoadStateDict(vs, "testdata/efficientnet_tiny.pth", nil)
	fmt.Println("strict:", err)
	report, err := nn.LoadStateDict(vs, "testdata/efficientnet_tiny.pth", &nn.LoadOptions{Partial: true})
	fmt.Println("partial:", report, err)
	// Output:
	// strict: load state dict testdata/efficientnet_tiny.pth: state dict does not match the model: 2 with another shape (classifier.1.bias (model [3], file [10]), classifier.1.weight (model [3 128], file [10 128])) (nothing loaded; LoadOptions.Partial loads what matches)
	// partial: 195 loaded; 2 with another shape (classifier.1.bias (model [3], file [10]), classifier.1.weight (model [3 128], file [10 128])); 31 num_batches_tracked ignored <nil>
}

func ExampleEfficientNetB() {
	for _, n := range []int{0, 7} {
		cfg, _ := nn.EfficientNetB(n, 1000)
		fmt.Printf("B%d: %d blocks, head %d, %d parameters, dropout %g, BN eps %g\n",
			n, len(cfg.Blocks()), cfg.HeadChannels(), cfg.NumParams(), cfg.Dropout, cfg.BNEps)
	}
	// Output:
	// B0: 16 blocks, head 1280, 5288548 parameters, dropout 0.2, BN eps 1e-05
	// B7: 55 blocks, head 2560, 66347960 parameters, dropout 0.5, BN eps 0.001
}
