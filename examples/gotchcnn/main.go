// Command gotchcnn is an ordinary gotch CNN that gains learned dropout
// patterns after its batch norms: it reads a pattern file, trains a few
// steps on Fashion-MNIST and prints the loss. It lives in its own module,
// as a user's code would, and shows the two gotch pitfalls embedders meet:
//
//   - gotch v0.9.1's default initializers are not PyTorch's (its
//     "KaimingUniform" is really a normal with far too large a scale, so
//     the first loss is about 37 instead of 2.3): the layers below take
//     PyTorch's defaults from the autodropout nn package (nn.ConvConfig,
//     nn.LinearConfig, nn.BatchNormConfig).
//   - libtorch's gradient mode is per OS thread and Go moves goroutines
//     between threads: the training loop runs on a pinned thread
//     (libtorch.TrainThread), or backward fails with "element 0 of
//     tensors does not require grad".
//
// The model declares its dropout sites in an autodropout nn.Sites and so
// is an nn.SiteModel: a pattern file maps onto it by site name
// (Sites.SetPatterns), exactly as onto the models autodropout ships.
//
// autodropout's nn package and gotch's share a name: import ours as adnn
// (adnn "github.com/autodropout/autodropout/nn") and keep nn for gotch's,
// whose layers such code uses most.
//
// Build it from a checkout of autodropout with `make consumer
// DIR=examples/gotchcnn` (which writes this folder's go.work), then
// `go run . -steps 20`.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	adnn "github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// cnn is two conv–batch-norm–ReLU–pool stages and a classifier, with a
// dropout site after each batch norm.
type cnn struct {
	conv1, conv2 *nn.Conv2D
	bn1, bn2     *nn.BatchNorm
	fc           *nn.Linear
	sites        adnn.Sites // "bn1" and "bn2": the identity until assigned
}

func newCNN(p *nn.Path) *cnn {
	m := &cnn{
		conv1: nn.NewConv2D(p.Sub("conv1"), 1, 32, 3, adnn.ConvConfig(1, 3, 1, 1, 1, true)),
		bn1:   nn.BatchNorm2D(p.Sub("bn1"), 32, adnn.BatchNormConfig()),
		conv2: nn.NewConv2D(p.Sub("conv2"), 32, 64, 3, adnn.ConvConfig(32, 3, 1, 1, 1, true)),
		bn2:   nn.BatchNorm2D(p.Sub("bn2"), 64, adnn.BatchNormConfig()),
		fc:    nn.NewLinear(p.Sub("fc"), 64*7*7, 10, adnn.LinearConfig(64*7*7)),
	}
	m.sites.Declare("bn1")
	m.sites.Declare("bn2")
	return m
}

// Sites makes cnn an adnn.SiteModel.
func (m *cnn) Sites() *adnn.Sites { return &m.sites }

func (m *cnn) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	// Every intermediate is dropped after its last use, which frees its
	// libtorch memory at once. Nesting the calls, as in
	// bn.ForwardT(conv.ForwardT(x, train), train), is safe too: the gotch
	// copy that make consumer points at keeps an op's arguments alive
	// during its C call. A nested intermediate is freed by its finalizer
	// after a later garbage collection instead.
	stage := func(x *ts.Tensor, conv *nn.Conv2D, bn *nn.BatchNorm, site string) *ts.Tensor {
		c := conv.ForwardT(x, train)
		h := bn.ForwardT(c, train)
		c.MustDrop()
		if d := m.sites.Apply(site, h, train); d != h { // the learned pattern, if any
			h.MustDrop()
			h = d
		}
		r := h.MustRelu(false)
		h.MustDrop()
		p := r.MustMaxPool2d([]int64{2, 2}, []int64{2, 2}, []int64{0, 0}, []int64{1, 1}, false, false)
		r.MustDrop()
		return p
	}
	h1 := stage(x, m.conv1, m.bn1, "bn1")
	h2 := stage(h1, m.conv2, m.bn2, "bn2")
	h1.MustDrop()
	flat := h2.MustFlatten(1, -1, false)
	h2.MustDrop()
	out := m.fc.Forward(flat)
	flat.MustDrop()
	return out
}

func main() {
	patterns := flag.String("pattern", "pattern.json", "pattern file with patterns for sites bn1 and bn2")
	steps := flag.Int("steps", 20, "training steps")
	dir := flag.String("data", data.FashionMNISTDir, "Fashion-MNIST folder")
	flag.Parse()
	if err := run(*patterns, *dir, *steps); err != nil {
		fmt.Fprintln(os.Stderr, "gotchcnn:", err)
		os.Exit(1)
	}
}

func run(patternFile, dir string, steps int) error {
	release, err := libtorch.TrainThread()
	if err != nil {
		return err
	}
	defer release()
	if err := libtorch.ManualSeed(1); err != nil {
		return err
	}
	vs := nn.NewVarStore(gotch.CPU)
	m := newCNN(vs.Root())

	ps, err := autodropout.ReadPatterns(patternFile)
	if err != nil {
		return err
	}
	// Each pattern goes to the site of its name; a site the model does not
	// declare is an error that lists the model's sites.
	nSites, err := m.Sites().SetPatterns(ps)
	if err != nil {
		return fmt.Errorf("%s: %w", patternFile, err)
	}

	train, _, err := data.Open("fashion-mnist", dir, data.OpenOptions{})
	if err != nil {
		return err
	}
	loader, err := data.NewLoader(train, data.LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1})
	if err != nil {
		return err
	}
	opt, err := nn.DefaultAdamConfig().Build(vs, 1e-3)
	if err != nil {
		return err
	}
	var first, last float64
	step := 0
	for b := range loader.Epoch(context.Background(), 0) {
		if step == steps {
			break
		}
		x, y, err := b.Tensors(gotch.CPU)
		if err != nil {
			return err
		}
		logits := m.ForwardT(x, true)
		loss := logits.CrossEntropyForLogits(y)
		opt.BackwardStep(loss)
		l := loss.Float64Values()[0]
		for _, t := range []*ts.Tensor{x, y, logits, loss} {
			t.MustDrop()
		}
		if step == 0 {
			first = l
		}
		last = l
		step++
		if step%5 == 0 || step == steps {
			fmt.Printf("step %d: loss %.4f\n", step, l)
		}
	}
	if math.IsNaN(last) || !(last < first) {
		return fmt.Errorf("the loss went from %.4f to %.4f in %d steps: training does not work", first, last, step)
	}
	fmt.Printf("pattern dropout at %d sites from %s: loss %.4f → %.4f in %d steps\n", nSites, patternFile, first, last, step)
	return nil
}
