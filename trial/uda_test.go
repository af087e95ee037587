package trial

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The semi-supervised options read back from their flags and JSON, "no
// masking" (β 0 on the flag) included.
func TestSemiArgsRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{SemiSupervised: SemiSupervised{LabeledPerClass: 100}},
		{SemiSupervised: SemiSupervised{LabeledPerClass: 4, Semi: SemiUDA}},
		{SemiSupervised: SemiSupervised{LabeledPerClass: 4, Semi: SemiUDA, UDARatio: 3, UDAWeight: 2, UDATemperature: 0.5,
			UDAThreshold: -1, TSA: "exp", UDAOps: 1, UDAMagnitude: 14}},
		{SemiSupervised: SemiSupervised{LabeledPerClass: 4, Semi: SemiUDA, UDAThreshold: 0.6, TSA: "none"}},
	} {
		got, err := ParseArgs(s.Args())
		if err != nil {
			t.Errorf("%v: %v", s.Args(), err)
			continue
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("ParseArgs(%q) =\n%+v, want\n%+v", s.Args(), got, s)
		}
		b, _ := json.Marshal(s)
		var back Spec
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
			t.Errorf("JSON %s read back as %+v (%v)", b, back, err)
		}
	}
}

// Bad semi-supervised options are refused with the flag named.
func TestSemiCheck(t *testing.T) {
	uda := []string{"--labeled-per-class", "10", "--semi", "uda"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--labeled-per-class", "-1"}, "--labeled-per-class -1"},
		{[]string{"--semi", "mixmatch", "--labeled-per-class", "4"}, `--semi "mixmatch"`},
		{[]string{"--semi", "uda"}, "--semi uda needs --labeled-per-class"},
		{[]string{"--labeled-per-class", "4", "--uda-ratio", "3"}, "--uda-ratio: only --semi uda"},
		{[]string{"--tsa", "linear"}, "--tsa: only --semi uda"},
		{append(uda, "--uda-ratio", "-2"), "--uda-ratio -2"},
		{append(uda, "--uda-weight", "-1"), "--uda-weight -1"},
		{append(uda, "--uda-weight", "NaN"), "--uda-weight NaN"},
		{append(uda, "--uda-temperature", "1.5"), "--uda-temperature 1.5"},
		{append(uda, "--uda-temperature", "-0.1"), "--uda-temperature -0.1"},
		{append(uda, "--uda-threshold", "1"), "--uda-threshold 1: want β in [0, 1)"},
		{append(uda, "--tsa", "cosine"), `--tsa "cosine"`},
		{append(uda, "--uda-ops", "-1"), "--uda-ops -1"},
		{append(uda, "--uda-magnitude", "31"), "--uda-magnitude 31"},
		{[]string{"--task", "lm", "--labeled-per-class", "3"}, "--labeled-per-class: only classify"},
		{[]string{"--task", "lm", "--semi", "uda"}, "--semi: only classify"},
	} {
		_, err := ParseArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := ParseArgs(append(uda, "--uda-threshold", "0", "--tsa", "log", "--uda-temperature", "1")); err != nil {
		t.Errorf("good UDA flags refused: %v", err)
	}
}

// carve draws K labeled images per class and leaves the rest as the
// unlabeled set; too many labels, and none left over, are errors naming
// the flag.
func TestCarve(t *testing.T) {
	labels := make([]int64, 40)
	for i := range labels {
		labels[i] = int64(i % 4)
	}
	all := seqInts(40)
	s := Spec{SemiSupervised: SemiSupervised{LabeledPerClass: 3, Semi: SemiUDA}}.resolved()
	lab, un, err := s.carve(labels, 4, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(lab) != 12 || len(un) != 28 || len(slices.Concat(lab, un)) != 40 || len(slices.Compact(slices.Sorted(slices.Values(slices.Concat(lab, un))))) != 40 {
		t.Fatalf("labeled %v, unlabeled %v: want 12 labeled and the 28 others unlabeled", lab, un)
	}
	sup := Spec{SemiSupervised: SemiSupervised{LabeledPerClass: 3}}.resolved()
	if lab2, un2, err := sup.carve(labels, 4, all); err != nil || un2 != nil || !reflect.DeepEqual(lab, lab2) {
		t.Errorf("supervised on the labeled subset: %v %v %v, want the same 12 and no unlabeled set", lab2, un2, err)
	}
	for _, tc := range []struct {
		k    int
		idx  []int
		want string
	}{
		{11, all, "--labeled-per-class 11: class 0 has 10 training examples, fewer than the 11"},
		{10, all, "--labeled-per-class 10: every one of the 40 training images is labeled, so the unlabeled set is empty"},
	} {
		s.LabeledPerClass = tc.k
		if _, _, err := s.carve(labels, 4, tc.idx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("K %d: error %v, want %q", tc.k, err, tc.want)
		}
	}
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// A UDA trial and the supervised trial on its labeled subset train on the
// same labeled images; the UDA one streams the rest and records its terms.
func TestTrainUDA(t *testing.T) {
	dir := toyData(t) // 96 training images; 72 after validation
	// Labels of all 10 classes MNIST declares (the images' own task has 4).
	lbl := binary.BigEndian.AppendUint32([]byte{0, 0, 8, 1}, 96)
	for i := range 96 {
		lbl = append(lbl, byte(i%10))
	}
	if err := os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), lbl, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--data", "mnist", "--data-dir", dir, "--epochs", "2", "--batch-size", "8", "--val-frac", "0.25",
		"--seed", "3", "--threads", "1", "--labeled-per-class", "2", "--regularizer", "dropout"}
	var results []Result
	for _, extra := range [][]string{nil, {"--semi", "uda", "--uda-ratio", "2"}} {
		s, err := ParseArgs(append(append([]string{}, base...), extra...))
		if err != nil {
			t.Fatal(err)
		}
		s.Out = t.TempDir()
		if _, err := Run(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		r, err := ReadResult(s.Out)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	sup, uda := results[0], results[1]
	if sup.TrainN != 20 || uda.TrainN != 20 || sup.Steps != 6 || uda.Steps != 6 {
		t.Errorf("labeled examples %d/%d, steps %d/%d: want 20 and 6 each", sup.TrainN, uda.TrainN, sup.Steps, uda.Steps)
	}
	if sup.UnlabeledN != 0 || sup.UDA != nil || !strings.HasPrefix(sup.Semi, "supervised on 2 labeled") {
		t.Errorf("supervised: unlabeled %d, uda %+v, semi %q", sup.UnlabeledN, sup.UDA, sup.Semi)
	}
	if uda.UnlabeledN != 52 || uda.UDA == nil || !strings.HasPrefix(uda.Semi, "uda (2 labeled per class, μ 2, λ 1, τ 0.4, β 0.8") {
		t.Errorf("uda: unlabeled %d, uda %+v, semi %q", uda.UnlabeledN, uda.UDA, uda.Semi)
	}
}
