package search

import (
	"regexp"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// BenchmarkController lives here, not beside train's step benchmarks:
// search imports train (through trial), so train's tests cannot import search.

// BenchmarkController times one controller round of a search on WRN-16-2's
// batch-norm sites: two samples and one REINFORCE update (the tiny search
// config's samples_per_update), to set against a trial (hundreds of
// training steps).
func BenchmarkController(b *testing.B) {
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewWRN(vs.Root(), 16, 2, 1, 10)
	if err != nil {
		b.Fatal(err)
	}
	var sites []string
	for _, s := range m.Sites().Names() {
		if regexp.MustCompile(`\.bn\d+$|^bn\d+$`).MatchString(s) {
			sites = append(sites, s)
		}
	}
	ctl, err := NewController(ConvNetSpace{SearchSpace: autodropout.DefaultSearchSpace()}, sites, DefaultControllerConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := make([]Scored, 2)
		for j := range batch {
			p, err := ctl.Sample()
			if err != nil {
				b.Fatal(err)
			}
			batch[j] = Scored{Choices: p.Choices, Reward: 0.8 + 0.01*float64(j)}
		}
		if _, err := ctl.Update(batch); err != nil {
			b.Fatal(err)
		}
	}
}
