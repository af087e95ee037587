package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search/natsrun"
)

// runWorker serves the trials of a distributed search: it takes them
// from the NATS server one at a time per slot and trains each as a child
// `autodropout train` process, like a local search does.
func runWorker(args []string) error {
	fs := newFlagSet("worker")
	url := fs.String("nats", "", "NATS server `URL`, e.g. nats://host:4222, tls://user:pass@host:4222 or nats://token@host:4222 (required)")
	run := fs.String("run", natsrun.DefaultRun, "`name` of the search run whose trials to take (search --run)")
	parallel := fs.Int("parallel", 1, "trials this worker runs at once")
	threads := fs.Int("threads", 0, "libtorch threads per trial (0: this machine's cores / --parallel)")
	binary := fs.String("binary", "", "autodropout binary that trains each trial (default: this one)")
	trials := fs.String("trials", "", "train in `DIR`/RUN/NNNN instead of the folder the controller chose (use when its --out is not on shared storage)")
	name := fs.String("name", "", "worker name in results and logs (default HOST-PID)")
	ackWait := fs.Duration("ack-wait", natsrun.DefaultAckWait, "how long a trial may go without a heartbeat before another worker gets it (set by the first worker of a run)")
	maxDeliveries := fs.Int("max-deliveries", 5, "deliveries after which a trial that never produced a result is recorded as failed")
	nopts := addNATSFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || fs.NArg() > 0 {
		return fmt.Errorf("need --nats URL (and no arguments)")
	}
	if *parallel < 1 {
		return fmt.Errorf("--parallel %d: want at least 1", *parallel)
	}
	bin, err := trainerBinary(*binary)
	if err != nil {
		return err
	}
	w := &natsrun.Worker{Run: *run, Name: *name, Parallel: *parallel, Threads: *threads, Binary: bin,
		TrialsDir: *trials, AckWait: *ackWait, MaxDeliveries: *maxDeliveries, Log: os.Stderr}
	if err := natsrun.CheckRun(w.Run); err != nil {
		return err
	}
	o, err := nopts.options("autodropout worker")
	if err != nil {
		return err
	}
	// Stop on SIGINT or SIGTERM: running trials are killed and handed back.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := natsrun.ConnectRetry(ctx, *url, o, natsrun.DefaultBackoff, "worker", os.Stderr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer drain(nc)
	fmt.Fprintf(os.Stderr, "worker: connected to %s\n", natsrun.Redact(nc.ConnectedUrl()))
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return w.Serve(ctx, js)
}
