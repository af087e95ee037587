package train

import (
	"context"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// bigram is an LM whose logits for token x are row x of a fixed table.
type bigram struct {
	table [][]float32
}

func (b *bigram) ForwardMem(x *ts.Tensor, mems []*ts.Tensor, train bool) (*ts.Tensor, []*ts.Tensor) {
	v := int64(len(b.table))
	flat := make([]float32, 0, v*v)
	for _, r := range b.table {
		flat = append(flat, r...)
	}
	w := ts.MustOfSlice(flat).MustView([]int64{v, v}, true)
	out := ts.MustEmbedding(w, x, -1, false, false)
	w.MustDrop()
	return out, nil
}

func TestPerplexityIsExpMeanCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const V = 5
	m := &bigram{}
	for i := 0; i < V; i++ {
		row := make([]float32, V)
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		m.table = append(m.table, row)
	}
	ids := make([]int64, 31)
	for i := range ids {
		ids[i] = int64(rng.Intn(V))
	}
	got, err := Perplexity(m, ids, 3, 4, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	// Direct: 3 streams of 10 tokens, 9 predictions each.
	var sum float64
	var n int
	for b := 0; b < 3; b++ {
		s := ids[b*10 : b*10+10]
		for i := 0; i+1 < len(s); i++ {
			row := m.table[s[i]]
			z := 0.0
			for _, x := range row {
				z += math.Exp(float64(x))
			}
			sum += math.Log(z) - float64(row[s[i+1]])
			n++
		}
	}
	want := math.Exp(sum / float64(n))
	if math.Abs(got-want) > 1e-4*want {
		t.Errorf("perplexity %v, want %v", got, want)
	}
}

func TestTrainLMLearns(t *testing.T) {
	if err := libtorch.ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	// A repeating sequence is learnable: perplexity must fall far below
	// the vocabulary size.
	var ids []int64
	for i := 0; i < 2000; i++ {
		ids = append(ids, int64(i%7))
	}
	c := &data.Corpus{Vocab: data.NewVocab(), Train: ids, Valid: ids[:400], Test: ids[:400]}
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := nn.NewTransformerXL(vs.Root(), nn.TransformerXLConfig{NToken: 7, NLayer: 1, DModel: 16, NHead: 2, DHead: 8, DInner: 32, TgtLen: 8, MemLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	res, err := TrainLM(context.Background(), vs, m, c, LMConfig{LR: 1e-2, Clip: 1, Steps: 150, BatchSize: 4, TgtLen: 8, Device: gotch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	if res.ValPPL > 2 || res.Steps != 150 || res.TokensPerS <= 0 {
		t.Errorf("result %+v", res)
	}
}

// countingLM counts its forward passes; it must never be called.
type countingLM struct{ calls int }

func (m *countingLM) ForwardMem(x *ts.Tensor, mems []*ts.Tensor, train bool) (*ts.Tensor, []*ts.Tensor) {
	m.calls++
	panic("forward pass on a corpus that CheckSplits should have refused")
}

func TestTrainLMRefusesShortSplitsBeforeTraining(t *testing.T) {
	ids := func(n int) []int64 { return make([]int64, n) }
	for _, tc := range []struct {
		name              string
		train, valid, tst []int64
		err               string // "" for accepted by CheckSplits
	}{
		{"fits", ids(40), ids(20), ids(20), ""},
		{"no test split", ids(40), ids(20), nil, ""},
		{"empty validation", ids(40), nil, ids(20), "validation split of tiny is empty"},
		{"short validation", ids(40), ids(19), ids(20), "validation split of tiny has 19 tokens, too few for 10 streams"},
		{"short test", ids(40), ids(20), ids(3), "test split of tiny has 3 tokens"},
		{"short training", ids(7), ids(20), ids(20), "training split of tiny has 7 tokens, too few for 4 streams"},
		{"empty training", nil, ids(20), ids(20), "training split of tiny is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &data.Corpus{Name: "tiny", Vocab: data.NewVocab(), Train: tc.train, Valid: tc.valid, Test: tc.tst}
			cfg := LMConfig{Steps: 1, BatchSize: 4, TgtLen: 4, Device: gotch.CPU}
			err := CheckSplits(c, cfg)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("CheckSplits: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("CheckSplits: %v, want an error saying %q", err, tc.err)
			}
			m := &countingLM{}
			_, err = TrainLM(context.Background(), gnn.NewVarStore(gotch.CPU), m, c, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.err) || m.calls != 0 {
				t.Fatalf("TrainLM: %v after %d forward passes, want %q before any", err, m.calls, tc.err)
			}
		})
	}
}

// TestTrainLMCurve: CurveEvery records a point every CurveEvery steps and
// one after the last, and the evaluations leave the training unchanged
// (the same weights, so the same final perplexities, as without them).
func TestTrainLMCurve(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var ids []int64
	for range 3000 {
		ids = append(ids, int64(rng.Intn(11)))
	}
	c := &data.Corpus{Vocab: data.NewVocab(), Train: ids[:2400], Valid: ids[2400:2700], Test: ids[2700:]}
	run := func(every int) *LMResult {
		if err := libtorch.ManualSeed(4); err != nil {
			t.Fatal(err)
		}
		vs := gnn.NewVarStore(gotch.CPU)
		m, err := nn.NewTransformerXL(vs.Root(), nn.TransformerXLConfig{NToken: 11, NLayer: 1, DModel: 16, NHead: 2, DHead: 8, DInner: 32, TgtLen: 8, MemLen: 8, Dropout: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		if err := nn.SetLMRegularizer(m.Sites(), "dropout", "", m.Cfg); err != nil {
			t.Fatal(err)
		}
		res, err := TrainLM(context.Background(), vs, m, c, LMConfig{LR: 1e-2, Clip: 1, Steps: 25, BatchSize: 4, TgtLen: 8, Device: gotch.CPU, Seed: 9, CurveEvery: every})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	plain, curved := run(0), run(10)
	var steps []int
	for _, p := range curved.Curve {
		steps = append(steps, p.Step)
		if !(p.ValPPL > 1 && p.TrainPPL > 1) {
			t.Errorf("point %+v: want perplexities above 1", p)
		}
	}
	if want := []int{10, 20, 25}; !slices.Equal(steps, want) {
		t.Errorf("curve at steps %v, want %v", steps, want)
	}
	if plain.Curve != nil {
		t.Errorf("curve without CurveEvery: %v", plain.Curve)
	}
	if plain.ValPPL != curved.ValPPL || plain.TestPPL != curved.TestPPL {
		t.Errorf("val/test ppl %v/%v without the curve, %v/%v with it: the evaluations changed the training",
			plain.ValPPL, plain.TestPPL, curved.ValPPL, curved.TestPPL)
	}
	if last := curved.Curve[len(curved.Curve)-1]; last.ValPPL != curved.ValPPL {
		t.Errorf("last point's val ppl %v, the run's %v", last.ValPPL, curved.ValPPL)
	}
}
