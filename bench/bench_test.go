package bench

import (
	"reflect"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
)

// A pattern file for one WRN maps onto a deeper one by site kind within
// each group.
func TestMapPatterns(t *testing.T) {
	a := autodropout.Pattern{Size: 1, Stride: 1, Repeat: 1}
	b := autodropout.Pattern{Size: 2, Stride: 1, Repeat: 1}
	c := autodropout.Pattern{Size: 3, Stride: 1, Repeat: 1}
	file := []autodropout.SitePattern{{Site: "block1.layer.0.bn2", Pattern: a}, {Site: "block1.layer.1.bn2", Pattern: b}, {Site: "block2.layer.0.bn1", Pattern: c}}
	names := []string{"block1.layer.0.bn1", "block1.layer.0.bn2", "block1.layer.1.bn2", "block1.layer.2.bn2",
		"block2.layer.0.bn1", "block2.layer.3.bn1", "block2.layer.3.bn2", "bn1"}
	got := mapPatterns(names, file)
	want := []autodropout.SitePattern{{Site: "block1.layer.0.bn2", Pattern: a}, {Site: "block1.layer.1.bn2", Pattern: b},
		{Site: "block1.layer.2.bn2", Pattern: a}, {Site: "block2.layer.0.bn1", Pattern: c}, {Site: "block2.layer.3.bn1", Pattern: c}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestParseInput(t *testing.T) {
	for spec, want := range map[string][]int64{"wrn-16-2": {1, 28, 28}, "wrn-28-2": {3, 32, 32}, "wrn-10-1@2x5x7": {2, 5, 7}} {
		if _, in, err := parseInput(spec); err != nil || !reflect.DeepEqual(in, want) {
			t.Errorf("%s: %v, %v; want %v", spec, in, err, want)
		}
	}
	if _, _, err := parseInput("wrn-10-1@2x5"); err == nil {
		t.Error("a shape of two sides accepted")
	}
}
