package main

import (
	"testing"
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
