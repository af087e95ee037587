package trial

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// train --precision bf16 records the precision it used in result.json; a
// precision the device cannot run is refused by name.
func TestTrainPrecision(t *testing.T) {
	dir := toyData(t)
	out := t.TempDir()
	if err := runTrain([]string{"--data", "mnist", "--data-dir", dir, "--batch-size", "16", "--threads", "1",
		"--regularizer", "dropblock", "--precision", "bf16", "--out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Precision string   `json:"precision"`
		Test      *float64 `json:"test_acc"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Precision != "bf16" || res.Test == nil {
		t.Errorf("result.json: precision %q, test accuracy %v; want bf16 and an accuracy", res.Precision, res.Test)
	}
	for _, tc := range []struct{ prec, want string }{{"fp16", "bfloat16 only"}, {"half", "want fp32, bf16"}} {
		err := runTrain([]string{"--data", "mnist", "--data-dir", dir, "--threads", "1", "--precision", tc.prec})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--precision") {
			t.Errorf("--precision %s: error %v, want one naming --precision and %q", tc.prec, err, tc.want)
		}
	}
}
