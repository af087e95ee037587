package natsrun

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/search"
)

// TestKillWorkerAndController runs a search with a controller process
// and three worker processes; one worker is killed in the middle of a
// trial and the controller is killed and restarted with an empty output
// folder (as on another machine) once its claim on the run has lapsed.
// Every trial must end up in the journal exactly once, with a result.
func TestKillWorkerAndController(t *testing.T) {
	_, url := startServer(t, -1)
	_, js := connect(t, url)
	const run = "kills"
	train := fakeTrain(t, "0.4")
	trials := t.TempDir()
	env := []string{urlEnv + "=" + url, runEnv + "=" + run, argEnv + "=" + train}
	var workers []*proc
	for i := range 3 {
		name := "w" + strconv.Itoa(i)
		workers = append(workers, startProc(t, name, "worker", append(env, dirEnv+"="+filepath.Join(trials, name))...))
	}
	ctl := startProc(t, "controller-1", "controller", urlEnv+"="+url, runEnv+"="+run, argEnv+"="+t.TempDir())

	// Kill w0 as soon as it starts a trial.
	started := regexp.MustCompile(`worker w0: trial (\d+) of run \w+ started`)
	m := workers[0].waitLine(t, started, 30*time.Second)
	workers[0].cmd.Process.Signal(syscall.SIGKILL)
	<-workers[0].done
	lost, _ := strconv.Atoi(m[1])
	begin := time.Now()
	t.Logf("killed w0 in trial %d", lost)

	// Kill the controller once it has learned from a batch and more trials are done.
	j, err := OpenJournal(context.Background(), js, run)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := j.Events()
		if err != nil {
			t.Fatal(err)
		}
		if c := count(evs); c[search.TrialFinished] >= 5 && c[search.ControllerUpdated] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller made no progress: %v", count(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctl.cmd.Process.Signal(syscall.SIGKILL)
	<-ctl.done
	t.Logf("%v: killed the controller", time.Since(begin))
	// Its claim on the run outlives it by the TTL: a new controller is
	// refused until then, and not after.
	var held *RunHeldError
	if _, err := LockRun(context.Background(), js, run); !errors.As(err, &held) || held.Holder.PID != ctl.cmd.Process.Pid {
		t.Fatalf("controller right after the kill: %v, want a refusal naming pid %d", err, ctl.cmd.Process.Pid)
	}
	eventually(t, "the killed controller's claim to lapse", func() bool {
		l, err := LockRun(context.Background(), js, run)
		l.Release()
		return err == nil
	})
	t.Logf("%v: its claim lapsed", time.Since(begin))

	out := t.TempDir()
	ctl2 := startProc(t, "controller-2", "controller", urlEnv+"="+url, runEnv+"="+run, argEnv+"="+out)
	select {
	case <-ctl2.done:
	case <-time.After(40 * time.Second):
		t.Fatal("restarted controller did not finish")
	}
	t.Logf("%v: restarted controller done", time.Since(begin))
	if ctl2.err != nil {
		t.Fatalf("restarted controller: %v", ctl2.err)
	}
	for _, w := range workers[1:] { // a stopped worker exits cleanly
		w.cmd.Process.Signal(syscall.SIGTERM)
		<-w.done
		if w.err != nil {
			t.Errorf("%s after SIGTERM: %v", w.name, w.err)
		}
	}
	t.Logf("%v: workers stopped", time.Since(begin))

	evs, err := j.Events()
	if err != nil {
		t.Fatal(err)
	}
	finished, proposed, updates := map[int]int{}, map[int]int{}, map[int]int{}
	for _, e := range evs {
		switch e.Type {
		case search.TrialFinished:
			finished[*e.Trial]++
		case search.TrialFailed:
			t.Errorf("trial %d failed: %s", *e.Trial, e.Reason)
		case search.TrialProposed:
			proposed[*e.Trial]++
		case search.ControllerUpdated:
			updates[*e.Step]++
		}
	}
	for id := range 12 {
		if finished[id] != 1 || proposed[id] != 1 {
			t.Errorf("trial %d: proposed %d times, finished %d times; want 1 and 1", id, proposed[id], finished[id])
		}
	}
	if len(finished) != 12 {
		t.Errorf("%d trials finished, want 12", len(finished))
	}
	for step, n := range updates {
		if n != 1 {
			t.Errorf("controller update %d journaled %d times", step, n)
		}
	}
	if updates[4] != 1 {
		t.Errorf("controller updates %v: want the 4th", updates)
	}
	var sum search.Summary
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err == nil {
		err = json.Unmarshal(b, &sum)
	}
	if err != nil || sum.Finished != 12 || sum.Updates != 4 {
		t.Errorf("summary %+v, err %v: want 12 finished, 4 updates", sum, err)
	}
	results, err := resultsStream(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	r, ok, err := firstResult(context.Background(), results, run, key{lost, noRung})
	if err != nil || !ok || r.Worker == "w0" || r.Failed {
		t.Errorf("trial %d, lost with w0: result %+v (found %v, err %v); want one from another worker", lost, r, ok, err)
	} else {
		t.Logf("trial %d finished by %s at delivery %d", lost, r.Worker, r.Delivery)
	}
}

func count(evs []search.Event) map[string]int {
	c := map[string]int{}
	for _, e := range evs {
		c[e.Type]++
	}
	return c
}
