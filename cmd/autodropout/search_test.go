package main

import (
	"strings"
	"testing"

	"github.com/autodropout/autodropout/search"
)

func TestResolveSites(t *testing.T) {
	for _, tc := range []struct {
		task search.Task
		want string
		err  string
	}{
		{search.Task{Model: "convnet", Data: "fashion-mnist", SitesRegexp: search.DefaultSitesRegexp}, "bn1 bn2", ""},
		{search.Task{Model: "convnet", Data: "fashion-mnist", Sites: []string{"bn2"}}, "bn2", ""},
		{search.Task{Model: "convnet", Data: "fashion-mnist", Sites: []string{"nope"}}, "", "no dropout site"},
		{search.Task{Model: "convnet", Data: "fashion-mnist", SitesRegexp: "^zzz$"}, "", "no site"},
		{search.Task{Model: "convnet", Data: "svhn"}, "", "unknown"},
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
		task search.Task
		want string
		err  string
	}{
		{search.Task{Kind: "lm"}, `^emb$ \.attn\.q$ \.attn\.k$ \.attn\.v$ \.attn\.prob$ \.attn\.attn_out$ \.ff\.hidden$ \.ff\.out$`, ""},
		{search.Task{Kind: "lm", Sites: []string{"ff_hidden", "emb"}}, `\.ff\.hidden$ ^emb$`, ""},
		{search.Task{Kind: "lm", Sites: []string{"ffn"}}, "", `kind "ffn" unknown`},
		{search.Task{Kind: "lm", Model: "wrn-16-2"}, "", "need transformer-xl"},
	} {
		cfg := search.Config{Task: tc.task}.WithDefaults()
		space, sites, err := searchSpace(cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err %v, want %q", tc.task, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(sites, " ") != tc.want {
			t.Errorf("%+v: sites %v err %v, want %s", tc.task, sites, err, tc.want)
		}
		if _, ok := space.(search.TransformerSpace); !ok {
			t.Errorf("%+v: space %T, want a TransformerSpace", tc.task, space)
		}
	}
}
