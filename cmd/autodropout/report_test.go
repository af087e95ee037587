package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	demo := filepath.Join("..", "..", "report", "testdata", "demo")
	for _, tc := range []struct {
		name string
		args func(out string) []string
		err  string // "" for success
	}{
		{"folder first", func(out string) []string { return []string{demo, "--out", out} }, ""},
		{"flags first", func(out string) []string { return []string{"--out", out, demo} }, ""},
		{"no folder", func(out string) []string { return []string{"--out", out} }, "need a folder"},
		{"two folders", func(out string) []string { return []string{demo, "--out", out, "x"} }, "unexpected arguments"},
		{"missing folder", func(out string) []string { return []string{filepath.Join(t.TempDir(), "nope"), "--out", out} }, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.md")
			err := runReport(tc.args(out))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"r.md", "rewards.png", "controller.png"} {
				if fi, err := os.Stat(filepath.Join(filepath.Dir(out), f)); err != nil || fi.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}
