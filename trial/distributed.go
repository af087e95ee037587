package trial

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/autodropout/autodropout/distributed"
)

// rankEnv is this process's place in a data-parallel run, from torchrun's
// variables: nil for a run on one process.
func rankEnv(s Spec) (*distributed.Env, error) {
	env, ok, err := distributed.EnvFromOS()
	if err != nil {
		return nil, fmt.Errorf("data-parallel rendezvous: %w", err)
	}
	if !ok || env.WorldSize <= 1 {
		if s.Nproc > 1 {
			return nil, fmt.Errorf("--nproc %d: Run trains in this process; Launch (autodropout train --nproc) starts the processes, or torchrun's variables make this process a rank", s.Nproc)
		}
		return nil, nil
	}
	if s.Task == LM {
		return nil, fmt.Errorf("%s=%d: data-parallel training is built for classify tasks, not lm", distributed.VarWorldSize, env.WorldSize)
	}
	return &env, nil
}

// rankDevice is a data-parallel rank's device: "cuda" (some GPU) becomes
// the rank's own, cuda:LOCAL_RANK, as each of torchrun's processes takes
// the GPU of its local rank; any other device is kept.
func rankDevice(device string, env *distributed.Env) string {
	if env == nil || !strings.EqualFold(device, "cuda") {
		return device
	}
	return fmt.Sprintf("cuda:%d", env.LocalRank)
}

// joinRank joins the data-parallel group of env (nil: none) and narrows s
// to what this rank does: its own GPU (rankDevice); only rank 0 prints,
// writes result.json, the checkpoint and the state. leave closes the group, given the run's
// error.
func joinRank(ctx context.Context, s *Spec, env *distributed.Env) (g *distributed.Group, leave func(error) error, err error) {
	leave = func(err error) error { return err }
	if env == nil {
		return nil, leave, nil
	}
	if g, err = distributed.Join(ctx, *env, nil); err != nil {
		return nil, leave, err
	}
	s.Device = rankDevice(s.Device, env)
	if env.Rank != 0 {
		s.Output, s.Out, s.SaveState = io.Discard, "", ""
	}
	leave = func(err error) error {
		if cerr := g.Close(err); err == nil && cerr != nil {
			return cerr
		}
		return err
	}
	return g, leave, nil
}

// Launch trains s on s.Nproc processes of this machine together
// (data-parallel; at least one): each runs `binary train ARGS` (see
// Command) as one rank, with torchrun's variables set, and Launch
// returns rank 0's result once all have exited. Rank 0 prints to
// s.Output; every rank's errors go to stderr (nil: discarded). When a
// rank fails, the error names it and how it ended (a
// *distributed.RankError); the others stop on their own within their
// timeout, naming it too, or are terminated. With s.Threads 0 each
// process takes its share of the cores. With s.Out empty, result.json
// goes to a temporary folder that Launch removes.
func Launch(ctx context.Context, binary string, s Spec, stderr io.Writer) (Result, error) {
	if err := s.Check(); err != nil {
		return Result{}, err
	}
	n := max(s.Nproc, 1)
	if s.Threads == 0 {
		s.Threads = max(1, runtime.NumCPU()/n)
	}
	if s.Out == "" {
		tmp, err := os.MkdirTemp("", "autodropout-launch-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(tmp)
		s.Out = tmp
	}
	err := distributed.Launch(ctx, n, func(env distributed.Env) *exec.Cmd {
		c := Command(ctx, binary, s)
		if env.Rank == 0 {
			c.Stdout = s.Output
		}
		c.Stderr = stderr
		return c
	}, nil)
	if err != nil {
		return Result{}, fmt.Errorf("data-parallel training on %d processes: %w", n, err)
	}
	return ReadResult(s.Out)
}
