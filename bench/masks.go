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

// benchMasks times Pattern.Mask at every shape the classifiers' pattern
// sites see, against DropBlock's and Dropout's masks of the same shape.
func benchMasks(f *Settings, models []*benchModel, py *pyBridge, rep *Report) error {
	type job struct {
		model           string
		pattern         autodropout.Pattern
		shape           []int64
		sites           int
		pat, db, do, pt []float64
	}
	var jobs []*job
	for _, m := range models {
		if m.in == nil {
			continue
		}
		none := m.variants[0].ours.(*classifierStepper)
		recs := map[string]*shapeRecorder{}
		for _, sp := range m.patterns {
			r := &shapeRecorder{}
			recs[sp.Site] = r
			if err := none.model.Sites().Set(sp.Site, r); err != nil {
				return err
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
			return e
		}
		for _, sp := range m.patterns {
			none.model.Sites().Set(sp.Site, nil)
		}
		if err != nil {
			return err
		}
		for _, sp := range m.patterns {
			shape := recs[sp.Site].shape
			i := slices.IndexFunc(jobs, func(j *job) bool {
				return j.model == m.name && j.pattern == sp.Pattern && slices.Equal(j.shape, shape)
			})
			if i >= 0 {
				jobs[i].sites++
				continue
			}
			jobs = append(jobs, &job{model: m.name, pattern: sp.Pattern, shape: shape, sites: 1})
		}
	}
	if len(jobs) == 0 {
		return nil
	}
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
	timeMask := func(mask func(n, c, h, w int64, dev gotch.Device) (*ts.Tensor, error), s []int64) (float64, error) {
		t0 := time.Now()
		m, err := mask(s[0], s[1], s[2], s[3], gotch.CPU)
		if err != nil {
			return 0, err
		}
		d := time.Since(t0).Seconds() * 1e3
		m.MustDrop()
		return d, nil
	}
	for r := -2; r < reps; r++ { // two warm-up rounds fill the caches
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
	return nil
}

func shapeText(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(parts, "×")
}
