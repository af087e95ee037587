package main

import (
	"strings"
	"testing"
)

// The command line follows the usual conventions: help on stdout with exit
// 0 for the tool and every command, one line on stderr with a suggestion
// and exit 2 for a mistyped command or flag.
func TestCLIConventions(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     []string // substrings
		stderr     string   // substring; "" means stderr must be empty
		stderrLine bool     // stderr is a single line
	}{
		{[]string{"-h"}, 0, []string{"Commands:", "train", "version"}, "", false},
		{[]string{"help"}, 0, []string{"Commands:"}, "", false},
		{[]string{"help", "search"}, 0, []string{"autodropout search: search dropout patterns", "-config"}, "", false},
		{[]string{"train", "-h"}, 0, []string{"autodropout train: train a model", "-drop-rate", "Language models (--task lm):", "-eval-tokens"}, "", false},
		{[]string{"experiment", "--help"}, 0, []string{"autodropout experiment:", "-dry-run"}, "", false},
		{[]string{"show", "-h"}, 0, []string{"usage: autodropout show", "-png"}, "", false},
		{[]string{"trian"}, 2, nil, `unknown command "trian" (did you mean "train"?)`, true},
		{[]string{"train", "--epoch", "3"}, 2, nil, `unknown flag -epoch (did you mean "epochs"?)`, true},
		{[]string{"search", "--confg", "x.json"}, 2, nil, `(did you mean "config"?)`, true},
		{[]string{"train", "--epochs", "x"}, 2, nil, `invalid value "x" for flag -epochs`, true},
		{[]string{"train", "--zzzzzz"}, 2, nil, "unknown flag -zzzzzz (run", true},
		{[]string{"train", "--task", "lm", "--epochs", "3"}, 1, nil, "--epochs: only classify tasks read it, not lm", true},
	} {
		var out, errb strings.Builder
		code := run(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		for _, s := range tc.stdout {
			if !strings.Contains(out.String(), s) {
				t.Errorf("%q: stdout lacks %q:\n%s", tc.args, s, out.String())
			}
		}
		switch {
		case tc.stderr == "" && errb.Len() > 0:
			t.Errorf("%q: stderr %q, want none", tc.args, errb.String())
		case tc.stderr != "" && !strings.Contains(errb.String(), tc.stderr):
			t.Errorf("%q: stderr %q, want %q", tc.args, errb.String(), tc.stderr)
		case tc.stderrLine && strings.Count(strings.TrimSpace(errb.String()), "\n") > 0:
			t.Errorf("%q: stderr has several lines:\n%s", tc.args, errb.String())
		}
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"train", "search", "show", "space", "worker", "experiment", "report", "bench", "env", "version"}
	for _, tc := range []struct{ in, want string }{
		{"trian", "train"}, {"serach", "search"}, {"experimnet", "experiment"}, {"exp", "experiment"},
		{"xyzzy", ""}, {"benchmark", ""}, {"versoin", "version"},
	} {
		got := didYouMean(tc.in, names)
		if (tc.want == "") != (got == "") || tc.want != "" && !strings.Contains(got, `"`+tc.want+`"`) {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
