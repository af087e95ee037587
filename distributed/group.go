package distributed

/*
#include <stdint.h>
#include <stdlib.h>

// Defined in internal/gotchbuild/extra/distributed.cpp, compiled into
// gotch's C layer by gotchbuild; weak, as in package libtorch, so that a
// build against an official gotch links and reports them absent.
extern void *ad_dist_new(const char *host, int port, const char *file, int rank, int world, int64_t timeout_ms, char **err) __attribute__((weak));
extern int ad_dist_start(void *g, const char *iface, const char *gloo_host, char **err) __attribute__((weak));
extern void ad_dist_free(void *g) __attribute__((weak));
extern int ad_dist_broadcast(void *g, void **ts, int n, int root, char **err) __attribute__((weak));
extern int ad_dist_allreduce(void *g, void **ts, int n, char **err) __attribute__((weak));
extern int ad_dist_barrier(void *g, char **err) __attribute__((weak));
extern int64_t ad_store_add(void *g, const char *key, int64_t delta, char **err) __attribute__((weak));
extern int ad_store_check(void *g, const char *key, char **err) __attribute__((weak));
extern void *ad_store_client(const char *host, int port, int rank, int world, int64_t timeout_ms, char **err) __attribute__((weak));
extern void *ad_reducer_new(void *g, void **params, int n, int64_t bucket_cap_bytes, char **err) __attribute__((weak));
extern int ad_reducer_prepare_forward(void *r, char **err) __attribute__((weak));
extern int ad_reducer_prepare_backward(void *r, char **err) __attribute__((weak));
extern void ad_reducer_free(void *r) __attribute__((weak));

static int have_dist(void) {
	return ad_dist_new != 0 && ad_dist_start != 0 && ad_reducer_new != 0 && ad_store_client != 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// ErrUnavailable is returned when gotch's C layer lacks autodropout's
// distributed functions (a gotch not built by internal/gotchbuild).
var ErrUnavailable = errors.New("distributed: c10d functions not found in gotch's C layer (rebuild gotch with make setup)")

// Available reports whether this build can join a process group.
func Available() bool { return C.have_dist() != 0 }

// cerr turns a malloc'd C message into an error and frees it.
func cerr(p *C.char) error {
	if p == nil {
		return errors.New("unknown failure")
	}
	defer C.free(unsafe.Pointer(p))
	return errors.New(C.GoString(p))
}

// cTensors is a C array of the tensors' C pointers; free it with C.free.
func cTensors(tensors []*ts.Tensor) (*unsafe.Pointer, int) {
	n := len(tensors)
	arr := (*unsafe.Pointer)(C.calloc(C.size_t(max(n, 1)), C.size_t(unsafe.Sizeof(uintptr(0)))))
	s := unsafe.Slice(arr, max(n, 1))
	for i, t := range tensors {
		s[i] = t.Ctensor()
	}
	return arr, n
}

// A Group is this process's membership of a data-parallel run: its rank,
// the store the ranks met at, and the Gloo process group that carries the
// collectives. Its methods are collectives unless said otherwise: every
// rank calls them, in the same order. A Group is not safe for concurrent
// use.
type Group struct {
	h        unsafe.Pointer
	env      Env
	opts     Options
	hb       *heartbeat
	closeMu  sync.Mutex
	released bool
}

// Rank is this process's rank, 0 … World()-1; a nil Group is rank 0.
func (g *Group) Rank() int {
	if g == nil {
		return 0
	}
	return g.env.Rank
}

// World is the number of processes in the group; a nil Group is one.
func (g *Group) World() int {
	if g == nil {
		return 1
	}
	return g.env.WorldSize
}

// Env is the rendezvous the group was joined with.
func (g *Group) Env() Env { return g.env }

// Broadcast copies rank root's tensors into every rank's tensors of the
// same shapes, in place and without recording gradients, in coalesced
// buckets as DistributedDataParallel syncs a model at its start.
func (g *Group) Broadcast(tensors []*ts.Tensor, root int) error {
	arr, n := cTensors(tensors)
	defer C.free(unsafe.Pointer(arr))
	var e *C.char
	rc := C.ad_dist_broadcast(g.h, arr, C.int(n), C.int(root), &e)
	runtime.KeepAlive(tensors)
	if rc != 0 {
		return g.explain("broadcast", cerr(e))
	}
	return nil
}

// AllReduceSum replaces each tensor by its sum over the ranks, in place.
func (g *Group) AllReduceSum(tensors []*ts.Tensor) error {
	arr, n := cTensors(tensors)
	defer C.free(unsafe.Pointer(arr))
	var e *C.char
	rc := C.ad_dist_allreduce(g.h, arr, C.int(n), &e)
	runtime.KeepAlive(tensors)
	if rc != 0 {
		return g.explain("all-reduce", cerr(e))
	}
	return nil
}

// SumFloat64 returns the element-wise sum of vals over the ranks (every
// rank passes as many values), computed in float64: the way counts and
// losses are reduced for evaluation and reports.
func (g *Group) SumFloat64(vals []float64) ([]float64, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	t, err := ts.NewTensorFromData(vals, []int64{int64(len(vals))})
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	if err := g.AllReduceSum([]*ts.Tensor{t}); err != nil {
		return nil, err
	}
	out := make([]float64, len(vals))
	if err := t.CopyData(out, uint(len(vals))); err != nil {
		return nil, err
	}
	return out, nil
}

// Barrier returns when every rank has called it.
func (g *Group) Barrier() error {
	var e *C.char
	if C.ad_dist_barrier(g.h, &e) != 0 {
		return g.explain("barrier", cerr(e))
	}
	return nil
}

// Close waits for the other ranks (a barrier, so that rank 0, which serves
// the store, leaves last) and leaves the group. Not a collective when the
// group already failed: pass the error the run ends with, and Close skips
// the barrier.
func (g *Group) Close(runErr error) error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.released {
		return nil
	}
	g.released = true
	var err error
	if runErr == nil {
		err = g.Barrier()
	}
	g.hb.stop()
	C.ad_dist_free(g.h)
	g.h = nil
	return err
}

// A Reducer averages the gradients of a model's parameters over the ranks
// during backward: c10d's Reducer, the engine of PyTorch's
// DistributedDataParallel. It groups the gradients in buckets (25 MiB, the
// first 1 MiB), starts each bucket's all-reduce as soon as backward has
// filled it, and leaves the averages in the parameters' gradients when
// backward returns. Every parameter must get a gradient in every step.
type Reducer struct {
	g *Group
	h unsafe.Pointer
	// params keeps the tensors the C++ reducer holds reachable.
	params []*ts.Tensor
}

// DefaultBucketBytes is DistributedDataParallel's bucket_cap_mb (25 MiB).
const DefaultBucketBytes = 25 << 20

// NewReducer builds a reducer over params, which every rank lists in the
// same order (sort them by name: gotch's VarStore keeps a map).
// bucketBytes ≤ 0 is DefaultBucketBytes.
func (g *Group) NewReducer(params []*ts.Tensor, bucketBytes int64) (*Reducer, error) {
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes
	}
	arr, n := cTensors(params)
	defer C.free(unsafe.Pointer(arr))
	var e *C.char
	h := C.ad_reducer_new(g.h, arr, C.int(n), C.int64_t(bucketBytes), &e)
	if h == nil {
		return nil, fmt.Errorf("gradient reducer: %w", cerr(e))
	}
	return &Reducer{g: g, h: h, params: params}, nil
}

// PrepareForward starts a training step, before the forward pass; after
// the first step it rebuilds the buckets in the order the gradients came
// (a collective).
func (r *Reducer) PrepareForward() error {
	var e *C.char
	if C.ad_reducer_prepare_forward(r.h, &e) != 0 {
		return r.g.explain("gradient buckets", cerr(e))
	}
	return nil
}

// PrepareBackward arms the gradient hooks for the step's backward pass:
// call it after the forward pass, before backward.
func (r *Reducer) PrepareBackward() error {
	var e *C.char
	if C.ad_reducer_prepare_backward(r.h, &e) != 0 {
		return r.g.explain("gradient reducer", cerr(e))
	}
	return nil
}

// Close releases the reducer (not a collective).
func (r *Reducer) Close() {
	if r.h != nil {
		C.ad_reducer_free(r.h)
		r.h = nil
	}
	runtime.KeepAlive(r.params)
}

// Explain wraps an error that a collective outside this package surfaced
// (a backward pass whose gradient all-reduce failed) with what the group
// knows about its ranks.
func (g *Group) Explain(what string, err error) error { return g.explain(what, err) }

// newStore meets the other ranks at env's TCP store (rank 0 serves it).
func newStore(env Env, timeout time.Duration) (unsafe.Pointer, error) {
	host := C.CString(env.Addr)
	defer C.free(unsafe.Pointer(host))
	var e *C.char
	h := C.ad_dist_new(host, C.int(env.Port), nil, C.int(env.Rank), C.int(env.WorldSize), C.int64_t(timeout/time.Millisecond), &e)
	if h == nil {
		return nil, cerr(e)
	}
	return h, nil
}

// storeClient opens another connection to env's store.
func storeClient(env Env, timeout time.Duration) (unsafe.Pointer, error) {
	host := C.CString(env.Addr)
	defer C.free(unsafe.Pointer(host))
	var e *C.char
	h := C.ad_store_client(host, C.int(env.Port), C.int(env.Rank), C.int(env.WorldSize), C.int64_t(timeout/time.Millisecond), &e)
	if h == nil {
		return nil, cerr(e)
	}
	return h, nil
}

// startGloo builds the Gloo process group of the store h.
func startGloo(h unsafe.Pointer, iface, host string) error {
	var ci, ch *C.char
	if iface != "" {
		ci = C.CString(iface)
		defer C.free(unsafe.Pointer(ci))
	}
	if host != "" {
		ch = C.CString(host)
		defer C.free(unsafe.Pointer(ch))
	}
	var e *C.char
	if C.ad_dist_start(h, ci, ch, &e) != 0 {
		return cerr(e)
	}
	return nil
}

func freeGroup(h unsafe.Pointer) { C.ad_dist_free(h) }

// storeCheck reports whether key is in the store of h.
func storeCheck(h unsafe.Pointer, key string) (bool, error) {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var e *C.char
	rc := C.ad_store_check(h, k, &e)
	if rc < 0 {
		return false, cerr(e)
	}
	return rc == 1, nil
}

// storeAdd adds delta to the counter key of the store of h.
func storeAdd(h unsafe.Pointer, key string, delta int64) (int64, error) {
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	var e *C.char
	v := C.ad_store_add(h, k, C.int64_t(delta), &e)
	if e != nil {
		return 0, cerr(e)
	}
	return int64(v), nil
}
