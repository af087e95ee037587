package distributed

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Env is a rank's rendezvous, in torchrun's variables: the address and
// port of the store that rank 0 serves (MASTER_ADDR, MASTER_PORT), the
// process's rank among WorldSize (RANK, WORLD_SIZE) and on its machine
// (LOCAL_RANK).
type Env struct {
	Addr      string
	Port      int
	Rank      int
	WorldSize int
	LocalRank int
}

// The variables torchrun and cluster launchers set.
const (
	VarAddr      = "MASTER_ADDR"
	VarPort      = "MASTER_PORT"
	VarRank      = "RANK"
	VarWorldSize = "WORLD_SIZE"
	VarLocalRank = "LOCAL_RANK"
)

// EnvFromOS reads torchrun's variables. ok is false when WORLD_SIZE is
// unset (not launched as a rank); a variable that is set but malformed,
// or missing beside WORLD_SIZE, is an error naming it. MASTER_ADDR
// defaults to 127.0.0.1 and LOCAL_RANK to RANK.
func EnvFromOS() (env Env, ok bool, err error) {
	return envFrom(os.LookupEnv)
}

func envFrom(lookup func(string) (string, bool)) (Env, bool, error) {
	if _, ok := lookup(VarWorldSize); !ok {
		return Env{}, false, nil
	}
	env := Env{Addr: "127.0.0.1"}
	if a, ok := lookup(VarAddr); ok && a != "" {
		env.Addr = a
	}
	num := func(name, def string, dst *int) error {
		v, ok := lookup(name)
		if !ok || v == "" {
			if def == "" {
				return fmt.Errorf("%s is set but %s is not", VarWorldSize, name)
			}
			v = def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want an integer", name, v)
		}
		*dst = n
		return nil
	}
	if err := num(VarWorldSize, "", &env.WorldSize); err != nil {
		return env, true, err
	}
	if err := num(VarRank, "", &env.Rank); err != nil {
		return env, true, err
	}
	if err := num(VarPort, "", &env.Port); err != nil {
		return env, true, err
	}
	if err := num(VarLocalRank, strconv.Itoa(env.Rank), &env.LocalRank); err != nil {
		return env, true, err
	}
	return env, true, env.Check()
}

// Check reports a rendezvous that cannot work.
func (e Env) Check() error {
	switch {
	case e.WorldSize < 1:
		return fmt.Errorf("%s=%d: want at least 1", VarWorldSize, e.WorldSize)
	case e.Rank < 0 || e.Rank >= e.WorldSize:
		return fmt.Errorf("%s=%d: want 0 … %d (%s=%d)", VarRank, e.Rank, e.WorldSize-1, VarWorldSize, e.WorldSize)
	case e.Port < 1 || e.Port > 65535:
		return fmt.Errorf("%s=%d: want a port 1 … 65535", VarPort, e.Port)
	case e.Addr == "":
		return fmt.Errorf("%s is empty", VarAddr)
	}
	return nil
}

// Vars is the environment that puts a process in rank's place: torchrun's
// variables for this rendezvous.
func (e Env) Vars() []string {
	return []string{
		VarAddr + "=" + e.Addr, VarPort + "=" + strconv.Itoa(e.Port),
		VarRank + "=" + strconv.Itoa(e.Rank), VarWorldSize + "=" + strconv.Itoa(e.WorldSize),
		VarLocalRank + "=" + strconv.Itoa(e.LocalRank),
	}
}

// Options tune a group. The zero value is the defaults.
type Options struct {
	// Timeout bounds the rendezvous (every rank must arrive within it)
	// and every collective; 0 is DefaultTimeout.
	Timeout time.Duration
	// Interface is the network interface Gloo uses (GLOO_SOCKET_IFNAME,
	// as in torch.distributed); "": the variable, else the address of
	// MASTER_ADDR when it is a loopback address (all ranks on this
	// machine), else Gloo's default (the host name's address).
	Interface string
	// Heartbeat is the interval at which a rank tells the store it is
	// alive, so that a failed collective can name the rank that
	// stopped; 0 is DefaultHeartbeat.
	Heartbeat time.Duration
}

// Defaults of Options.
const (
	DefaultTimeout   = 120 * time.Second
	DefaultHeartbeat = time.Second
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Interface == "" {
		o.Interface = os.Getenv("GLOO_SOCKET_IFNAME")
	}
	return o
}

// Join meets the other ranks of env at its store and builds the Gloo
// process group; it returns when every rank has joined, or fails after
// the timeout naming the ranks that never arrived. opts nil is the
// defaults. The caller closes the group.
func Join(ctx context.Context, env Env, opts *Options) (*Group, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := env.Check(); err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	g := &Group{env: env, opts: o}
	var err error
	if g.h, err = newStore(env, o.Timeout); err != nil {
		if env.Rank == 0 {
			return nil, fmt.Errorf("rank 0: serve the rendezvous store at %s:%d: %w", env.Addr, env.Port, err)
		}
		return nil, fmt.Errorf("rank %d: reach the rendezvous store at %s:%d within %s (rank 0 serves it: has it started?): %w", env.Rank, env.Addr, env.Port, o.Timeout, err)
	}
	if g.hb, err = startHeartbeat(env, o); err != nil {
		freeGroup(g.h)
		return nil, err
	}
	if err := g.start(); err != nil {
		g.hb.stop()
		freeGroup(g.h)
		return nil, err
	}
	return g, nil
}

// start builds the process group; on failure it names the missing ranks.
func (g *Group) start() error {
	iface, host := g.opts.Interface, ""
	if ip := net.ParseIP(g.env.Addr); iface == "" && (ip != nil && ip.IsLoopback() || g.env.Addr == "localhost") {
		host = g.env.Addr
	}
	err := startGloo(g.h, iface, host)
	if err == nil {
		return nil
	}
	if missing := g.missing(); len(missing) > 0 {
		return fmt.Errorf("rank %d: rendezvous at %s:%d: %s never joined within %s: %w", g.env.Rank, g.env.Addr, g.env.Port, rankList(missing), g.opts.Timeout, err)
	}
	return fmt.Errorf("rank %d: start the Gloo process group: %w", g.env.Rank, err)
}

// missing lists the ranks that have not recorded their arrival.
func (g *Group) missing() []int {
	var out []int
	for r := 0; r < g.env.WorldSize; r++ {
		ok, err := storeCheck(g.h, "autodropout/joined/"+strconv.Itoa(r))
		if err != nil {
			return nil
		}
		if !ok {
			out = append(out, r)
		}
	}
	return out
}

// rankList names ranks: "rank 1", "ranks 1, 3".
func rankList(rs []int) string {
	if len(rs) == 1 {
		return "rank " + strconv.Itoa(rs[0])
	}
	s := "ranks "
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(r)
	}
	return s
}
