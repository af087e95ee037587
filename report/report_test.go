package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/search"
)

// The tests recompute every number from the raw files with their own
// small decoders, so a mistake in Load cannot hide in both places.

// rawTrial is one trial as the test reads the journal: a map per line.
type rawTrial struct {
	reward   float64 // NaN: failed
	failed   bool
	cpu      float64
	reason   string
	hasEnded bool
}

func readRawJournal(t *testing.T, path string) (map[int]*rawTrial, []map[string]any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trials := map[int]*rawTrial{}
	var updates []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		switch m["type"] {
		case "trial_finished", "trial_failed":
			id := int(m["trial"].(float64))
			if trials[id] != nil {
				continue
			}
			rt := &rawTrial{reward: math.NaN(), hasEnded: true}
			if m["type"] == "trial_failed" {
				rt.failed, rt.reason = true, m["reason"].(string)
			} else {
				rt.reward = m["reward"].(float64)
			}
			rt.cpu = m["cost"].(map[string]any)["cpu_s"].(float64)
			trials[id] = rt
		case "controller_updated":
			updates = append(updates, m)
		}
	}
	return trials, updates
}

func readRawResults(t *testing.T, pattern string) (test, cpu []float64) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files %s (%v)", pattern, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if v, ok := m["test_acc"].(float64); ok {
			test = append(test, v)
		} else {
			test = append(test, m["test_ppl"].(float64))
		}
		if c, ok := m["cpu_s"].(float64); ok {
			cpu = append(cpu, c)
		} else {
			cpu = append(cpu, m["wall_s"].(float64)*m["threads"].(float64))
		}
	}
	return test, cpu
}

// meanStd is the textbook two-pass mean and sample standard deviation.
func meanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestLoadSearches(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method         string
		budget, nUpd, failed int
	}{
		{"search-rl", "rl", 8, 4, 1},
		{"search-random", "random", 8, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := r.Search(tc.name)
			if s == nil {
				t.Fatalf("no search %s", tc.name)
			}
			if s.Method != tc.method || s.Budget != tc.budget || len(s.Updates) != tc.nUpd || s.Failed != tc.failed {
				t.Errorf("method %q budget %d updates %d failed %d, want %q %d %d %d", s.Method, s.Budget, len(s.Updates), s.Failed, tc.method, tc.budget, tc.nUpd, tc.failed)
			}
			raw, updates := readRawJournal(t, filepath.Join(s.Dir, "journal.jsonl"))
			ids := make([]int, 0, len(raw))
			for id := range raw {
				ids = append(ids, id)
			}
			sort.Ints(ids)
			if len(s.Trials) != len(ids) {
				t.Fatalf("%d trials, want %d", len(s.Trials), len(ids))
			}
			best, bestID, sum, n, cpu := math.Inf(-1), -1, 0.0, 0, 0.0
			var cpus []float64
			for i, id := range ids {
				rt, tr := raw[id], s.Trials[i]
				cpu += rt.cpu
				cpus = append(cpus, rt.cpu)
				if tr.ID != id || (tr.Status == Failed) != rt.failed {
					t.Errorf("trial %d: got id %d status %s", id, tr.ID, tr.Status)
				}
				if !rt.failed {
					if rt.reward > best {
						best, bestID = rt.reward, id
					}
					sum += rt.reward
					n++
					if tr.Reward != rt.reward {
						t.Errorf("trial %d: reward %v, want %v", id, tr.Reward, rt.reward)
					}
				} else if tr.Reason != rt.reason {
					t.Errorf("trial %d: reason %q, want %q", id, tr.Reason, rt.reason)
				}
				if tr.Best != best && !(math.IsInf(best, -1) && math.IsNaN(tr.Best)) {
					t.Errorf("trial %d: running best %v, want %v", id, tr.Best, best)
				}
			}
			if s.BestReward != best || s.BestTrial != bestID || !near(s.MeanReward, sum/float64(n)) {
				t.Errorf("best %v at %d, mean %v; want %v at %d, mean %v", s.BestReward, s.BestTrial, s.MeanReward, best, bestID, sum/float64(n))
			}
			sort.Float64s(cpus)
			if !near(s.CPUS, cpu) || s.TrialCPU.Min != cpus[0] || s.TrialCPU.Max != cpus[len(cpus)-1] || !near(s.TrialCPU.Mean, cpu/float64(len(cpus))) {
				t.Errorf("cpu %v %+v, want total %v, min %v, max %v", s.CPUS, s.TrialCPU, cpu, cpus[0], cpus[len(cpus)-1])
			}
			for k, u := range s.Updates {
				if u.Step != int(updates[k]["controller_step"].(float64)) || u.Baseline != updates[k]["baseline"].(float64) ||
					u.MeanReward != updates[k]["mean_reward"].(float64) || u.AfterTrial != 2*k+1 {
					t.Errorf("update %d: %+v, want %v after trial %d", k, u, updates[k], 2*k+1)
				}
			}
			if len(s.Top) != 2 || s.Top[0].Rank != 1 || s.Top[0].Reward != best || len(s.Top[0].Patterns) != 3 {
				t.Errorf("top files %+v: want 2, the first with reward %v and 3 sites", s.Top, best)
			}
			if s.Summary == nil || s.Summary.BestReward != best {
				t.Errorf("summary %+v: want best reward %v", s.Summary, best)
			}
		})
	}
}

func TestLoadTraining(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	runs := 0
	for _, g := range r.Groups {
		labels = append(labels, g.Label)
		runs += len(g.Runs)
	}
	// The result.json under search-rl/trials/ is a trial's, not a run.
	if want := "none dropout dropblock random-best autodropout-best"; strings.Join(labels, " ") != want || runs != 13 {
		t.Fatalf("groups %v with %d runs, want %s with 13", labels, runs, want)
	}
	if r.Baseline == nil || r.Baseline.Label != "none" {
		t.Fatalf("baseline %v, want none", r.Baseline)
	}
	for _, g := range r.Groups {
		test, cpu := readRawResults(t, filepath.Join("testdata", "demo", "final", g.Label, "seed-*", "result.json"))
		m, sd := meanStd(test)
		sort.Float64s(test)
		if g.TestAcc.N != len(test) || !near(g.TestAcc.Mean, m) || !near(g.TestAcc.Std, sd) || g.TestAcc.Min != test[0] || g.TestAcc.Max != test[len(test)-1] {
			t.Errorf("%s: test accuracy %+v, want n %d mean %v std %v range %v–%v", g.Label, g.TestAcc, len(test), m, sd, test[0], test[len(test)-1])
		}
		if cm, _ := meanStd(cpu); !near(g.CPU.Mean, cm) {
			t.Errorf("%s: CPU mean %v, want %v", g.Label, g.CPU.Mean, cm)
		}
		if g.CPUEstimated != (g.Label == "dropblock") {
			t.Errorf("%s: CPU estimated %v", g.Label, g.CPUEstimated)
		}
	}
	// Cost ratios: the search's journaled CPU over one none training.
	_, noneCPU := readRawResults(t, filepath.Join("testdata", "demo", "final", "none", "seed-*", "result.json"))
	baseCPU, _ := meanStd(noneCPU)
	for _, name := range []string{"search-rl", "search-random"} {
		s := r.Search(name)
		raw, _ := readRawJournal(t, filepath.Join(s.Dir, "journal.jsonl"))
		total := 0.0
		for _, rt := range raw {
			total += rt.cpu
		}
		if cr, _ := r.CostRatios(s); !near(cr, total/baseCPU) {
			t.Errorf("%s: CPU ratio %v, want %v", name, cr, total/baseCPU)
		}
	}
}

func TestLoadLM(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "lm"))
	if err != nil {
		t.Fatal(err)
	}
	s := r.Search("search")
	if s == nil || s.Summary != nil || len(s.Top) != 1 || s.Top[0].Patterns != nil || !strings.Contains(s.Top[0].Text, `"sites"`) {
		t.Fatalf("search %+v: want one Transformer top file kept as text and no summary", s)
	}
	if want := 80 / 148.0; s.BestReward != want || s.BestTrial != 2 {
		t.Errorf("best %v at %d, want %v at 2", s.BestReward, s.BestTrial, want)
	}
	g := r.Group("autodropout-best")
	if g == nil || !g.LM || g.TestPPL.Mean != 139.1 || g.ValPPL.Mean != 140.5 || !math.IsNaN(g.TestAcc.Mean) {
		t.Errorf("group %+v: want perplexities 140.5 / 139.1", g)
	}
}

func TestWrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out", "report.md")
	path, err := Write(filepath.Join("testdata", "demo"), Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if path != out {
		t.Errorf("path %s, want %s", path, out)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	r, err := Load(filepath.Join("testdata", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rewards.png", "cost.png", "controller.png", "dropped.png", "comparison.png", "masks-search-rl.png", "masks-search-random.png",
		"timed out after 30m0s", "training diverged: loss NaN at step 57", "**RL against random**"}
	for _, s := range r.Searches {
		want = append(want, fmt.Sprintf("| %.4f (%d) | %.4f |", s.BestReward, s.BestTrial, s.MeanReward))
		cr, _ := r.CostRatios(s)
		want = append(want, fmt.Sprintf("| %.2f× |", cr))
	}
	for _, g := range r.Groups {
		test, _ := readRawResults(t, filepath.Join("testdata", "demo", "final", g.Label, "seed-*", "result.json"))
		m, sd := meanStd(test)
		want = append(want, fmt.Sprintf("| %.4f ± %.4f |", m, sd))
	}
	for _, w := range want {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	// Every linked figure exists next to the report and is a PNG.
	links := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(md, -1)
	if len(links) != 7 {
		t.Errorf("%d figures linked, want 7", len(links))
	}
	for _, l := range links {
		f, err := os.Open(filepath.Join(filepath.Dir(out), l[1]))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width == 0 || cfg.Height == 0 {
			t.Errorf("%s: %v, %dx%d", l[1], err, cfg.Width, cfg.Height)
		}
	}
}

func TestWriteLM(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.md")
	if _, err := Write(filepath.Join("testdata", "lm"), Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	md := string(b)
	// Paired perplexities also relative to B's (10.70 below none's 149.80).
	for _, w := range []string{"Not a ConvNet pattern file", `"sites": "\\.ff\\.hidden$"`, "| 140.50 | 139.10 |", "| -10.70 |",
		"| relative to B |", "| `autodropout-best` | `none` | 1 | -10.7000 | -7.1% |"} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	if strings.Contains(md, "masks-") {
		t.Error("report.md links a mask picture for a Transformer search")
	}

	// With the task's recipe known (a built-in one, tgt_len 32), the
	// best pattern list becomes a table of token shares and noise
	// variances, and each trial gets its dropped share.
	dir := filepath.Join(t.TempDir(), "lm")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "lm"))); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(dir, "search", "journal.jsonl")
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"task":{"task":"lm"`), []byte(`"task":{"kind":"lm","lm_config":"configs/transformer-xl-small.json"`), 1)
	if err := os.WriteFile(journal, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the recipe comes from the built-in copy
	out = filepath.Join(t.TempDir(), "report.md")
	if _, err := Write(dir, Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out)
	md = string(b)
	for _, w := range []string{"segment length of 32 tokens",
		"| `\\.ff\\.hidden$` | tpattern(size=3 stride=2 repeat=4 noise=zero) | 37.5% | 0.60 |",
		"| `\\.attn\\.probs$` | tpattern(size=1 stride=1 repeat=8 noise=gaussian sigma=0.5 per_feature) | 25.0% | 0.06 |",
		"for a language model, the mean over its pattern list's entries"} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Searches[0].Trials[0].Dropped; math.Abs(got-0.0625) > 1e-12 { // (4/32 + 0)/2
		t.Errorf("trial 0 dropped share %v, want 0.0625", got)
	}
}

// copyTree copies testdata/demo/search-rl into a new folder to break.
func copySearch(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "s")
	src := filepath.Join("testdata", "demo", "search-rl")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestTornLastLine(t *testing.T) {
	dir := copySearch(t)
	f, err := os.OpenFile(filepath.Join(dir, "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type":"trial_finished","trial":9,"rew`)
	f.Close()
	r, err := Load(dir)
	if err != nil {
		t.Fatalf("torn last line: %v", err)
	}
	if n := len(r.Searches[0].Trials); n != 8 {
		t.Errorf("%d trials, want 8", n)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string // returns the folder to load
		want  []string                  // in the error
	}{
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, []string{"nope", "no such file"}},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, []string{"is not a folder"}},
		{"no runs", func(t *testing.T) string {
			d := t.TempDir()
			os.MkdirAll(filepath.Join(d, "a", "trials", "0001"), 0o755)
			os.WriteFile(filepath.Join(d, "a", "trials", "0001", "result.json"), []byte(`{"val_acc":0.5,"wall_s":1}`), 0o644)
			return d
		}, []string{"no search run", "result.json"}},
		{"too deep", func(t *testing.T) string {
			d := t.TempDir()
			deep := filepath.Join(d, "1", "2", "3", "4", "5")
			os.MkdirAll(deep, 0o755)
			os.WriteFile(filepath.Join(deep, "result.json"), []byte(`{"val_acc":0.5,"wall_s":1}`), 0o644)
			return d
		}, []string{"no search run"}},
		{"corrupt journal line", func(t *testing.T) string {
			d := copySearch(t)
			p := filepath.Join(d, "journal.jsonl")
			b, _ := os.ReadFile(p)
			lines := strings.SplitAfter(string(b), "\n")
			lines[2] = "{not json\n"
			os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644)
			return d
		}, []string{"journal.jsonl line 3"}},
		{"trial event without id", func(t *testing.T) string {
			d := copySearch(t)
			f, _ := os.OpenFile(filepath.Join(d, "journal.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"type":"trial_failed","reason":"x"}` + "\n")
			f.Close()
			return d
		}, []string{"journal.jsonl", "no trial id"}},
		{"malformed top file", func(t *testing.T) string {
			d := copySearch(t)
			os.WriteFile(filepath.Join(d, "top", "03-0.8000.json"), []byte(`{"patterns": [`), 0o644)
			return d
		}, []string{"03-0.8000.json", "malformed JSON"}},
		{"malformed summary", func(t *testing.T) string {
			d := copySearch(t)
			os.WriteFile(filepath.Join(d, "summary.json"), []byte(`{"method": 3}`), 0o644)
			return d
		}, []string{"summary.json"}},
		{"unreadable result.json", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "none", "seed-1")
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "result.json"), []byte(`{"val_acc": 0.8,`), 0o644)
			return filepath.Dir(filepath.Dir(d))
		}, []string{filepath.Join("none", "seed-1", "result.json")}},
		{"result.json without metrics", func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "result.json"), []byte(`{"wall_s": 3}`), 0o644)
			return d
		}, []string{"result.json", "no val_acc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.setup(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLabels(t *testing.T) {
	d := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(d, rel, "result.json")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	write("final/dropout/seed-4", `{"val_acc":0.8,"test_acc":0.79,"wall_s":10,"threads":2,"seed":1,"regularizer":"dropout(p=0.1) at 6 sites"}`)
	write("real/none", `{"val_acc":0.7,"test_acc":0.69,"wall_s":10,"cpu_s":15,"regularizer":"no regularizer"}`)
	r, err := Load(d)
	if err != nil {
		t.Fatal(err)
	}
	if g := r.Group("dropout"); g == nil || g.Runs[0].Seed != 4 || g.Runs[0].CPUS != 20 || !g.Runs[0].CPUEstimated {
		t.Errorf("seed-N run: %+v, want label dropout, seed 4 from the folder, CPU 10 s × 2 threads", g)
	}
	if g := r.Group("real/none"); g == nil || g.Runs[0].CPUS != 15 {
		t.Errorf("run in real/none: %+v, want label real/none with CPU 15", r.Groups)
	}
	// A lone run: the folder itself holds result.json.
	r, err = Load(filepath.Join(d, "real", "none"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 1 || r.Groups[0].Label != "no regularizer" {
		t.Errorf("lone run groups %+v, want one labelled by its regularizer", r.Groups)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		xs                  []float64
		mean, std, min, max float64
	}{
		{nil, math.NaN(), math.NaN(), math.NaN(), math.NaN()},
		{[]float64{2}, 2, math.NaN(), 2, 2},
		{[]float64{1, 3}, 2, math.Sqrt2, 1, 3},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7), 2, 9},
	} {
		s := Describe(tc.xs)
		same := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || near(a, b) }
		if s.N != len(tc.xs) || !same(s.Mean, tc.mean) || !same(s.Std, tc.std) || !same(s.Min, tc.min) || !same(s.Max, tc.max) {
			t.Errorf("Describe(%v) = %+v, want mean %v std %v range %v–%v", tc.xs, s, tc.mean, tc.std, tc.min, tc.max)
		}
	}
}

// Searches just started, with one trial, or with failures only still get a
// report (a search is often looked at while it runs).
func TestWriteEarlySearch(t *testing.T) {
	start := `{"type":"run_started","time":"2025-03-01T09:00:00Z","config":{"method":"rl","budget":4},"seed":1}` + "\n"
	prop := `{"type":"trial_proposed","time":"2025-03-01T09:00:01Z","trial":0,"entropy":12.5,"logprob":-11,"controller_step":0}` + "\n"
	for _, tc := range []struct {
		name, journal string
		want          []string
	}{
		{"empty journal", "", []string{"No trial has ended yet", "No RL search here", "| `s` | 0 | — | — | — | — | — | — | — |"}},
		{"started", start, []string{"No trial has ended yet", "No proposal journaled an entropy", "No controller update yet"}},
		{"proposed", start + prop, []string{"0 finished, 0 failed, 1 unfinished", "No `top/` pattern files"}},
		{"one trial", start + prop + `{"type":"trial_finished","time":"2025-03-01T09:01:01Z","trial":0,"reward":0.5,"cost":{"wall_s":60,"cpu_s":100,"steps":1,"examples":1}}` + "\n",
			[]string{"| 0.5000 (0) |", "rewards.png"}},
		{"failures only", start + prop + `{"type":"trial_failed","time":"2025-03-01T09:01:01Z","trial":0,"reason":"exit status 2","cost":{"wall_s":1,"cpu_s":1,"steps":0,"examples":0}}` + "\n",
			[]string{"| `s` | 0 | exit status 2 |", "rewards.png"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "s")
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "journal.jsonl"), []byte(tc.journal), 0o644)
			p, err := Write(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("report lacks %q:\n%s", w, b)
				}
			}
		})
	}
}

// A multi-fidelity journal: rungs add their CPU to the cost curve when
// they end, stopped trials never count as a best, and the family table
// measures the CPU to reach the full-fidelity searches' final best.
func TestMultiFidelityCost(t *testing.T) {
	root := t.TempDir()
	ev := func(s string) string { return s + "\n" }
	cost := func(cpu float64) string {
		return fmt.Sprintf(`"cost":{"wall_s":1,"cpu_s":%g,"steps":1,"examples":1}`, cpu)
	}
	prop := func(id int) string {
		return ev(fmt.Sprintf(`{"type":"trial_proposed","trial":%d,"entropy":1,"logprob":-1,"controller_step":0}`, id))
	}
	write := func(name, journal string) {
		d := filepath.Join(root, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "journal.jsonl"), []byte(journal), 0o644)
	}
	// Full fidelity: two trials of 100 CPU-s each, best 0.80.
	full := ev(`{"type":"run_started","config":{"method":"random","budget":2},"seed":1}`) + prop(0) + prop(1) +
		ev(`{"type":"trial_finished","trial":0,"reward":0.78,`+cost(100)+`}`) +
		ev(`{"type":"trial_finished","trial":1,"reward":0.80,`+cost(100)+`}`)
	write("search-random-seed1", full)
	// Multi-fidelity: rung 0 costs 10 each; trial 1 goes on (total 60, reward
	// 0.81); trial 0 stops with a controller reward of 0.9, above any
	// measured score, which must not count as a best.
	mf := ev(`{"type":"run_started","config":{"method":"random","budget":2,"multi_fidelity":{"rungs":[1,5],"reduction":2}},"seed":1}`) + prop(0) + prop(1) +
		ev(`{"type":"rung_finished","trial":0,"rung":0,"epochs":1,"reward":0.5,"metrics":{"val_acc":0.5},`+cost(10)+`}`) +
		ev(`{"type":"rung_finished","trial":1,"rung":0,"epochs":1,"reward":0.6,"metrics":{"val_acc":0.6},`+cost(10)+`}`) +
		ev(`{"type":"trial_promoted","trial":1,"rung":0}`) +
		ev(`{"type":"trial_finished","trial":1,"rung":1,"epochs":5,"reward":0.81,`+cost(60)+`}`) +
		ev(`{"type":"trial_stopped","trial":0,"rung":0,"epochs":1,"reward":0.9,`+cost(10)+`}`)
	write("search-mf-random-seed1", mf)
	r, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Search("search-mf-random-seed1")
	if !s.MultiFidelity || s.Stopped != 1 || s.Finished != 1 || s.BestReward != 0.81 || s.CPUS != 70 {
		t.Errorf("multi-fidelity search: mf %v stopped %d finished %d best %v CPU %v, want true 1 1 0.81 70", s.MultiFidelity, s.Stopped, s.Finished, s.BestReward, s.CPUS)
	}
	want := []CostPoint{{70, 0.81}, {70, 0.81}} // rung 0 of both (no best yet), trial 1's last rung (+50), the stop (+0)
	if !reflect.DeepEqual(s.Curve, want) {
		t.Errorf("curve %v, want %v", s.Curve, want)
	}
	if c := r.Search("search-random-seed1").Curve; !reflect.DeepEqual(c, []CostPoint{{100, 0.78}, {200, 0.80}}) {
		t.Errorf("full-fidelity curve %v", c)
	}
	p, err := r.Write(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	for _, w := range []string{"| `search-mf-random` | random | multi-fidelity | 1 | 0.8100 | 70.0 | 70.0 (1 of 1) | 35.0% |",
		"| `search-random` | random | full | 1 | 0.8000 | 200.0 | 200.0 (1 of 1) | 100.0% |"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("report lacks %q:\n%s", w, b)
		}
	}
}

// Runs trained with --curve get the learning-curve figure and table; runs
// without get neither.
func TestLearningCurves(t *testing.T) {
	root := t.TempDir()
	write := func(label, body string) {
		d := filepath.Join(root, label, "seed-1")
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "result.json"), []byte(body), 0o644)
	}
	write("none", `{"val_acc": 0.84, "test_acc": 0.83, "wall_s": 10, "cpu_s": 10, "seed": 1, "regularizer": "no regularizer",
		"curve": [{"epoch": 1, "train_loss": 1.2, "train_acc": 0.6, "val_acc": 0.58}, {"epoch": 2, "train_loss": 0.1, "train_acc": 1, "val_acc": 0.86},
		{"epoch": 3, "train_loss": 0.01, "train_acc": 1, "val_acc": 0.84}]}`)
	p, err := Write(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), "](curves.png)") || !strings.Contains(string(b), "| `none` | 1 | 3 | 0.8600 (2) | 0.8400 | 1.0000 | 0.0100 |") {
		t.Errorf("report lacks the learning curves:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(root, "curves.png")); err != nil {
		t.Error(err)
	}
	write("none", `{"val_acc": 0.84, "test_acc": 0.83, "wall_s": 10, "cpu_s": 10, "seed": 1}`)
	os.Remove(filepath.Join(root, "curves.png"))
	p, _ = Write(root, Options{})
	if b, _ := os.ReadFile(p); strings.Contains(string(b), "Learning curves") {
		t.Errorf("a report without curves has a learning-curve section")
	}
}

// A language model's curve (lm_curve) is drawn per step in perplexity,
// and its table says where validation perplexity was lowest and how far
// it rose after: the over-fitting the LM study must show.
func TestLMLearningCurves(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "none", "seed-1")
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "result.json"), []byte(`{"val_ppl": 120, "test_ppl": 115, "wall_s": 10, "cpu_s": 10, "seed": 1, "regularizer": "none",
		"lm_curve": [{"step": 150, "train_ppl": 70, "val_ppl": 139}, {"step": 300, "train_ppl": 40, "val_ppl": 100}, {"step": 450, "train_ppl": 20, "val_ppl": 120}]}`), 0o644)
	p, err := Write(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), "](curves.png)") || !strings.Contains(string(b), "| `none` | 1 | 450 | 100.00 (300) | 120.00 | +20.0% | 20.00 |") {
		t.Errorf("report lacks the language model's learning curve:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(root, "curves.png")); err != nil {
		t.Error(err)
	}
}

// A trial's dropped share is the mean over its sites of 1 − KeptFraction
// at the site's map of the search's model and data, and the table's ρ is
// the rank correlation of those shares with the rewards.
func TestDroppedShare(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "demo"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg search.Config
	s := r.Search("search-rl")
	if err := json.Unmarshal(s.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	maps, err := search.SiteMaps(cfg.WithDefaults().Task)
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, tr := range s.Trials {
		if tr.Patterns == nil {
			if !math.IsNaN(tr.Dropped) {
				t.Errorf("trial %d: dropped share %v without patterns", tr.ID, tr.Dropped)
			}
			continue
		}
		var sum float64
		for _, sp := range tr.Patterns {
			hw := maps[sp.Site]
			k, err := sp.Pattern.KeptFraction(hw[0], hw[1])
			if err != nil {
				t.Fatal(err)
			}
			sum += 1 - k
		}
		if want := sum / float64(len(tr.Patterns)); !near(tr.Dropped, want) {
			t.Errorf("trial %d: dropped share %v, want %v", tr.ID, tr.Dropped, want)
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("%d trials with patterns, want the demo's", checked)
	}
	var b strings.Builder
	r.markdown(&b, nil, nil, Options{})
	d, w := s.droppedPairs()
	if row := fmt.Sprintf("| `search-rl` | rl | %d | %+.2f |", len(d), Spearman(d, w)); !strings.Contains(b.String(), row) {
		t.Errorf("report lacks %q", row)
	}
}

func TestSpearman(t *testing.T) {
	for _, tc := range []struct {
		xs, ys []float64
		want   float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 0.8},
		{[]float64{1, 1, 2}, []float64{1, 2, 3}, 1.5 / math.Sqrt(3)},  // tied x share rank 1.5
		{[]float64{1, 2}, []float64{1, 2}, math.NaN()},                // too few
		{[]float64{5, 5, 5}, []float64{1, 2, 3}, math.NaN()},          // constant
		{[]float64{1, math.NaN(), 3}, []float64{1, 2, 3}, math.NaN()}, // not a number
	} {
		got := Spearman(tc.xs, tc.ys)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-12) {
			t.Errorf("Spearman(%v, %v) = %v, want %v", tc.xs, tc.ys, got, tc.want)
		}
	}
}

// RL against random over the search seeds: each RL family paired with its
// random twin by seed, over the seeds where both spent their budget (seed
// 4's RL search is short of it), with a t-interval over the seeds.
func TestRLRandomOverSeeds(t *testing.T) {
	root := t.TempDir()
	write := func(name, method string, rewards ...float64) {
		j := fmt.Sprintf(`{"type":"run_started","config":{"method":%q,"budget":2},"seed":1}`+"\n", method)
		for id, r := range rewards {
			j += fmt.Sprintf(`{"type":"trial_proposed","trial":%d,"entropy":1,"logprob":-1,"controller_step":0}`+"\n", id)
			j += fmt.Sprintf(`{"type":"trial_finished","trial":%d,"reward":%g}`+"\n", id, r)
		}
		d := filepath.Join(root, name)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "journal.jsonl"), []byte(j), 0o644)
	}
	write("search-rl-seed1", "rl", 0.7, 0.8)
	write("search-rl-seed2", "rl", 0.6, 0.9)
	write("search-rl-seed3", "rl", 0.5, 0.75)
	write("search-rl-seed4", "rl", 0.99)
	write("search-random-seed1", "random", 0.6, 0.7)
	write("search-random-seed2", "random", 0.8, 0.8)
	write("search-random-seed3", "random", 0.6, 0.6)
	write("search-random-seed4", "random", 0.1, 0.1)
	write("search-dropblock-like-rl-seed1", "rl", 0.8, 0.8) // no random twin
	r, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.markdown(&b, nil, nil, Options{})
	md := b.String()
	// Best: differences 0.10, 0.10, 0.15; mean: 0.10, −0.05, 0.025.
	want := "| `search-rl` | `search-random` | 1, 2, 3 | +0.1167 | [+0.0450, +0.1884] | yes | +0.0250 | [-0.1613, +0.2113] | no: the interval contains 0 |"
	if !strings.Contains(md, want) {
		t.Errorf("report lacks %q:\n%s", want, md)
	}
	if strings.Contains(md, "| `search-dropblock-like-rl` | ") && strings.Contains(md, "`search-dropblock-like-random`") {
		t.Errorf("a family without a random twin got a row:\n%s", md)
	}
}
