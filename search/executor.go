package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/train"
	"github.com/autodropout/autodropout/trial"
)

// A Trial is one child training: a set of patterns, a seed and the proxy
// task they are trained on.
type Trial struct {
	ID       int
	Patterns json.RawMessage // the pattern file the child trains with
	Choices  [][]int         // the controller's choices behind Patterns
	Seed     int64
	Task     Task
	Dir      string // folder for the trial's files (pattern, result, output)
	Threads  int    // libtorch threads the trial may use

	// Multi-fidelity (zero: one training of all Task.Epochs). The trial
	// trains rung Rung: from ResumeState (the previous rung's state; ""
	// at rung 0) to StopEpoch of Task.Epochs (a language model: steps of
	// Task.Steps), saving its state to SaveState; the last rung has
	// StopEpoch 0 and no SaveState.
	Rung        int
	StopEpoch   int
	ResumeState string
	SaveState   string
}

// Result is how a trial ended. Err != nil means failure, with Reason a
// short cause and Output the tail of the child's output.
type Result struct {
	Reward  float64
	Metrics map[string]float64
	Cost    Cost
	Err     error
	Output  string
}

// An Executor runs trials. Run must be safe for concurrent use; it
// reports failures in Result.Err, never by panicking.
type Executor interface {
	Run(ctx context.Context, t Trial) Result
}

// A StateStore is an Executor that keeps the rung states of
// multi-fidelity trials itself rather than (only) at their Trial paths:
// natsrun.Executor's workers store them on the server, since the next
// rung of a trial may run on another machine. Search calls
// RemoveRungStates with a batch's trials once every one of them has
// ended, when it also deletes the state files in the trial folders. An
// error only leaves states behind (disk, not results): Search reports it
// and goes on.
type StateStore interface {
	Executor
	RemoveRungStates(ctx context.Context, trials []Trial) error
}

// ExecutorFunc adapts a function to Executor (fakes, in-process runs).
type ExecutorFunc func(ctx context.Context, t Trial) Result

// Run calls f.
func (f ExecutorFunc) Run(ctx context.Context, t Trial) Result { return f(ctx, t) }

// Reward turns a trial's metrics into a reward: validation accuracy for
// classification (val_acc, in [0, 1]); for language models, which report
// val_ppl, 80/val_ppl (the paper's Transformer-XL runs reach a perplexity
// of about 55–60 on Penn Treebank, so rewards sit near 1 and a drop of
// perplexity by p% raises the reward by about p%).
func Reward(metrics map[string]float64) (float64, error) {
	if v, ok := metrics["val_acc"]; ok {
		if math.IsNaN(v) {
			return 0, errors.New("val_acc is NaN")
		}
		return v, nil
	}
	if p, ok := metrics["val_ppl"]; ok {
		if math.IsNaN(p) || p <= 0 {
			return 0, fmt.Errorf("val_ppl %v is not a perplexity", p)
		}
		return 80 / p, nil
	}
	return 0, errors.New("result has neither val_acc nor val_ppl")
}

// Spec is the trial.Spec that trains t with the pattern file pattern:
// the task's (Task.Spec) with the trial's seed, folder, threads and rung.
// No trial evaluates the test split: its reward is the validation score,
// and the test split is for final models only. The search's own space
// checked the proposal; it may differ from the default space that a
// trial checks against, so any well-formed pattern is accepted.
func (t Trial) Spec(pattern string) trial.Spec {
	s := t.Task.Spec()
	s.Pattern, s.AllowOutsideSpace, s.SkipTest = pattern, true, true
	s.Out, s.Seed, s.Threads, s.Every = t.Dir, t.Seed, max(t.Threads, 1), time.Hour
	if t.StopEpoch > 0 {
		if t.Task.Kind == "lm" {
			s.StopStep = t.StopEpoch
		} else {
			s.StopEpoch = t.StopEpoch
		}
	}
	s.SaveState, s.ResumeState = t.SaveState, t.ResumeState
	return s
}

// prepare writes the trial's pattern file in its folder, removes an
// earlier result, and returns the Spec that trains it.
func (t Trial) prepare() (trial.Spec, error) {
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return trial.Spec{}, fmt.Errorf("trial dir: %v", err)
	}
	pat := filepath.Join(t.Dir, "pattern.json")
	if err := atomicfile.Write(pat, t.Patterns); err != nil {
		return trial.Spec{}, fmt.Errorf("write pattern: %v", err)
	}
	os.Remove(filepath.Join(t.Dir, trial.ResultFile))
	if t.ResumeState != "" {
		if _, err := os.Stat(t.ResumeState); errors.Is(err, fs.ErrNotExist) {
			// The previous rung's state is gone (a search resumed on another
			// machine from its journal alone): train this rung from the
			// start. Resuming is exact, so the result is the same; the cost
			// journaled is what this run spent.
			t.ResumeState = ""
		}
	}
	return t.Spec(pat), nil
}

// LocalExecutor runs every trial as a child process of Binary, built
// from the trial's Spec (trial.Command: `Binary train ARGS`), so that a
// crash or leak in libtorch cannot reach the search and memory is
// returned after every trial. A child that exits non-zero, runs past
// Timeout, reports a diverged loss, or leaves no result.json is a
// failure. Search.Run checks the binary before the first trial (Check,
// CheckBinary): one that does not answer as autodropout is refused.
type LocalExecutor struct {
	// Binary is the autodropout binary that trains the trials (the
	// command passes its own executable); required: a program that uses
	// the search as a library names it, or runs its trials with
	// InProcess.
	Binary  string
	Timeout time.Duration // per trial; 0: none
}

const tailBytes = 2048

// Run runs the trial.
func (e *LocalExecutor) Run(ctx context.Context, t Trial) Result {
	if e.Binary == "" {
		return Result{Err: errors.New(emptyBinary)}
	}
	spec, err := t.prepare()
	if err != nil {
		return Result{Err: err}
	}
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	cmd := trial.Command(ctx, e.Binary, spec)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = RunChild(cmd)
	r := Result{Cost: Cost{WallS: time.Since(start).Seconds()}}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.Cost.CPUS = tv(ru.Utime) + tv(ru.Stime)
		}
	}
	text := out.String()
	os.WriteFile(filepath.Join(t.Dir, "output.log"), []byte(text), 0o644)
	r.Output = tail(text, tailBytes)
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return r.fail("timeout after %v", e.Timeout)
	case ctx.Err() != nil:
		return r.fail("cancelled: %v", ctx.Err())
	case strings.Contains(text, "training diverged"):
		return r.fail("training diverged (NaN or infinite loss)")
	case err != nil:
		return r.fail("child: %v", err)
	}
	res, err := trial.ReadResult(t.Dir)
	if err != nil {
		return r.fail("no result: %v", err)
	}
	return r.score(res)
}

// InProcess runs every trial in this process with trial.Run: no child
// process and no binary. It gives up the isolation of LocalExecutor: a
// crash in libtorch ends the search (which resumes from its journal), and
// trials share the process's libtorch thread count, so run one at a time
// (Config.Parallel 1). Its output goes to output.log in the trial's
// folder; a trial's CPU time is the process's during the trial.
type InProcess struct{}

// Run runs the trial.
func (InProcess) Run(ctx context.Context, t Trial) Result {
	spec, err := t.prepare()
	if err != nil {
		return Result{Err: err}
	}
	log, err := os.Create(filepath.Join(t.Dir, "output.log"))
	if err != nil {
		return Result{Err: err}
	}
	defer log.Close()
	var out lockedBuffer
	spec.Output = io.MultiWriter(log, &out)
	start, cpu0 := time.Now(), processCPU()
	res, err := trial.Run(ctx, spec)
	r := Result{Cost: Cost{WallS: time.Since(start).Seconds(), CPUS: processCPU() - cpu0}}
	r.Output = tail(out.String(), tailBytes)
	switch {
	case ctx.Err() != nil:
		return r.fail("cancelled: %v", ctx.Err())
	case errors.Is(err, train.ErrDiverged):
		return r.fail("training diverged (NaN or infinite loss)")
	case err != nil:
		return r.fail("%v", err)
	}
	return r.score(res)
}

// fail returns r failed with the reason.
func (r Result) fail(format string, a ...any) Result {
	r.Err = fmt.Errorf(format, a...)
	return r
}

// score fills r's metrics, cost and reward from the trial's result.
func (r Result) score(res trial.Result) Result {
	r.Metrics = map[string]float64{}
	if res.WallS != nil {
		r.Metrics["wall_s"] = *res.WallS
	} else {
		r.Metrics["wall_s"] = 0
	}
	for k, v := range map[string]*float64{"val_acc": res.ValAcc, "val_ppl": res.ValPPL, "test_acc": res.TestAcc} {
		if v != nil {
			r.Metrics[k] = *v
		}
	}
	r.Cost.Steps, r.Cost.Examples, r.Cost.Precision = res.Steps, res.Examples+res.Tokens, res.Precision
	var err error
	if r.Reward, err = Reward(r.Metrics); err != nil {
		return r.fail("reward: %v", err)
	}
	return r
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

// RunChild runs cmd so that it dies with its parent: a search or worker
// killed with SIGKILL leaves no orphan training on, writing into a trial
// folder another worker has taken over. Linux delivers the parent-death
// signal when the thread that started the child exits, so the goroutine
// keeps its thread until the child is gone.
//
// The child runs in a process group of its own, so Ctrl-C in a terminal
// reaches the parent only. The parent then cancels its context, which
// kills the child, and leaves the trial unfinished in the journal; if the
// child got the signal too, it could exit first and the search record an
// interrupted trial as failed.
func RunChild(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	return cmd.Run()
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
