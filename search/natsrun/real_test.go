package natsrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/autodropout/autodropout/search"
)

// TestRealMultiFidelityOverNATS runs
// configs/search-fashion-mnist-multifidelity-tiny.json on two workers
// that train with the real autodropout binary in folders of their own,
// so `train --resume-state` reads states that came through the server.
// With one thread per trial on one machine, a resumed training equals an
// unbroken one bit for bit, so the journal must equal the local
// executor's.
func TestRealMultiFidelityOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("trains real models")
	}
	cfg, err := search.ReadConfig("../../configs/search-fashion-mnist-multifidelity-tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	const dataDir = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dataDir); err != nil {
		t.Skip("no Fashion-MNIST:", err)
	}
	cfg.Task.DataDir, cfg.Cores, cfg.Parallel = dataDir, 2, 2 // one thread per trial
	sites := []string{"bn1", "bn2"}
	bin := filepath.Join(t.TempDir(), "autodropout")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/autodropout").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	ref := t.TempDir()
	local := &search.Search{Config: cfg, Sites: sites, Out: ref, Executor: &search.LocalExecutor{Binary: bin, Timeout: cfg.Task.TimeoutDuration()}}
	refSum, err := local.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refEvs, err := search.ReadJournal(filepath.Join(ref, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}

	_, url := startServer(t, -1)
	_, js := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const run = "real-mf"
	var log syncBuffer
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var dirs []string
	for _, name := range []string{"w1", "w2"} {
		dir := filepath.Join(t.TempDir(), name)
		dirs = append(dirs, dir)
		w := &Worker{Run: run, Name: name, Binary: bin, TrialsDir: dir, Threads: 1, AckWait: testAckWait, Log: &log}
		go w.Serve(wctx, js)
	}
	ex, err := NewExecutor(ctx, js, run, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	j, err := OpenJournal(ctx, js, run)
	if err != nil {
		t.Fatal(err)
	}
	s := &search.Search{Config: cfg, Sites: sites, Out: t.TempDir(), Executor: ex, Journal: j}
	sum, err := s.Run(ctx)
	if err != nil {
		t.Fatalf("search over NATS: %v\n%s", err, log.String())
	}
	t.Logf("summary %+v", sum)
	evs, err := j.Events()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := outcome(refEvs), outcome(evs); !reflect.DeepEqual(a, b) {
		// CPU seconds differ between runs; compare without them.
		if a, b := noCPU(a), noCPU(b); !reflect.DeepEqual(a, b) {
			t.Errorf("journal over NATS differs from the local one:\n%s\n--- local:\n%s\n--- log:\n%s", strings.Join(b, "\n"), strings.Join(a, "\n"), log.String())
		}
	}
	if sum.FullFidelity != refSum.FullFidelity || sum.Stopped != refSum.Stopped || sum.BestReward != refSum.BestReward || sum.Failures != 0 {
		t.Errorf("summary over NATS %+v, local %+v", sum, refSum)
	}
	if n := strings.Count(log.String(), "rung 1 of run "+run+" started"); n != sum.FullFidelity {
		t.Errorf("%d rung-1 starts for %d trials at full fidelity:\n%s", n, sum.FullFidelity, log.String())
	}
	for _, dir := range dirs {
		if left, _ := filepath.Glob(filepath.Join(dir, run, "*", "*.state*")); len(left) > 0 {
			t.Errorf("worker left state files: %v", left)
		}
	}
}

func noCPU(lines []string) []string {
	var out []string
	for _, l := range lines {
		if i := strings.Index(l, " cpu "); i >= 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return out
}
