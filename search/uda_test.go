package search

import (
	"strings"
	"testing"
)

// A search task takes the semi-supervised mode from its JSON and gives it
// to every trial's Spec; bad values are refused with the field named.
func TestTaskSemiSupervised(t *testing.T) {
	c, err := ParseConfig([]byte(`{"budget": 2, "task": {"model": "wrn-16-2", "labeled_per_class": 100, "semi": "uda", "uda_ratio": 3, "tsa": "linear"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "--model wrn-16-2 --data fashion-mnist --epochs 1 --batch-size 128 --lr 0.05 --labeled-per-class 100 --semi uda --uda-ratio 3 --tsa linear"
	if got := c.Task.Spec().String(); got != want {
		t.Errorf("trial args %q, want %q", got, want)
	}
	for _, tc := range []struct{ task, want string }{
		{`{"semi": "uda"}`, "--semi uda needs --labeled-per-class"},
		{`{"labeled_per_class": 10, "semi": "uda", "uda_temperature": 2}`, "--uda-temperature 2"},
		{`{"labeled_per_class": 10, "uda_weight": 2}`, "--uda-weight: only --semi uda"},
		{`{"kind": "lm", "labeled_per_class": 10}`, "--labeled-per-class: only classify"},
	} {
		_, err := ParseConfig([]byte(`{"task": ` + tc.task + `}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "task.semi-supervised options") {
			t.Errorf("task %s: error %v, want one naming the task's semi-supervised options and %q", tc.task, err, tc.want)
		}
	}
}
