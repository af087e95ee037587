package nn

import (
	"math"
	"strings"
	"testing"
)

func TestForwardMACs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Input
		classes int64
		// published is the number quoted for the model in GMACs (0: none);
		// the count must be within 3% of it.
		published float64
		// exact is the count of the same convolutions and linear layers
		// in torchvision 0.14.1 (or PyTorch, for WRN), measured once with
		// forward hooks (weight numel × output H × W per Conv2d, weight
		// numel per Linear) on a 1×3×H×W input, or counted by hand.
		exact int64
	}{
		// torchvision's model docs ("GFLOPS", meaning MACs).
		{"resnet18", Input{3, 224, 224}, 1000, 1.81, 1814073344},
		{"resnet50", Input{3, 224, 224}, 1000, 4.09, 4089184256},
		{"resnet152", Input{3, 224, 224}, 1000, 11.51, 11513626624},
		{"efficientnet-b0", Input{3, 224, 224}, 1000, 0.39, 385814752},
		{"efficientnet-b3", Input{3, 300, 300}, 1000, 1.83, 1827141392},
		{"efficientnet-b7", Input{3, 600, 600}, 1000, 37.75, 37745884192},
		// Zagoruyko & Komodakis' WRN-28-10 on CIFAR, widely quoted as 5.25
		// G. By hand: stem 3·16·9·32² = 442,368; group 1 (32², 160 ch)
		// 16·160·9·32² + 160·160·9·32²·7 + 16·160·32² = 1,677,721,600;
		// groups 2 and 3 (16², 8²) 1,782,579,200 each; fc 640·10.
		{"wrn-28-10", Input{3, 32, 32}, 10, 5.25, 5243328768},
		// WRN-28-2, the search proxy. The width enters squared except in
		// the first 16→16k convolution, so ≈ 5.24 G/25 plus a little:
		// 0.214 G, not the 0.36 G sometimes guessed. Both WRN counts match
		// a PyTorch build of the reference WRN (same parameter counts as
		// TestWRNParams) measured with forward hooks.
		{"wrn-28-2", Input{3, 32, 32}, 10, 0, 214353152},
		// ConvNet on Fashion-MNIST by hand: 1·32·9·28² + 32·64·9·14² +
		// 64·7·7·128 + 128·10.
		{"convnet", Input{1, 28, 28}, 10, 0, 225792 + 3612672 + 401408 + 1280},
	} {
		got, err := ForwardMACs(tc.name, tc.in, tc.classes)
		if err != nil {
			t.Errorf("ForwardMACs(%s): %v", tc.name, err)
			continue
		}
		if tc.exact != 0 && got != tc.exact {
			t.Errorf("ForwardMACs(%s, %v) = %d, want %d", tc.name, tc.in, got, tc.exact)
		}
		if tc.published != 0 {
			if rel := float64(got)/(tc.published*1e9) - 1; math.Abs(rel) > 0.03 {
				t.Errorf("ForwardMACs(%s, %v) = %.3f G, published %.2f G (%+.1f%%)", tc.name, tc.in, float64(got)/1e9, tc.published, 100*rel)
			}
		}
	}
}

func TestForwardMACsScaling(t *testing.T) {
	// A ResNet is fully convolutional up to its pooling: 4× the pixels cost
	// close to 4× (exactly, less the fc layer, when every stride divides).
	small, err := ForwardMACs("resnet50", Input{3, 224, 224}, 10)
	if err != nil {
		t.Fatal(err)
	}
	big, err := ForwardMACs("resnet50", Input{3, 448, 448}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fc := int64(2048 * 10); big-fc != 4*(small-fc) {
		t.Errorf("resnet50 at 448² = %d, want 4× its 224² count %d less fc", big, small)
	}
	// The spelling variants New accepts count the same.
	a, _ := ForwardMACs("ResNet-50", Input{3, 224, 224}, 10)
	if a != small {
		t.Errorf("ResNet-50 = %d, resnet50 = %d", a, small)
	}
}

func TestForwardMACsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		err  string
	}{
		{"vgg16", Input{3, 32, 32}, `unknown model "vgg16"`},
		{"convnet", Input{1, 30, 30}, "divisible by 4"},
		{"wrn-27-2", Input{3, 32, 32}, "6n+4"},
		{"resnet42", Input{3, 224, 224}, "ResNet depth 42"},
		{"efficientnet-b9", Input{3, 224, 224}, "B9"},
		{"resnet18", Input{3, 0, 32}, "positive"},
	} {
		if _, err := ForwardMACs(tc.name, tc.in, 10); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ForwardMACs(%s, %v) error = %v, want %q", tc.name, tc.in, err, tc.err)
		}
	}
}

func TestTransformerXLMACsPerToken(t *testing.T) {
	// configs/transformer-xl-small.json's sizes with a 10,000-word
	// vocabulary (PTB's). T = 32, M = 32, K = T+M = 64, H·Dh = 4·16 = 64,
	// d_model = 64, d_inner = 128. Per layer and token:
	//   q, k, v over K positions: (K/T)·d_model·3·H·Dh = 2·64·192 = 24,576
	//   r_net over K positions:   (K/T)·d_model·H·Dh   = 2·64·64  =  8,192
	//   AC, BD, prob·V:           3·K·H·Dh             = 3·64·64  = 12,288
	//   o:                        H·Dh·d_model         = 64·64    =  4,096
	//   feed-forward:             2·d_model·d_inner    = 2·64·128 = 16,384
	// = 65,536; two layers 131,072; output 64·10,000 = 640,000.
	c := TransformerXLConfig{NToken: 10000, NLayer: 2, DModel: 64, NHead: 4, DHead: 16, DInner: 128, TgtLen: 32, MemLen: 32}
	if got, want := TransformerXLMACsPerToken(c), int64(131072+640000); got != want {
		t.Errorf("TransformerXLMACsPerToken(small) = %d, want %d", got, want)
	}
	// Without memory the keys are the segment only: the K-sized terms halve.
	c.MemLen = 0
	if got, want := TransformerXLMACsPerToken(c), int64(2*(12288+4096+6144+4096+16384)+640000); got != want {
		t.Errorf("TransformerXLMACsPerToken(small, no memory) = %d, want %d", got, want)
	}
}

// ForwardOutputs counts the convolution and linear outputs: the ConvNet
// by hand (32·28², 64·14², 128, 10), and a ResNet-50's maps grow with
// the input's area.
func TestForwardOutputs(t *testing.T) {
	if n, err := ForwardOutputs("convnet", Input{1, 28, 28}, 10); err != nil || n != 32*28*28+64*14*14+128+10 {
		t.Errorf("convnet: %d outputs, %v", n, err)
	}
	small, _ := ForwardOutputs("resnet50", Input{3, 224, 224}, 10)
	big, err := ForwardOutputs("resnet50", Input{3, 448, 448}, 10)
	if err != nil || big-10 != 4*(small-10) {
		t.Errorf("resnet50: %d outputs at 224, %d at 448 (%v): want 4× less the classifier's", small, big, err)
	}
	if _, err := ForwardOutputs("vgg", Input{3, 32, 32}, 10); err == nil {
		t.Error("vgg: no error")
	}
}
