package search

import (
	"context"
	"math/rand"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

var testSites = []string{"bn1", "block.bn2"}

// synthetic is a known function of the tokens: the fraction of decisions
// that hit a target value, plus Gaussian noise seeded by the trial.
func synthetic(noise float64) ExecutorFunc {
	toks := autodropout.DefaultSearchSpace().Tokens()
	return func(ctx context.Context, t Trial) Result {
		hit, n := 0, 0
		for s, c := range t.Choices {
			for k := range c {
				n++
				if c[k] == (s+k)%toks[k].Choices {
					hit++
				}
			}
		}
		r := float64(hit)/float64(n) + noise*rand.New(rand.NewSource(int64(t.ID))).NormFloat64()
		return Result{Reward: r, Metrics: map[string]float64{"val_acc": r}, Cost: Cost{WallS: 0.01, CPUS: 0.01, Steps: 1}}
	}
}

func runSynthetic(t *testing.T, method string, seed int64, budget int) (Summary, []Event) {
	t.Helper()
	return runSyntheticIn(t, t.TempDir(), method, seed, budget, testSites[:1])
}

func runSyntheticIn(t *testing.T, out, method string, seed int64, budget int, sites []string) (Summary, []Event) {
	t.Helper()
	cfg := Config{Method: method, Budget: budget, Parallel: 2, SamplesPerUpdate: 8, Seed: seed,
		Controller: ControllerConfig{LR: 0.05}}.WithDefaults()
	s := &Search{Config: cfg, Sites: sites, Executor: synthetic(0.05), Out: out}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ReadJournal(out + "/journal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return sum, evs
}

func TestControllerBeatsRandom(t *testing.T) {
	const budget = 160
	for _, seed := range []int64{1, 2, 3} {
		rl, _ := runSynthetic(t, "rl", seed, budget)
		rs, _ := runSynthetic(t, "random", seed, budget)
		t.Logf("seed %d: rl best %.3f mean %.3f; random best %.3f mean %.3f", seed, rl.BestReward, rl.MeanReward, rs.BestReward, rs.MeanReward)
		if rl.Finished != budget || rs.Finished != budget {
			t.Fatalf("finished %d / %d, want %d", rl.Finished, rs.Finished, budget)
		}
		if rl.MeanReward < rs.MeanReward+0.15 {
			t.Errorf("seed %d: rl mean reward %.3f does not beat random's %.3f by 0.15", seed, rl.MeanReward, rs.MeanReward)
		}
		if rl.BestReward < rs.BestReward+0.05 {
			t.Errorf("seed %d: rl best reward %.3f does not beat random's %.3f by 0.05", seed, rl.BestReward, rs.BestReward)
		}
	}
}
