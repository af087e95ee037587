package search

import (
	"strings"
	"testing"
)

func TestResolveSites(t *testing.T) {
	for _, tc := range []struct {
		task Task
		want string
		err  string
	}{
		{Task{Model: "convnet", Data: "fashion-mnist", SitesRegexp: DefaultSitesRegexp}, "bn1 bn2", ""},
		{Task{Model: "convnet", Data: "fashion-mnist", Sites: []string{"bn2"}}, "bn2", ""},
		{Task{Model: "convnet", Data: "fashion-mnist", Sites: []string{"nope"}}, "", "no dropout site"},
		{Task{Model: "convnet", Data: "fashion-mnist", SitesRegexp: "^zzz$"}, "", "no site"},
		{Task{Model: "convnet", Data: "svhn"}, "", "unknown"},
	} {
		got, err := resolveSites(tc.task)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.task, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%+v: sites %v err %v, want %s", tc.task, got, err, tc.want)
		}
	}
}

func TestSearchSpaceLM(t *testing.T) {
	for _, tc := range []struct {
		task Task
		want string
		err  string
	}{
		{Task{Kind: "lm"}, `^emb$ \.attn\.q$ \.attn\.k$ \.attn\.v$ \.attn\.prob$ \.attn\.attn_out$ \.ff\.hidden$ \.ff\.out$`, ""},
		{Task{Kind: "lm", Sites: []string{"ff_hidden", "emb"}}, `\.ff\.hidden$ ^emb$`, ""},
		{Task{Kind: "lm", Sites: []string{"pos_emb", "out"}}, `^pos_emb$ ^out$`, ""}, // not in the default space, but named
		{Task{Kind: "lm", Sites: []string{"ffn"}}, "", `kind "ffn" unknown`},
		{Task{Kind: "lm", Model: "wrn-16-2"}, "", "need transformer-xl"},
	} {
		cfg := Config{Task: tc.task}.WithDefaults()
		space, sites, err := SpaceFor(cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.task, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(sites, " ") != tc.want {
			t.Errorf("%+v: sites %v err %v, want %s", tc.task, sites, err, tc.want)
		}
		if _, ok := space.(TransformerSpace); !ok {
			t.Errorf("%+v: space %T, want a TransformerSpace", tc.task, space)
		}
	}
}

// SiteMaps measures the map each site sees: WRN-16-2 on 28×28 inputs
// halves it in groups 2 and 3 (a group's first bn1 still sees the
// previous group's map), the ConvNet's sites follow its pooling.
func TestSiteMaps(t *testing.T) {
	maps, err := SiteMaps(Task{Model: "wrn-16-2", Data: "fashion-mnist"})
	if err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string][2]int64{
		"block1.layer.0.bn1": {28, 28},
		"block2.layer.0.bn1": {28, 28},
		"block2.layer.0.bn2": {14, 14},
		"block3.layer.1.bn2": {7, 7},
		"bn1":                {7, 7},
	} {
		if got := maps[site]; got != want {
			t.Errorf("%s: map %v, want %v", site, got, want)
		}
	}
	if len(maps) != 19 { // 13 batch-norm outputs and 6 blocks' shortcuts
		t.Errorf("%d sites measured, want 19: %v", len(maps), maps)
	}
	if _, err := SiteMaps(Task{Model: "wrn-16-2", Data: "svhn"}); err == nil || !strings.Contains(err.Error(), "svhn") {
		t.Errorf("unknown dataset: err %v", err)
	}
}
