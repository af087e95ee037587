package nn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The dropout baseline is the reference's placement with its two rates:
// dropout on the embeddings, the attention output, inside and after the
// feed-forward sublayer and on the final output; dropatt on the attention
// probabilities; nothing on queries, keys and values.
func TestSetLMRegularizerPlacement(t *testing.T) {
	cfg := TransformerXLConfig{NToken: 5, NLayer: 2, DModel: 4, NHead: 1, DHead: 4, DInner: 8, TgtLen: 3, Dropout: 0.65, DropAtt: 0.05}
	type want struct {
		kind string // "dropout", "variational" or "" (empty)
		p    float64
	}
	for _, reg := range []string{"dropout", "variational"} {
		m, err := NewTransformerXL(gnn.NewVarStore(gotch.CPU).Root(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := SetLMRegularizer(m.Sites(), reg, "", cfg); err != nil {
			t.Fatal(err)
		}
		seq := want{reg, 0.65}
		for _, c := range []struct {
			site string
			want want
		}{
			{"emb", seq},
			{"pos_emb", want{"dropout", 0.65}},
			{"layers.0.attn.q", want{}},
			{"layers.0.attn.k", want{}},
			{"layers.1.attn.v", want{}},
			{"layers.0.attn.prob", want{"dropout", 0.05}},
			{"layers.1.attn.attn_out", seq},
			{"layers.0.ff.hidden", seq},
			{"layers.1.ff.out", seq},
			{"out", seq},
		} {
			var got want
			switch d := m.Sites().Get(c.site).(type) {
			case nil:
			case *autodropout.Dropout:
				got = want{"dropout", d.P}
			case *autodropout.VariationalDropout:
				got = want{"variational", d.P}
			default:
				t.Fatalf("%s: %s: unexpected module %T", reg, c.site, d)
			}
			if got != c.want {
				t.Errorf("%s: site %s has %+v, want %+v", reg, c.site, got, c.want)
			}
		}
		// The model still runs with every site regularized.
		x := ts.MustOnes([]int64{2, 3}, gotch.Int64, gotch.CPU)
		m.ForwardT(x, true).MustDrop()
		x.MustDrop()
	}
}

func TestSetLMRegularizerErrors(t *testing.T) {
	cfg := TransformerXLConfig{NToken: 5, NLayer: 1, DModel: 4, NHead: 1, DHead: 4, DInner: 8, TgtLen: 3, Dropout: 0.1}
	m, err := NewTransformerXL(gnn.NewVarStore(gotch.CPU).Root(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "p.json")
	for _, c := range []struct{ name, reg, file string }{
		{"pattern matching no site", "pattern", `[{"sites": "nothing", "pattern": {"size": 1, "stride": 1, "repeat": 1, "noise": "zero"}}]`},
		{"invalid pattern", "pattern", `[{"sites": "ff", "pattern": {"size": 0, "stride": 1, "repeat": 1, "noise": "zero"}}]`},
		{"unknown regularizer", "dropblock", ``},
	} {
		os.WriteFile(p, []byte(c.file), 0o644)
		if err := SetLMRegularizer(m.Sites(), c.reg, p, cfg); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
