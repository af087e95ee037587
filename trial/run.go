package trial

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/autodropout/autodropout/internal/runlock"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
)

// Run trains s in this process: it reads the data, builds the model,
// puts the regularizer on its sites, trains and evaluates, and, when
// s.Out is set, writes result.json (and a classifier's model.ot) there.
// It returns what result.json holds. While it runs it holds the lock of
// s.Out (package internal/runlock): a second training into the folder,
// in another process or this one, is refused with an error naming the
// process that holds it; the kernel drops the lock when that process dies.
//
// Run sets process-wide libtorch state: the intra-op thread count
// (s.Threads) and the generators' seed. It keeps its goroutine on one OS
// thread while it runs, as libtorch's thread count is per thread. A
// trial that must not share a process (a crash in libtorch ends the
// process) runs in a child: see Command.
func Run(ctx context.Context, s Spec) (Result, error) {
	if err := s.Check(); err != nil {
		return Result{}, err
	}
	env, err := rankEnv(s)
	if err != nil {
		return Result{}, err
	}
	lock := s.Out
	if env != nil && env.Rank != 0 { // rank 0 alone writes there
		lock = ""
	}
	unlock, err := lockOut(lock)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := s.resolved()
	if r.Output == nil {
		r.Output = io.Discard
	}
	if r.Task == LM {
		return runLM(ctx, r)
	}
	return runClassify(ctx, r, env)
}

// setup applies the device, thread count and seed of a resolved spec.
func (s Spec) setup() (gotch.Device, int, error) {
	dev, err := parseDevice(s.Device, true)
	if err != nil {
		return dev, 0, err
	}
	n, err := libtorch.ThreadsFromEnv(fmt.Sprint(s.Threads))
	if err != nil {
		return dev, 0, fmt.Errorf("--threads: %w", err)
	}
	if err := libtorch.SetThreads(n); err != nil {
		return dev, 0, err
	}
	return dev, n, libtorch.ManualSeed(s.Seed)
}

// parseDevice reads a --device value; with probe, a CUDA device must be
// present.
func parseDevice(s string, probe bool) (gotch.Device, error) {
	parse := libtorch.ParseDeviceName
	if probe {
		parse = libtorch.ParseDevice
	}
	d, err := parse(s)
	if err != nil {
		return gotch.CPU, fmt.Errorf("--%w", err) // the flag's name
	}
	return d, nil
}

// patternBytes is the patterns' JSON and a name for messages: the
// --pattern file's, or the inline --patterns.
func (r Regularizer) patternBytes() ([]byte, string, error) {
	if len(r.Patterns) > 0 {
		return r.Patterns, "--patterns", nil
	}
	b, err := os.ReadFile(r.Pattern)
	if err != nil {
		return nil, r.Pattern, fmt.Errorf("--pattern: %w", err)
	}
	return b, r.Pattern, nil
}

// identity names the run a state belongs to: the seed, the length
// planned (key), and a hash of line, the options that change the
// numbers, followed by the content of each of files.
func identity(seed int64, key string, length int, line string, files ...[]byte) map[string]string {
	h := sha256.New()
	h.Write([]byte(line))
	for _, b := range files {
		h.Write(b)
	}
	return map[string]string{"seed": fmt.Sprint(seed), key: fmt.Sprint(length), "flags": hex.EncodeToString(h.Sum(nil))}
}

// cpuSeconds is the CPU time (user + system) the process has used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func ptr[T any](v T) *T { return &v }

// Command is the child process that runs s: `binary train ARGS` with
// ARGS = s.Args(), binary an autodropout command (the command passes its
// own executable). s.Output is not passed: the child prints to the
// command's Stdout and Stderr.
func Command(ctx context.Context, binary string, s Spec) *exec.Cmd {
	return exec.CommandContext(ctx, binary, append([]string{"train"}, s.Args()...)...)
}

// lockOut makes a training's Out folder and locks it until Run ends
// (package runlock), rather than two trainings both writing result.json
// and model.ot. No Out: nothing to lock.
func lockOut(out string) (unlock func(), err error) {
	if out == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	l, err := runlock.Acquire(out)
	if err != nil {
		return nil, fmt.Errorf("--out %w", err)
	}
	return func() { l.Release() }, nil
}
