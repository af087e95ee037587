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
