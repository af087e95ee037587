package experiment

// A training's folder records the trial.Spec it was trained with
// (spec.json), so that a rerun of a changed configuration into the same
// folder does not count a training of the old settings as done.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/internal/strictjson"
	"github.com/autodropout/autodropout/trial"
)

// SpecFile, in a training's folder, is the trial.Spec it trains (less
// the thread count, progress interval and output folder, which do not
// change what it computes).
const SpecFile = "spec.json"

// trainSpec is the trial.Spec of r: the final task's with r's
// regularizer, seed and test split.
func trainSpec(f FinalConfig, r trainRun) trial.Spec {
	spec := f.Task.Spec()
	spec.Regularizer, spec.SkipTest, spec.Seed = r.reg, r.skipTest, r.seed
	if r.supervised { // the labeled subset alone
		spec.SemiSupervised = trial.SemiSupervised{LabeledPerClass: spec.LabeledPerClass}
	}
	return spec
}

// recorded is spec as spec.json holds it: a pattern file's patterns
// inline and compact, so that the record says what was trained even when
// the folders move (a pattern's path is under the output folder) or the
// file changes.
func recorded(spec trial.Spec) trial.Spec {
	reg := &spec.Regularizer
	if reg.Pattern != "" {
		if b, err := os.ReadFile(reg.Pattern); err == nil {
			reg.Pattern, reg.Patterns = "", b
		}
	}
	if len(reg.Patterns) > 0 {
		var c bytes.Buffer
		if json.Compact(&c, reg.Patterns) == nil {
			reg.Patterns = c.Bytes()
		}
	}
	return spec
}

// writeSpec records spec in dir before its training starts.
func writeSpec(dir string, spec trial.Spec) error {
	b, err := json.MarshalIndent(recorded(spec), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, SpecFile), append(b, '\n'))
}

// checkDone says whether the training of r that a result.json in its
// folder records is the one planned now. A folder without spec.json
// (trained before the file existed) is taken as planned.
func checkDone(f FinalConfig, r trainRun) error {
	if _, err := os.Stat(filepath.Join(r.dir, trial.ResultFile)); err != nil {
		return nil // not trained yet
	}
	b, err := os.ReadFile(filepath.Join(r.dir, SpecFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var was trial.Spec
	if err := strictjson.Decode(b, &was); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(r.dir, SpecFile), err)
	}
	if d := trial.ArgsDiff(recorded(was).Args(), recorded(trainSpec(f, r)).Args()); d != "" {
		return fmt.Errorf("%s was trained with other settings than the configuration's now (%s)", r.dir, d)
	}
	return nil
}

// checkAllDone checks every finished training of runs (checkDone) and
// names the first that differs, with how many do.
func checkAllDone(f FinalConfig, runs []trainRun, out string) error {
	var first error
	n := 0
	for _, r := range runs {
		if err := checkDone(f, r); err != nil {
			first = cmp.Or(first, err)
			n++
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("experiment: %w; %d of this stage's %d trainings in %s differ: the configuration changed since they ran. Use a new output folder, or delete those trainings' folders to train them again", first, n, len(runs), out)
}
