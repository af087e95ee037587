package nn

import (
	"math"
	"regexp"
	"testing"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

func floats(t *testing.T, x *ts.Tensor) []float64 {
	t.Helper()
	d := x.MustTotype(gotch.Double, false)
	v := make([]float64, d.Numel())
	if err := d.CopyData(v, uint(len(v))); err != nil {
		t.Fatal(err)
	}
	d.MustDrop()
	return v
}

func tinyXL(t *testing.T, memLen int64) (*gnn.VarStore, *TransformerXL) {
	t.Helper()
	if err := libtorch.ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	vs := gnn.NewVarStore(gotch.CPU)
	m, err := NewTransformerXL(vs.Root(), TransformerXLConfig{NToken: 11, NLayer: 2, DModel: 8, NHead: 2, DHead: 3, DInner: 12, TgtLen: 4, MemLen: memLen})
	if err != nil {
		t.Fatal(err)
	}
	return vs, m
}

// TestRelativeAttentionReference compares the rel-shifted scores with a
// direct computation: score(i, j) = ((q_i+u)·k_j + (q_i+v)·R_{M+i-j}) / √Dh.
func TestRelativeAttentionReference(t *testing.T) {
	_, m := tinyXL(t, 3)
	l := m.layers[0]
	const B, T, M, H, Dh = 2, 4, 3, 2, 3
	const K = M + T
	q := ts.MustRandn([]int64{B, T, H * Dh}, gotch.Float, gotch.CPU)
	k := ts.MustRandn([]int64{B, K, H * Dh}, gotch.Float, gotch.CPU)
	pe := sinusoid(K, m.Cfg.DModel, gotch.CPU)
	sc, prob := m.attnScores(l, q, k, pe, B, T, K, M, gotch.CPU)
	prob.MustDrop()
	got := floats(t, sc)
	qv, kv := floats(t, q), floats(t, k)
	u, w := floats(t, l.rwBias), floats(t, l.rrBias)
	rv := floats(t, ts.MustLinear(pe, l.r, ts.NewTensor())) // row K-1-d holds distance d
	checked := 0
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < T; i++ {
				for j := 0; j < K; j++ {
					g := got[((b*H+h)*T+i)*K+j]
					if j > M+i {
						if g > -1e29 {
							t.Fatalf("future key (%d,%d) not masked: %v", i, j, g)
						}
						continue
					}
					d := M + i - j
					want := 0.0
					for e := 0; e < Dh; e++ {
						qi := qv[(b*T+i)*H*Dh+h*Dh+e]
						want += (qi + u[h*Dh+e]) * kv[(b*K+j)*H*Dh+h*Dh+e]
						want += (qi + w[h*Dh+e]) * rv[(K-1-d)*H*Dh+h*Dh+e]
					}
					want /= math.Sqrt(Dh)
					if math.Abs(g-want) > 1e-4 {
						t.Fatalf("score b%d h%d (%d,%d) = %v, want %v", b, h, i, j, g, want)
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

func TestTransformerXLMemory(t *testing.T) {
	release, err := libtorch.TrainThread()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, m := tinyXL(t, 4)
	seg1 := ts.MustOfSlice([]int64{1, 2, 3, 4, 5, 6, 7, 8}).MustView([]int64{2, 4}, true)
	seg2 := ts.MustOfSlice([]int64{9, 10, 1, 2, 3, 4, 5, 6}).MustView([]int64{2, 4}, true)
	l1, mems := m.ForwardMem(seg1, nil, true)
	l1.MustDrop()
	if len(mems) != 2 || mems[0].MustSize()[1] != 4 {
		t.Fatalf("mems: %d, want 2 of length 4", len(mems))
	}
	for _, mm := range mems {
		if mm.MustRequiresGrad() {
			t.Fatal("memory requires grad: gradients would flow into it")
		}
	}
	withMem, mems2 := m.ForwardMem(seg2, mems, true)
	noMem, _ := m.ForwardMem(seg2, nil, true)
	a, b := floats(t, withMem), floats(t, noMem)
	diff := 0.0
	for i := range a {
		diff = math.Max(diff, math.Abs(a[i]-b[i]))
	}
	if diff < 1e-4 {
		t.Errorf("logits with and without memory agree (max diff %v)", diff)
	}
	if mems2[0].MustSize()[1] != 4 {
		t.Errorf("memory length %d, want mem_len 4", mems2[0].MustSize()[1])
	}
	// Backward through the segment that used the memory: the memory gets
	// no gradient, the parameters do.
	loss := withMem.MustSum(gotch.Float, false)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	if g := mems[0].MustGrad(false); g.MustDefined() {
		t.Error("memory received a gradient")
	}
	if g := m.emb.MustGrad(false); !g.MustDefined() {
		t.Error("embedding received no gradient")
	}
}

func TestTransformerXLSites(t *testing.T) {
	_, m := tinyXL(t, 0)
	names := m.Sites().Names()
	if len(names) != 3+2*7 || names[0] != "emb" || names[1] != "pos_emb" || names[2] != "layers.0.attn.q" || names[15] != "layers.1.ff.out" || names[16] != "out" {
		t.Fatalf("sites %v", names)
	}
	// Every sublayer kind names its site in each of the 2 layers (the
	// model-wide emb, pos_emb and out: once).
	for kind, expr := range TransformerXLSiteKinds {
		re := regexp.MustCompile(expr)
		n := 0
		for _, name := range names {
			if re.MatchString(name) {
				n++
			}
		}
		if want := map[bool]int{true: 1, false: 2}[kind == "emb" || kind == "pos_emb" || kind == "out"]; n != want {
			t.Errorf("kind %s (%s) matches %d sites, want %d", kind, expr, n, want)
		}
	}
	x := ts.MustOfSlice([]int64{1, 2, 3}).MustView([]int64{1, 3}, true)
	y := m.ForwardT(x, false)
	if s := y.MustSize(); s[0] != 1 || s[1] != 3 || s[2] != 11 {
		t.Fatalf("logits shape %v", s)
	}
}
