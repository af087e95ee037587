package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/search/natsrun"
)

// natsOptions are the connection flags `search --nats` and `worker`
// share; the URL itself may carry user:pass@ or token@.
type natsOptions struct {
	Creds   string // --nats-creds: credentials file (JWT and NKey seed)
	TLSCA   string // --nats-tls-ca: CA certificate that signed the server's
	TLSCert string // --nats-tls-cert: client certificate (mutual TLS)
	TLSKey  string // --nats-tls-key: client key
}

// addNATSFlags defines the connection flags on fs.
func addNATSFlags(fs *flag.FlagSet) *natsOptions {
	o := &natsOptions{}
	fs.StringVar(&o.Creds, "nats-creds", "", "NATS credentials `file` (user JWT and NKey seed)")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "PEM `file` of the CA that signed the NATS server's certificate")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", "", "client certificate `file` for mutual TLS (with --nats-tls-key)")
	fs.StringVar(&o.TLSKey, "nats-tls-key", "", "client key `file` for mutual TLS")
	return o
}

func (o natsOptions) options(name string) (natsrun.Options, error) {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return natsrun.Options{}, fmt.Errorf("--nats-tls-cert and --nats-tls-key go together")
	}
	return natsrun.Options{Name: name, Creds: o.Creds, CA: o.TLSCA, Cert: o.TLSCert, Key: o.TLSKey, Log: os.Stderr}, nil
}

// natsBackend connects to the NATS server at url (retrying until it is
// up or ctx ends) and returns run's executor, journal and checkpoint
// store for a search.Search, and a function that closes them and the
// connection. The journal holds the run's controller claim until it is
// closed: a second controller of the run is refused with an error naming
// the first. The search runs its trials on `autodropout worker --run RUN`
// processes and keeps its state on the server, so it can be restarted
// anywhere with any --out.
func natsBackend(ctx context.Context, url, run string, opts natsOptions) (search.Executor, search.Journal, search.Checkpoints, func() error, error) {
	if run == "" {
		run = natsrun.DefaultRun
	}
	if err := natsrun.CheckRun(run); err != nil {
		return nil, nil, nil, nil, err
	}
	o, err := opts.options("autodropout search " + run)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	nc, err := natsrun.ConnectRetry(ctx, url, o, natsrun.DefaultBackoff, "search", os.Stderr)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fail := func(err error) (search.Executor, search.Journal, search.Checkpoints, func() error, error) {
		nc.Close()
		return nil, nil, nil, nil, fmt.Errorf("nats %s: %w", natsrun.Redact(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	// Claim the run first: a second controller is refused before it
	// touches anything (natsrun.LockRun).
	j, err := natsrun.OpenJournal(ctx, js, run)
	if err != nil {
		return fail(err)
	}
	if err := j.Lock(ctx); err != nil {
		nc.Close()
		return nil, nil, nil, nil, err
	}
	ex, err := natsrun.NewExecutor(ctx, js, run, os.Stderr)
	if err != nil {
		j.Close()
		return fail(err)
	}
	ck, err := natsrun.OpenCheckpoints(ctx, js, run)
	if err != nil {
		ex.Close()
		j.Close()
		return fail(err)
	}
	closeAll := func() error {
		ex.Close()
		j.Close()
		return drain(nc)
	}
	return ex, j, ck, closeAll, nil
}

// drain flushes what is still being sent and closes the connection.
func drain(nc *nats.Conn) error {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("nats: %w", err)
	}
	<-closed
	return nil
}
