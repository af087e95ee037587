package train

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// The data-parallel tests run ranks as children of the test binary:
// TestMain turns a process whose environment holds rankVar into one rank
// of the run that the variable's JSON (a rankJob) describes.
const rankVar = "AUTODROPOUT_TEST_RANK_JOB"

func TestMain(m *testing.M) {
	if job := os.Getenv(rankVar); job != "" {
		os.Exit(rankMain(job))
	}
	os.Exit(m.Run())
}

// rankJob is one training of the data-parallel tests.
type rankJob struct {
	Batch     int
	Epochs    int
	Drop      float64       // dropout rate after the hidden layer
	Seed      int64         // the run's seed (masks only: init and order are fixed); 0 is 9
	StepDelay time.Duration // sleep in each training forward (fault test)
	State     string        // SaveState file (each epoch), and ResumeState when Resume
	Resume    bool
	Out       string // JSON of the jobOutcome (rank 0)
	// UDA adds UDA's consistency term over an unlabeled stream of 1,024
	// blobs (μ 2, no augmentation: both views are the image), each rank
	// reading its shard.
	UDA bool
	// BenchSteps, when set, times that many training steps of the
	// ConvNet on random Fashion-MNIST-sized batches (after 5 warm-up
	// steps) instead of training the MLP.
	BenchSteps int
}

// jobOutcome is what a training reports: its per-epoch training losses,
// its validation accuracy and its final parameters by name.
type jobOutcome struct {
	StepS  []float64 // BenchSteps' step times (s)
	Losses []float64
	ValAcc float64
	Params map[string][]float64
	UDA    *UDAStats // the last epoch's UDA terms (UDA jobs)
}

// rankMLP is a model without batch norm (whose per-rank statistics would
// differ from one process's by design): 16 inputs, 32 hidden units with
// dropout, 4 classes.
type rankMLP struct {
	l1, l2 *gnn.Linear
	drop   float64
	delay  time.Duration
}

func newRankMLP(vs *gnn.VarStore, drop float64) *rankMLP {
	return &rankMLP{l1: gnn.NewLinear(vs.Root().Sub("l1"), 16, 32, gnn.DefaultLinearConfig()),
		l2: gnn.NewLinear(vs.Root().Sub("l2"), 32, 4, gnn.DefaultLinearConfig()), drop: drop}
}

func (m *rankMLP) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	if train && m.delay > 0 {
		time.Sleep(m.delay)
	}
	flat := x.MustFlatten(1, -1, false)
	h := m.l1.Forward(flat)
	flat.MustDrop()
	r := h.MustRelu(true)
	if m.drop > 0 {
		r = ts.MustDropout(r, m.drop, train)
	}
	out := m.l2.Forward(r)
	r.MustDrop()
	return out
}

// blobs is a four-class task on 4×4 images: each class brightens one
// quadrant, under seeded noise.
func blobs(n int, seed int64) *data.Images {
	rng := rand.New(rand.NewSource(seed))
	im := &data.Images{Name: "blobs", N: n, C: 1, H: 4, W: 4, Classes: 4, Mean: []float32{0.5}, Std: []float32{1}}
	im.Pixels = make([]uint8, n*16)
	im.Labels = make([]int64, n)
	for i := 0; i < n; i++ {
		c := rng.Intn(4)
		im.Labels[i] = int64(c)
		for p := 0; p < 16; p++ {
			v := rng.Intn(150)
			if (p/8)*2+(p%4)/2 == c {
				v += 60
			}
			im.Pixels[i*16+p] = uint8(v)
		}
	}
	return im
}

// trainJob trains job's model on this process, as rank g (nil: alone).
func trainJob(job rankJob, g *distributed.Group) (*jobOutcome, error) {
	if g == nil { // in the test's process: one thread, as the ranks
		n := libtorch.Threads()
		if err := libtorch.SetThreads(1); err != nil {
			return nil, err
		}
		defer libtorch.SetThreads(n)
	}
	if err := libtorch.ManualSeed(3); err != nil {
		return nil, err
	}
	vs := gnn.NewVarStore(gotch.CPU)
	model := newRankMLP(vs, job.Drop)
	model.delay = job.StepDelay
	tr, err := data.NewLoader(blobs(1024, 1), data.LoaderConfig{BatchSize: job.Batch, Shuffle: true, Seed: 5,
		Shard: g.Rank(), Shards: g.World(), EvenShards: true})
	if err != nil {
		return nil, err
	}
	val, err := data.NewLoader(blobs(200, 2), data.LoaderConfig{BatchSize: 64, Shard: g.Rank(), Shards: g.World()})
	if err != nil {
		return nil, err
	}
	cfg := DefaultConfig()
	cfg.Epochs, cfg.LR, cfg.Precision, cfg.Seed, cfg.Curve, cfg.Group = job.Epochs, 0.05, libtorch.FP32, cmp.Or(job.Seed, 9), true, g
	if job.UDA {
		views, err := data.NewViewStream(blobs(1024, 3).WithoutLabels(), data.ViewConfig{BatchSize: 2 * job.Batch, Seed: 7, Shard: g.Rank(), Shards: g.World()})
		if err != nil {
			return nil, err
		}
		cfg.UDA = &UDA{Unlabeled: views, Weight: 1, Temperature: 0.4}
	}
	out := &jobOutcome{Params: map[string][]float64{}}
	if job.State != "" && g.Rank() == 0 {
		cfg.SaveEachEpoch = true
		cfg.SaveState = func(st *State) error { defer st.Drop(); return st.Save(job.State) }
	}
	if job.Resume {
		st, err := LoadState(job.State)
		if err != nil {
			return nil, err
		}
		defer st.Drop()
		cfg.Resume = st
	}
	res, err := Classifier(context.Background(), vs, model, tr, val, nil, cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range res.Curve {
		out.Losses = append(out.Losses, p.TrainLoss)
	}
	out.ValAcc, out.UDA = *res.ValAcc, res.UDA
	for name, v := range nn.Variables(vs) {
		out.Params[name] = v.Float64Values()
	}
	return out, nil
}

// rankMain is a child process's life as one rank: it exits 0 after
// writing rank 0's outcome, 1 with the error on stderr.
func rankMain(jobJSON string) int {
	var job rankJob
	if err := json.Unmarshal([]byte(jobJSON), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	err := func() (err error) {
		env, ok, err := distributed.EnvFromOS()
		if err != nil || !ok {
			return fmt.Errorf("not a rank: %v", err)
		}
		var g *distributed.Group // one process: none, as a run without --nproc
		if env.WorldSize > 1 {
			if g, err = distributed.Join(context.Background(), env, &distributed.Options{Timeout: 20 * time.Second}); err != nil {
				return err
			}
			defer func() {
				if cerr := g.Close(err); err == nil {
					err = cerr
				}
			}()
		}
		run := trainJob
		if job.BenchSteps > 0 {
			run = benchJob
		}
		out, err := run(job, g)
		if err != nil || g.Rank() != 0 || job.Out == "" {
			return err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return os.WriteFile(job.Out, b, 0o644)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startRanks starts world ranks of job as children of the test binary;
// their stderr goes to the buffers.
func startRanks(t testing.TB, job rankJob, world int) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	port, err := distributed.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var errs []*bytes.Buffer
	for r := 0; r < world; r++ {
		env := distributed.Env{Addr: "127.0.0.1", Port: port, Rank: r, WorldSize: world, LocalRank: r}
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), append(env.Vars(), rankVar+"="+string(b), "OMP_NUM_THREADS=1")...)
		var buf bytes.Buffer
		c.Stderr = &buf
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, errs = append(cmds, c), append(errs, &buf)
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
		}
	})
	return cmds, errs
}

// runRanks runs job on world ranks to the end and returns rank 0's
// outcome.
func runRanks(t *testing.T, job rankJob, world int) *jobOutcome {
	t.Helper()
	job.Out = filepath.Join(t.TempDir(), "outcome.json")
	cmds, errs := startRanks(t, job, world)
	for r, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, errs[r])
		}
	}
	b, err := os.ReadFile(job.Out)
	if err != nil {
		t.Fatal(err)
	}
	var out jobOutcome
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func skipWithoutDistributed(t *testing.T) {
	if !distributed.Available() {
		t.Skip(distributed.ErrUnavailable)
	}
}

// TestDataParallelEquivalence: two processes of batch 64 follow one
// process of batch 128 on the same data order: the same losses every
// epoch and the same final weights, within float rounding (each rank
// averages its half, the Reducer averages the halves). With UDA, the
// ranks' unlabeled shards together are the one process's unlabeled
// batches, so the same holds.
func TestDataParallelEquivalence(t *testing.T) {
	skipWithoutDistributed(t)
	for _, uda := range []bool{false, true} {
		t.Run(map[bool]string{false: "supervised", true: "uda"}[uda], func(t *testing.T) { testEquivalence(t, uda) })
	}
}

func testEquivalence(t *testing.T, uda bool) {
	one, err := trainJob(rankJob{Batch: 128, Epochs: 4, UDA: uda}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if one.Losses[3] >= one.Losses[0] {
		t.Errorf("the model did not learn: losses %v", one.Losses)
	}
	two := runRanks(t, rankJob{Batch: 64, Epochs: 4, UDA: uda}, 2)
	if len(two.Losses) != len(one.Losses) {
		t.Fatalf("%d epochs of losses on two processes, %d on one", len(two.Losses), len(one.Losses))
	}
	for e := range one.Losses {
		if d := math.Abs(two.Losses[e] - one.Losses[e]); d > 1e-4*math.Abs(one.Losses[e]) {
			t.Errorf("epoch %d: training loss %.7f on two processes, %.7f on one", e+1, two.Losses[e], one.Losses[e])
		}
	}
	if uda { // the terms are means over every rank's steps
		a, b := one.UDA, two.UDA
		if a == nil || b == nil || math.Abs(a.SupLoss-b.SupLoss) > 1e-4*a.SupLoss || math.Abs(a.UnsupLoss-b.UnsupLoss) > 1e-4*a.UnsupLoss || a.UnsupLoss == 0 {
			t.Errorf("UDA terms %+v on two processes, %+v on one", b, a)
		}
	}
	if math.Abs(two.ValAcc-one.ValAcc) > 0.01 {
		t.Errorf("validation accuracy %.4f on two processes, %.4f on one", two.ValAcc, one.ValAcc)
	}
	for _, k := range slices.Sorted(maps.Keys(one.Params)) {
		a, b := one.Params[k], two.Params[k]
		if len(a) != len(b) {
			t.Fatalf("%s: %d values on one process, %d on two", k, len(a), len(b))
		}
		for i := range a {
			if d := math.Abs(a[i] - b[i]); d > 1e-4 {
				t.Fatalf("%s[%d]: %.7f on two processes, %.7f on one", k, i, b[i], a[i])
			}
		}
	}
}

// TestDataParallelDropoutStatistically: with dropout the ranks draw their
// own masks (distributed.MaskSeed), so two processes cannot match one
// mask for mask; their loss curve must lie among one process's curves
// under other mask seeds (widened by 10%).
func TestDataParallelDropoutStatistically(t *testing.T) {
	skipWithoutDistributed(t)
	lo, hi := []float64{}, []float64{}
	for seed := int64(9); seed < 14; seed++ {
		one, err := trainJob(rankJob{Batch: 128, Epochs: 4, Drop: 0.3, Seed: seed}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for e, l := range one.Losses {
			if seed == 9 {
				lo, hi = append(lo, l), append(hi, l)
			}
			lo[e], hi[e] = min(lo[e], l), max(hi[e], l)
		}
	}
	two := runRanks(t, rankJob{Batch: 64, Epochs: 4, Drop: 0.3}, 2)
	if len(two.Losses) != len(lo) {
		t.Fatalf("%d epochs of losses on two processes, %d on one", len(two.Losses), len(lo))
	}
	t.Logf("two processes %.4f; one process %.4f … %.4f", two.Losses, lo, hi)
	for e, l := range two.Losses {
		if l < 0.9*lo[e] || l > 1.1*hi[e] {
			t.Errorf("epoch %d: training loss %.4f on two processes, outside one process's %.4f … %.4f over 5 mask seeds", e+1, l, lo[e], hi[e])
		}
	}
}

// TestDataParallelRankKilled: when one rank is killed (SIGKILL) in the
// middle of an epoch, the other stops within its timeout with an error
// naming it, and a rerun resumes from the state saved after the last
// whole epoch and finishes.
func TestDataParallelRankKilled(t *testing.T) {
	skipWithoutDistributed(t)
	state := filepath.Join(t.TempDir(), "state.ot")
	job := rankJob{Batch: 64, Epochs: 4, StepDelay: 40 * time.Millisecond, State: state}
	cmds, errs := startRanks(t, job, 2)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(state); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no state after a minute\nrank 0: %s\nrank 1: %s", errs[0], errs[1])
		}
	}
	time.Sleep(100 * time.Millisecond) // into the next epoch
	if err := cmds[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmds[1].Wait()
	done := make(chan error, 1)
	go func() { done <- cmds[0].Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("rank 0 succeeded after rank 1 was killed:\n%s", errs[0])
		}
	case <-time.After(30 * time.Second): // the 20 s timeout and the heartbeat check
		t.Fatalf("rank 0 still runs 30 s after rank 1 was killed:\n%s", errs[0])
	}
	if msg := errs[0].String(); !strings.Contains(msg, "rank 1 stopped") {
		t.Errorf("rank 0's error does not name rank 1:\n%s", msg)
	}
	st, err := LoadState(state)
	if err != nil {
		t.Fatal(err)
	}
	done1 := st.Epochs
	st.Drop()
	if done1 < 1 || done1 >= 4 {
		t.Fatalf("state after epoch %d of 4", done1)
	}
	job.Resume, job.StepDelay = true, 0
	out := runRanks(t, job, 2)
	if len(out.Losses) != 4-done1 {
		t.Errorf("the rerun trained %d epochs after resuming from epoch %d of 4", len(out.Losses), done1)
	}
}

// benchJob times job.BenchSteps steps of the ConvNet (SGD with Nesterov
// momentum, as Classifier trains it) on random batches of job.Batch
// 28×28 images, on this process or as rank g.
func benchJob(job rankJob, g *distributed.Group) (*jobOutcome, error) {
	release, err := libtorch.TrainThread() // as Classifier trains
	if err != nil {
		return nil, err
	}
	defer release()
	if err := libtorch.ManualSeed(1); err != nil {
		return nil, err
	}
	vs := gnn.NewVarStore(gotch.CPU)
	model := nn.NewConvNet(vs.Root(), 1, 28, 28, 10)
	opt, err := gnn.NewSGDConfig(0.9, 0, 5e-4, true).Build(vs, 0.05)
	if err != nil {
		return nil, err
	}
	par, err := newParallel(g, vs, 1)
	if err != nil {
		return nil, err
	}
	defer par.close()
	rng := rand.New(rand.NewSource(int64(g.Rank())))
	batches := make([]*data.Batch, 8)
	for i := range batches {
		b := &data.Batch{X: make([]float32, job.Batch*784), Y: make([]int64, job.Batch), N: job.Batch, C: 1, H: 28, W: 28}
		for j := range b.X {
			b.X[j] = float32(rng.NormFloat64())
		}
		for j := range b.Y {
			b.Y[j] = int64(rng.Intn(10))
		}
		batches[i] = b
	}
	out := &jobOutcome{}
	for i := 0; i < 5+job.BenchSteps; i++ {
		start := time.Now()
		if _, err := stepRank(model, opt, batches[i%8], gotch.CPU, nil, par); err != nil {
			return nil, err
		}
		if i >= 5 {
			out.StepS = append(out.StepS, time.Since(start).Seconds())
		}
	}
	return out, nil
}

// BenchmarkDataParallelStep times the ConvNet's training step on one
// process of batch 128 and on two of batch 64 (the same examples a step),
// one thread each; s/step is rank 0's median. Run it with a fixed count
// of steps: go test ./train -run XXX -bench DataParallel -benchtime 30x
// (scripts/ddp-bench.sh runs it beside PyTorch's DDP).
func BenchmarkDataParallelStep(b *testing.B) {
	if !distributed.Available() {
		b.Skip(distributed.ErrUnavailable)
	}
	for _, tc := range []struct {
		name         string
		world, batch int
	}{{"1x128", 1, 128}, {"2x64", 2, 64}} {
		b.Run(tc.name, func(b *testing.B) {
			job := rankJob{Batch: tc.batch, BenchSteps: b.N, Out: filepath.Join(b.TempDir(), "outcome.json")}
			b.ResetTimer()
			cmds, errs := startRanks(b, job, tc.world)
			for r, c := range cmds {
				if err := c.Wait(); err != nil {
					b.Fatalf("rank %d: %v\n%s", r, err, errs[r])
				}
			}
			b.StopTimer()
			raw, err := os.ReadFile(job.Out)
			if err != nil {
				b.Fatal(err)
			}
			var out jobOutcome
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(median(out.StepS), "s/step")
			b.ReportMetric(float64(tc.world*tc.batch)/median(out.StepS), "examples/s")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}
