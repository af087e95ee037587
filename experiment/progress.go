package experiment

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/trial"
)

// planPart is one piece of an experiment's plan: its estimated FLOPs and
// how much of it the output folder says is done (0 to 1).
type planPart struct {
	flops float64
	done  func() float64
}

// progress tells how far an experiment is through its plan, from the
// files in its output folder, and how long the rest should take at the
// pace this process has kept: a long study resumed across sessions gets
// an estimate from its own work, not from work done before it started.
type progress struct {
	parts      []planPart
	total      float64
	start      time.Time
	doneAtStrt float64
}

// newProgress builds the plan's parts (the same FLOPs estimates as
// WritePlan) for an experiment writing to out. A part whose cost cannot be
// estimated leaves progress out (nil, and no lines).
func newProgress(cfg Config, scfg search.Config, searches []searchRun, out string) *progress {
	trainCost, err1 := EstimateTask(cfg.Final.Task, false)
	finalCost, err2 := EstimateTask(cfg.Final.Task, true)
	trialCost, err3 := EstimateTask(scfg.Task, false)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil
	}
	p := &progress{start: time.Now()}
	// skipped says whether runs the experiment will not train are settled.
	training := func(runs []trainRun, flops float64, skipped func() bool) {
		for _, r := range runs {
			result := filepath.Join(r.dir, "result.json")
			p.parts = append(p.parts, planPart{flops, func() float64 {
				if _, err := os.Stat(result); err == nil || (skipped != nil && skipped()) {
					return 1
				}
				return 0
			}})
		}
	}
	training(cfg.gridTrainings(out), trainCost.Total(), nil)
	for _, label := range cfg.finalLabels() {
		var skipped func() bool
		if strings.HasSuffix(label, "-best") {
			skipped = func() bool { return noBestPattern(out, label, searches) }
		}
		training(finalRuns(out, label, trial.Regularizer{}, cfg.Final.Seeds), finalCost.Total(), skipped)
	}
	for _, sr := range searches {
		flops, err := SearchPlan(io.Discard, sr.Config, nil, 1)
		if err != nil {
			return nil
		}
		journal, budget := filepath.Join(out, sr.Dir, "journal.jsonl"), sr.Config.Budget
		p.parts = append(p.parts, planPart{flops, func() float64 { return searchDone(journal, budget) }})
	}
	training(cfg.noiseRuns(out, scfg, searches, nil), trialCost.Total(), nil)
	for _, part := range p.parts {
		p.total += part.flops
	}
	if p.total <= 0 {
		return nil
	}
	p.doneAtStrt = p.done()
	return p
}

// noBestPattern says whether every search of a family has spent its
// budget without a finished trial: the experiment then leaves the
// family's final runs out, and they count as done.
func noBestPattern(out, label string, searches []searchRun) bool {
	n := 0
	for _, sr := range searches {
		if sr.Label != label {
			continue
		}
		n++
		dir := filepath.Join(out, sr.Dir)
		if searchDone(filepath.Join(dir, "journal.jsonl"), sr.Config.Budget) < 1 {
			return false
		}
		if tops, _ := filepath.Glob(filepath.Join(dir, "top", "01-*.json")); len(tops) > 0 {
			return false
		}
	}
	return n > 0
}

// searchDone is the share of a search's budget with an outcome in its
// journal (0 without a journal).
func searchDone(journal string, budget int) float64 {
	evs, err := search.ReadJournal(journal)
	if err != nil || budget < 1 {
		return 0
	}
	ended := map[int]bool{}
	for _, e := range evs {
		if e.Trial != nil && *e.Trial < budget && (e.Type == search.TrialFinished || e.Type == search.TrialFailed || e.Type == search.TrialStopped) {
			ended[*e.Trial] = true
		}
	}
	return float64(len(ended)) / float64(budget)
}

// done is the FLOPs of the plan done so far.
func (p *progress) done() float64 {
	var d float64
	for _, part := range p.parts {
		d += part.flops * min(max(part.done(), 0), 1)
	}
	return d
}

// line says how much of the plan is done and, once this process has done
// some of it, how long the rest should take at its pace.
func (p *progress) line() string {
	if p == nil {
		return ""
	}
	d := p.done()
	s := fmt.Sprintf("experiment: %.0f%% of the plan's %s done", 100*d/p.total, flopsText(p.total))
	el := time.Since(p.start)
	if now := d - p.doneAtStrt; now > 0 && el > 0 && d < p.total {
		left := time.Duration((p.total - d) / now * float64(el))
		s += fmt.Sprintf("; about %s left at this run's pace (%s in %s)", hoursMinutes(left), flopsText(now), hoursMinutes(el))
	}
	return s
}

// hoursMinutes formats d as "4h37m", "12m" or, under a minute, "42s".
func hoursMinutes(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	m := int(d.Round(time.Minute) / time.Minute)
	if m < 60 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}
