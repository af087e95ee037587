package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/nn"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// parallel is a training run's part in a data-parallel group: rank 0's
// variables broadcast at the start, a c10d Reducer over the parameters,
// and the sums of losses and evaluation counts over the ranks. A nil
// *parallel is a single process: every method is then a no-op.
type parallel struct {
	g       *distributed.Group
	red     *distributed.Reducer
	buffers []*ts.Tensor // variables that are not trained (batch-norm statistics)
}

// sortedVars lists vs's variables by name (every rank in the same order;
// VarStore keeps a map): trained ones and the others.
func sortedVars(vs *gnn.VarStore) (params, buffers []*ts.Tensor) {
	m := nn.Variables(vs)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if t := m[k]; t.MustRequiresGrad() {
			params = append(params, t)
		} else {
			buffers = append(buffers, t)
		}
	}
	return params, buffers
}

// newParallel joins the run to g: it checks that every rank has batches
// steps an epoch, broadcasts rank 0's variables and builds the reducer.
func newParallel(g *distributed.Group, vs *gnn.VarStore, batches int) (*parallel, error) {
	if g == nil {
		return nil, nil
	}
	sum, err := g.SumFloat64([]float64{float64(batches)})
	if err != nil {
		return nil, err
	}
	if int(sum[0]) != batches*g.World() {
		return nil, fmt.Errorf("rank %d: %d steps an epoch, but the ranks' steps add up to %d, not %d (shard the training set evenly: data.LoaderConfig.EvenShards)", g.Rank(), batches, int(sum[0]), batches*g.World())
	}
	params, buffers := sortedVars(vs)
	if err := g.Broadcast(append(slices.Clone(params), buffers...), 0); err != nil {
		return nil, fmt.Errorf("broadcast rank 0's variables: %w", err)
	}
	red, err := g.NewReducer(params, 0)
	if err != nil {
		return nil, err
	}
	return &parallel{g: g, red: red, buffers: buffers}, nil
}

func (p *parallel) close() {
	if p != nil {
		p.red.Close()
	}
}

// maskSeed is the seed of this rank's masks for a run seeded with seed.
func (p *parallel) maskSeed(seed int64) int64 {
	if p == nil {
		return seed
	}
	return distributed.MaskSeed(seed, p.g.Rank())
}

func (p *parallel) beforeForward() error {
	if p == nil {
		return nil
	}
	return p.red.PrepareForward()
}

func (p *parallel) beforeBackward() error {
	if p == nil {
		return nil
	}
	return p.red.PrepareBackward()
}

// backwardErr names the ranks that stopped when backward failed (its
// gradient all-reduce runs inside it). gotch appends a Go stack dump to
// libtorch's message; the dump says nothing about the ranks and is cut.
func (p *parallel) backwardErr(err error) error {
	if p == nil || err == nil {
		return err
	}
	if msg, _, cut := strings.Cut(err.Error(), "\ngoroutine "); cut {
		err = errors.New(strings.TrimSpace(msg))
	}
	return p.g.Explain("backward (gradient all-reduce)", err)
}

// sum adds vals over the ranks.
func (p *parallel) sum(vals ...float64) ([]float64, error) {
	if p == nil {
		return vals, nil
	}
	return p.g.SumFloat64(vals)
}

// syncBuffers copies rank 0's buffers (batch-norm statistics, which each
// rank updates from its own examples) to every rank, so that all ranks
// evaluate, and rank 0 saves, one model.
func (p *parallel) syncBuffers() error {
	if p == nil || len(p.buffers) == 0 {
		return nil
	}
	if err := p.g.Broadcast(p.buffers, 0); err != nil {
		return fmt.Errorf("broadcast rank 0's buffers: %w", err)
	}
	return nil
}

// accuracy evaluates model on every rank's shard of l and returns the
// accuracy over all of them.
func (p *parallel) accuracy(ctx context.Context, a *AMP, model ts.ModuleT, l *data.Loader) (float64, error) {
	if p == nil {
		return a.accuracy(ctx, model, l)
	}
	if err := p.syncBuffers(); err != nil {
		return 0, err
	}
	exit, err := a.Autocast()
	if err != nil {
		return 0, err
	}
	correct, n, err := accuracyCounts(ctx, model, l, a.Device)
	if xerr := exit(); err == nil {
		err = xerr
	}
	if err != nil {
		return 0, err
	}
	s, err := p.g.SumFloat64([]float64{float64(correct), float64(n)})
	if err != nil {
		return 0, fmt.Errorf("sum the ranks' evaluation counts: %w", err)
	}
	if s[1] == 0 {
		return 0, fmt.Errorf("no examples to evaluate")
	}
	return s[0] / s[1], nil
}
