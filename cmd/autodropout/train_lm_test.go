package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

func TestIsLMTask(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{{[]string{"--task", "lm"}, true}, {[]string{"-task=lm"}, true}, {[]string{"--model", "wrn-16-2"}, false}} {
		if got := isLMTask(c.args); got != c.want {
			t.Errorf("isLMTask(%q) = %v", c.args, got)
		}
	}
}

func TestAssignLMRegularizer(t *testing.T) {
	cfg := nn.TransformerXLConfig{NToken: 5, NLayer: 1, DModel: 4, NHead: 1, DHead: 4, DInner: 8, TgtLen: 3, Dropout: 0.1, DropAtt: 0.05}
	m, err := nn.NewTransformerXL(gnn.NewVarStore(gotch.CPU).Root(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := assignLMRegularizer(m.Sites(), "variational", "", cfg); err != nil {
		t.Fatal(err)
	}
	if m.Sites().Get("layers.0.attn.q") == nil || m.Sites().Get("layers.0.attn.prob") == nil {
		t.Error("sites left empty")
	}
	p := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(p, []byte(`[{"sites": "nothing", "pattern": {"size": 1, "stride": 1, "repeat": 1, "noise": "zero"}}]`), 0o644)
	if err := assignLMRegularizer(m.Sites(), "pattern", p, cfg); err == nil {
		t.Error("pattern matching no site: no error")
	}
	os.WriteFile(p, []byte(`[{"sites": "ff", "pattern": {"size": 0, "stride": 1, "repeat": 1, "noise": "zero"}}]`), 0o644)
	if err := assignLMRegularizer(m.Sites(), "pattern", p, cfg); err == nil {
		t.Error("invalid pattern: no error")
	}
}
