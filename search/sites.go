package search

import (
	"fmt"
	"regexp"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
)

// datasetShapes are the input shapes and class counts used to list a
// model's dropout sites without loading data.
var datasetShapes = map[string]struct {
	in      nn.Input
	classes int64
}{
	"fashion-mnist": {nn.Input{C: 1, H: 28, W: 28}, 10},
	"mnist":         {nn.Input{C: 1, H: 28, W: 28}, 10},
	"cifar10":       {nn.Input{C: 3, H: 32, W: 32}, 10},
	"cifar100":      {nn.Input{C: 3, H: 32, W: 32}, 100},
	"imagenet":      {nn.Input{C: 3, H: 224, W: 224}, 1000},
}

// DatasetInput returns the input shape and class count of a named image
// dataset, without reading it.
func DatasetInput(name string) (nn.Input, int64, bool) {
	s, ok := datasetShapes[name]
	return s.in, s.classes, ok
}

// SpaceFor returns what the controller searches for the task: ConvNet
// patterns at the model's sites for classification, Transformer patterns
// per sublayer kind (as site expressions) for language models.
func SpaceFor(cfg Config) (Space, []string, error) {
	if cfg.Task.Kind == "lm" {
		ts := autodropout.DefaultTransformerSpace()
		if cfg.SearchSpace != "" {
			var err error
			if ts, err = autodropout.LoadTransformerSpace(cfg.SearchSpace); err != nil {
				return nil, nil, err
			}
		}
		sites, err := lmSites(cfg.Task, ts.Sites)
		return TransformerSpace{TransformerSpace: ts}, sites, err
	}
	space := autodropout.DefaultSearchSpace()
	if cfg.SearchSpace != "" {
		var err error
		if space, err = autodropout.LoadSearchSpace(cfg.SearchSpace); err != nil {
			return nil, nil, err
		}
	}
	sites, err := resolveSites(cfg.Task)
	return ConvNetSpace{SearchSpace: space}, sites, err
}

// lmSites turns sublayer kinds (the task's, else the space's) into site
// expressions of the Transformer-XL.
func lmSites(t Task, spaceKinds []string) ([]string, error) {
	if t.Model != "transformer-xl" {
		return nil, fmt.Errorf("task.model %q: language-model searches need transformer-xl", t.Model)
	}
	kinds := t.Sites
	if len(kinds) == 0 {
		kinds = spaceKinds
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("no sublayer kinds to search: set task.sites or the space's sites")
	}
	var sites []string
	for _, k := range kinds {
		re, ok := nn.TransformerXLSiteKinds[k]
		if !ok {
			return nil, fmt.Errorf("sublayer kind %q unknown (want emb, pos_emb, q, k, v, prob, attn_out, ff_hidden, ff_out or out)", k)
		}
		sites = append(sites, re)
	}
	return sites, nil
}

// resolveSites lists the task's sites: the config's list, checked against
// the model, or the model's sites matching the regular expression.
func resolveSites(t Task) ([]string, error) {
	m, _, free, err := taskModel(t)
	if err != nil {
		return nil, err
	}
	defer free()
	names := m.Sites().Names()
	if len(t.Sites) > 0 {
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		for _, s := range t.Sites {
			if !have[s] {
				return nil, fmt.Errorf("model %s has no dropout site %q (sites: %v)", t.Model, s, names)
			}
		}
		return t.Sites, nil
	}
	re, err := regexp.Compile(t.SitesRegexp)
	if err != nil {
		return nil, fmt.Errorf("task.sites_regexp: %w", err)
	}
	var sites []string
	for _, n := range names {
		if re.MatchString(n) {
			sites = append(sites, n)
		}
	}
	if len(sites) == 0 {
		return nil, fmt.Errorf("no site of model %s matches %q (sites: %v)", t.Model, t.SitesRegexp, names)
	}
	return sites, nil
}

// taskModel builds the task's model, with fresh weights on the CPU, for
// its dataset's input shape (ImageNet's crop side from task.image_size);
// free releases the weights.
func taskModel(t Task) (m nn.SiteModel, in nn.Input, free func(), err error) {
	shape, ok := datasetShapes[t.Data]
	if !ok {
		return nil, nn.Input{}, nil, fmt.Errorf("task.data %q unknown", t.Data)
	}
	in = shape.in
	if t.Data == "imagenet" && t.ImageSize > 0 {
		in.H, in.W = int64(t.ImageSize), int64(t.ImageSize)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	if m, err = nn.New(t.Model, vs.Root(), in, shape.classes); err != nil {
		vs.Destroy()
		return nil, nn.Input{}, nil, fmt.Errorf("task.model %s: %w", t.Model, err)
	}
	return m, in, vs.Destroy, nil
}

// SiteMaps returns the height and width of the activation at each of the
// model's dropout sites for a classification task on a dataset of known
// shape (DatasetInput), from one forward pass of a zero sample without
// gradients: the map a pattern at that site tiles.
func SiteMaps(t Task) (map[string][2]int64, error) {
	m, in, free, err := taskModel(t)
	if err != nil {
		return nil, err
	}
	defer free()
	maps := map[string][2]int64{}
	for _, name := range m.Sites().Names() {
		if err := m.Sites().Set(name, mapRecorder{name, maps}); err != nil {
			return nil, err
		}
	}
	err = libtorch.NoGrad(func() {
		x := ts.MustZeros([]int64{1, in.C, in.H, in.W}, gotch.Float, gotch.CPU)
		m.ForwardT(x, false).MustDrop()
		x.MustDrop()
	})
	if err != nil {
		return nil, err
	}
	return maps, nil
}

// mapRecorder is a site's module that records the H×W of its input.
type mapRecorder struct {
	name string
	maps map[string][2]int64
}

func (r mapRecorder) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if size := x.MustSize(); len(size) == 4 {
		r.maps[r.name] = [2]int64{size[2], size[3]}
	}
	return x.MustShallowClone()
}
