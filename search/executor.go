package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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

// LocalExecutor runs every trial as a child process of Binary (the
// autodropout command): `Binary train --pattern DIR/pattern.json --out DIR ...`.
// A child that exits non-zero, runs past Timeout, reports a diverged
// loss, or leaves no result.json is a failure. Search.Run checks the
// binary before the first trial (Check): a program that embeds the
// library is not autodropout, so it must set Binary.
type LocalExecutor struct {
	Binary  string        // path of the autodropout binary (default os.Args[0], which only the command itself may rely on)
	Timeout time.Duration // per trial; 0: none
}

const tailBytes = 2048

// Run runs the trial.
func (e *LocalExecutor) Run(ctx context.Context, t Trial) Result {
	fail := func(r Result, format string, a ...any) Result {
		r.Err = fmt.Errorf(format, a...)
		return r
	}
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return fail(Result{}, "trial dir: %v", err)
	}
	pat := filepath.Join(t.Dir, "pattern.json")
	if err := atomicfile.Write(pat, t.Patterns); err != nil {
		return fail(Result{}, "write pattern: %v", err)
	}
	os.Remove(filepath.Join(t.Dir, "result.json"))
	bin := e.binary()
	args := append([]string{"train"}, t.Task.Args()...)
	// The search's own space checked the proposal; it may differ from the
	// default space that train checks against. No trial reads a test set.
	args = append(args, "--test=false", "--pattern", pat, "--allow-outside-space", "--out", t.Dir, "--seed", strconv.FormatInt(t.Seed, 10),
		"--threads", strconv.Itoa(max(t.Threads, 1)), "--progress", "1h")
	if t.ResumeState != "" {
		if _, err := os.Stat(t.ResumeState); errors.Is(err, fs.ErrNotExist) {
			// The previous rung's state is gone (a search resumed on another
			// machine from its journal alone): train this rung from the
			// start. Resuming is exact, so the result is the same; the cost
			// journaled is what this run spent.
			t.ResumeState = ""
		}
	}
	args = append(args, t.rungArgs()...)
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := RunChild(cmd)
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
		return fail(r, "timeout after %v", e.Timeout)
	case ctx.Err() != nil:
		return fail(r, "cancelled: %v", ctx.Err())
	case strings.Contains(text, "training diverged"):
		return fail(r, "training diverged (NaN or infinite loss)")
	case err != nil:
		return fail(r, "child: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(t.Dir, "result.json"))
	if err != nil {
		return fail(r, "no result: %v", err)
	}
	var res struct {
		ValAcc   *float64 `json:"val_acc"`
		ValPPL   *float64 `json:"val_ppl"`
		TestAcc  *float64 `json:"test_acc"`
		Steps    int      `json:"steps"`
		Examples int64    `json:"examples"`
		Tokens   int64    `json:"tokens"`
		WallS    float64  `json:"wall_s"`
		Prec     string   `json:"precision"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return fail(r, "result.json: %v", err)
	}
	r.Metrics = map[string]float64{"wall_s": res.WallS}
	if res.ValAcc != nil {
		r.Metrics["val_acc"] = *res.ValAcc
	}
	if res.ValPPL != nil {
		r.Metrics["val_ppl"] = *res.ValPPL
	}
	if res.TestAcc != nil {
		r.Metrics["test_acc"] = *res.TestAcc
	}
	r.Cost.Steps, r.Cost.Examples, r.Cost.Precision = res.Steps, res.Examples+res.Tokens, res.Prec
	if r.Reward, err = Reward(r.Metrics); err != nil {
		return fail(r, "reward: %v", err)
	}
	return r
}

// rungArgs are the train flags of a multi-fidelity rung.
func (t Trial) rungArgs() []string {
	var a []string
	if t.StopEpoch > 0 {
		flag := "--stop-epoch"
		if t.Task.Kind == "lm" {
			flag = "--stop-step"
		}
		a = append(a, flag, strconv.Itoa(t.StopEpoch))
	}
	if t.SaveState != "" {
		a = append(a, "--save-state", t.SaveState)
	}
	if t.ResumeState != "" {
		a = append(a, "--resume-state", t.ResumeState)
	}
	return a
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
