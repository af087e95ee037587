package distributed

import (
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// A heartbeat adds one to the store's counter autodropout/alive/RANK every
// interval, on its own connection, so that a rank whose collective failed
// can tell which ranks stopped: those whose counters no longer move.
type heartbeat struct {
	mu       sync.Mutex // guards h: the connection is not for concurrent use
	h        unsafe.Pointer
	rank     int
	interval time.Duration
	done     chan struct{}
	wg       sync.WaitGroup
}

func aliveKey(rank int) string { return "autodropout/alive/" + strconv.Itoa(rank) }

func startHeartbeat(env Env, o Options) (*heartbeat, error) {
	h, err := storeClient(env, o.Timeout)
	if err != nil {
		return nil, fmt.Errorf("rank %d: heartbeat connection to the store at %s:%d: %w", env.Rank, env.Addr, env.Port, err)
	}
	hb := &heartbeat{h: h, rank: env.Rank, interval: o.Heartbeat, done: make(chan struct{})}
	if _, err := hb.add(env.Rank, 1); err != nil {
		freeGroup(h)
		return nil, fmt.Errorf("rank %d: heartbeat: %w", env.Rank, err)
	}
	hb.wg.Add(1)
	go hb.run()
	return hb, nil
}

func (hb *heartbeat) add(rank int, delta int64) (int64, error) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.h == nil {
		return 0, fmt.Errorf("heartbeat closed")
	}
	return storeAdd(hb.h, aliveKey(rank), delta)
}

func (hb *heartbeat) run() {
	defer hb.wg.Done()
	t := time.NewTicker(hb.interval)
	defer t.Stop()
	for {
		select {
		case <-hb.done:
			return
		case <-t.C:
			if _, err := hb.add(hb.rank, 1); err != nil {
				return // the store is gone; a collective will say so
			}
		}
	}
}

func (hb *heartbeat) stop() {
	if hb == nil {
		return
	}
	select {
	case <-hb.done:
		return
	default:
	}
	close(hb.done)
	hb.wg.Wait()
	hb.mu.Lock()
	freeGroup(hb.h)
	hb.h = nil
	hb.mu.Unlock()
}

// stopped lists the other ranks whose counters did not move over 2.5
// intervals; err is set when the store cannot be reached.
func (hb *heartbeat) stopped(world int) ([]int, error) {
	read := func() ([]int64, error) {
		v := make([]int64, world)
		for r := range v {
			n, err := hb.add(r, 0)
			if err != nil {
				return nil, err
			}
			v[r] = n
		}
		return v, nil
	}
	before, err := read()
	if err != nil {
		return nil, err
	}
	time.Sleep(hb.interval * 5 / 2)
	after, err := read()
	if err != nil {
		return nil, err
	}
	var out []int
	for r := range after {
		if r != hb.rank && after[r] == before[r] {
			out = append(out, r)
		}
	}
	return out, nil
}

// explain wraps the failure of a collective with the ranks that stopped.
func (g *Group) explain(what string, err error) error {
	if g.hb == nil {
		return fmt.Errorf("rank %d: %s: %w", g.env.Rank, what, err)
	}
	dead, serr := g.hb.stopped(g.env.WorldSize)
	switch {
	case serr != nil && g.env.Rank != 0:
		return fmt.Errorf("rank %d: %s failed: rank 0 has stopped (the store it serves at %s:%d is unreachable: %v): %w", g.env.Rank, what, g.env.Addr, g.env.Port, serr, err)
	case len(dead) > 0:
		return fmt.Errorf("rank %d: %s failed: %s stopped (no heartbeat for %s): %w", g.env.Rank, what, rankList(dead), g.hb.interval*5/2, err)
	}
	return fmt.Errorf("rank %d: %s failed: %w", g.env.Rank, what, err)
}
