package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// shapeRecorder is a site module that notes the shape it sees.
type shapeRecorder struct{ shape []int64 }

func (r *shapeRecorder) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	r.shape = x.MustSize()
	return x.MustShallowClone()
}

// maskJob is one pattern at one shape of one model, with its timings
// and the pattern's, DropBlock's, Dropout's and PyTorch's draws.
type maskJob struct {
	model           string
	pattern         autodropout.Pattern
	shape           []int64
	sites           int
	pat, db, do, pt []float64
}

// benchMasks times Pattern.Mask at every shape the classifiers' pattern
// sites see, against DropBlock's and Dropout's masks of the same shape.
func benchMasks(f *Settings, models []*benchModel, py *pyBridge, rep *Report) error {
	jobs, err := maskJobs(models)
	if err != nil || len(jobs) == 0 {
		return err
	}
	if err := timeMasks(f, jobs, py); err != nil {
		return err
	}
	printMasks(f, jobs, models, rep)
	return nil
}

// maskJobs lists the distinct (pattern, shape) pairs of every classifier's
// pattern sites, counting the sites of each.
func maskJobs(models []*benchModel) ([]*maskJob, error) {
	var jobs []*maskJob
	for _, m := range models {
		if m.in == nil {
			continue
		}
		shapes, err := siteShapes(m)
		if err != nil {
			return nil, err
		}
		for _, sp := range m.patterns {
			shape := shapes[sp.Site]
			i := slices.IndexFunc(jobs, func(j *maskJob) bool {
				return j.model == m.name && j.pattern == sp.Pattern && slices.Equal(j.shape, shape)
			})
			if i >= 0 {
				jobs[i].sites++
				continue
			}
			jobs = append(jobs, &maskJob{model: m.name, pattern: sp.Pattern, shape: shape, sites: 1})
		}
	}
	return jobs, nil
}

// siteShapes runs one forward pass of m's unregularized variant with a
// shapeRecorder at every pattern site, and returns the shape each saw.
func siteShapes(m *benchModel) (map[string][]int64, error) {
	none := m.variants[0].ours.(*classifierStepper)
	recs := map[string]*shapeRecorder{}
	for _, sp := range m.patterns {
		r := &shapeRecorder{}
		recs[sp.Site] = r
		if err := none.model.Sites().Set(sp.Site, r); err != nil {
			return nil, err
		}
	}
	var err error
	if e := libtorch.NoGrad(func() {
		var x, y *ts.Tensor
		if x, y, err = none.batch.Tensors(gotch.CPU); err == nil {
			none.model.ForwardT(x, true).MustDrop()
			x.MustDrop()
			y.MustDrop()
		}
	}); e != nil {
		return nil, e
	}
	for _, sp := range m.patterns {
		none.model.Sites().Set(sp.Site, nil)
	}
	shapes := map[string][]int64{}
	for site, r := range recs {
		shapes[site] = r.shape
	}
	return shapes, err
}

// timeMasks draws every job's masks round robin, after two warm-up rounds
// that fill the caches, and PyTorch's pattern mask when py is set.
func timeMasks(f *Settings, jobs []*maskJob, py *pyBridge) error {
	db, err := autodropout.NewDropBlock(f.Rate, f.BlockSize, autodropout.ScopeDefault)
	if err != nil {
		return err
	}
	do, err := autodropout.NewDropout(f.Rate)
	if err != nil {
		return err
	}
	reps := max(f.Steps, 20)
	fmt.Fprintf(f.Out, "\nmask generation alone: one site's mask at batch %d, median of %d draws\n", f.Batch, reps)
	for r := -2; r < reps; r++ {
		for _, j := range jobs {
			for _, c := range []struct {
				mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error)
				out  *[]float64
			}{{j.pattern.Mask, &j.pat}, {db.Mask, &j.db}, {do.Mask, &j.do}} {
				d, err := timeMask(c.mask, j.shape)
				if err != nil {
					return fmt.Errorf("mask %v: %w", j.shape, err)
				}
				if r >= 0 {
					*c.out = append(*c.out, d)
				}
			}
			if py != nil && r >= 0 {
				times, err := py.mask(j.pattern, j.shape, 1)
				if err != nil {
					return fmt.Errorf("pytorch mask: %w", err)
				}
				j.pt = append(j.pt, times[0]*1e3)
			}
		}
	}
	return nil
}

// timeMask is the milliseconds one draw of a mask of shape s takes.
func timeMask(mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error), s []int64) (float64, error) {
	t0 := time.Now()
	m, err := mask(s[0], s[1], s[2], s[3], gotch.CPU)
	if err != nil {
		return 0, err
	}
	d := time.Since(t0).Seconds() * 1e3
	m.MustDrop()
	return d, nil
}

// printMasks prints the jobs' medians and adds them to rep, with each
// model's share of its unregularized step that one step's pattern masks
// take.
func printMasks(f *Settings, jobs []*maskJob, models []*benchModel, rep *Report) {
	fmt.Fprintf(f.Out, "%-22s %-16s %5s %11s %11s %11s %11s %13s\n", "model", "shape", "sites", "pattern ms", "dropblock", "dropout", "PT pattern", "Σ/none step")
	share := map[string]float64{}
	for _, j := range jobs {
		r := MaskResult{Model: j.model, Shape: j.shape, Sites: j.sites, PatternMS: median(j.pat), DropBlock: median(j.db), Dropout: median(j.do)}
		for _, m := range models {
			if t := m.noneMS(); m.name == j.model && t > 0 { // NaN when no step ran
				r.StepShare = float64(j.sites) * r.PatternMS / t
			}
		}
		share[j.model] += r.StepShare
		pt := "-"
		if len(j.pt) > 0 {
			v := median(j.pt)
			r.TorchMS = &v
			pt = fmt.Sprintf("%.2f", v)
		}
		rep.Mask = append(rep.Mask, r)
		fmt.Fprintf(f.Out, "%-22s %-16s %5d %11.2f %11.2f %11.2f %11s %12.1f%%\n", r.Model, shapeText(r.Shape), r.Sites, r.PatternMS, r.DropBlock, r.Dropout, pt, 100*r.StepShare)
	}
	for _, m := range models {
		if s, ok := share[m.name]; ok {
			fmt.Fprintf(f.Out, "%s: pattern masks of one step take %.1f%% of the unregularized step\n", m.name, 100*s)
		}
	}
}

func shapeText(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(parts, "×")
}
