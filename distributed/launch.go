package distributed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"time"
)

// LaunchOptions tune Launch. The zero value is the defaults.
type LaunchOptions struct {
	// Addr is the store's address; "" is 127.0.0.1 (all ranks here).
	Addr string
	// Port is the store's port; 0 picks a free one.
	Port int
	// Grace is how long the other ranks may take to stop on their own
	// (and say why) after one has failed, before they are terminated;
	// 0 is DefaultGrace.
	Grace time.Duration
}

// DefaultGrace leaves the surviving ranks time to notice a failure and
// name the rank that stopped (a heartbeat check takes 2.5 s).
const DefaultGrace = 20 * time.Second

// A RankError is a rank's process that failed.
type RankError struct {
	Rank int
	Pid  int
	Err  error // from exec.Cmd.Wait
}

func (e *RankError) Error() string {
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("rank %d (pid %d) was killed by signal %s", e.Rank, e.Pid, ws.Signal())
		}
		return fmt.Sprintf("rank %d (pid %d) exited with status %d", e.Rank, e.Pid, ee.ExitCode())
	}
	return fmt.Sprintf("rank %d (pid %d): %v", e.Rank, e.Pid, e.Err)
}

func (e *RankError) Unwrap() error { return e.Err }

// Launch runs n ranks on this machine, as torchrun --nproc-per-node n
// does: command(env) returns rank env.Rank's command (Launch adds the
// rendezvous variables to its environment, after the command's own, or
// the process's when it has none). It returns when every rank has
// exited: nil when all succeeded, else a *RankError for the first rank
// that failed. When one fails, the others get opts.Grace to stop on
// their own, then SIGTERM, then, 5 s later, SIGKILL; ctx's end
// terminates them the same way.
func Launch(ctx context.Context, n int, command func(env Env) *exec.Cmd, opts *LaunchOptions) error {
	if n < 1 {
		return fmt.Errorf("launch %d processes: want at least 1", n)
	}
	var o LaunchOptions
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1"
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Port == 0 {
		p, err := FreePort(o.Addr)
		if err != nil {
			return err
		}
		o.Port = p
	}
	cmds, err := startRanks(n, command, o)
	if err != nil {
		return err
	}
	return waitRanks(ctx, cmds, o.Grace)
}

func startRanks(n int, command func(env Env) *exec.Cmd, o LaunchOptions) ([]*exec.Cmd, error) {
	cmds := make([]*exec.Cmd, n)
	for r := range cmds {
		env := Env{Addr: o.Addr, Port: o.Port, Rank: r, WorldSize: n, LocalRank: r}
		c := command(env)
		if c.Env == nil {
			c.Env = c.Environ()
		}
		c.Env = append(c.Env, env.Vars()...)
		if err := c.Start(); err != nil {
			for _, p := range cmds[:r] {
				p.Process.Kill()
				p.Wait()
			}
			return nil, fmt.Errorf("start rank %d: %w", r, err)
		}
		cmds[r] = c
	}
	return cmds, nil
}

type exit struct {
	rank int
	err  error
}

func waitRanks(ctx context.Context, cmds []*exec.Cmd, grace time.Duration) error {
	exits := make(chan exit, len(cmds))
	for r, c := range cmds {
		go func() { exits <- exit{r, c.Wait()} }()
	}
	var first error
	var deadline <-chan time.Time
	terminated := false
	terminate := func() {
		if terminated {
			return
		}
		terminated = true
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
		}
		time.AfterFunc(5*time.Second, func() {
			for _, c := range cmds {
				c.Process.Kill() // no effect on one already waited for
			}
		})
	}
	done := ctx.Done()
	for left := len(cmds); left > 0; {
		select {
		case x := <-exits:
			left--
			if x.err != nil && first == nil {
				first = &RankError{Rank: x.rank, Pid: cmds[x.rank].Process.Pid, Err: x.err}
				deadline = time.After(grace)
			}
		case <-deadline:
			terminate()
		case <-done:
			done = nil
			if first == nil {
				first = ctx.Err()
			}
			terminate()
		}
	}
	return first
}

// FreePort returns a TCP port that was free on addr a moment ago.
func FreePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
