package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/autodropout/autodropout/dashboard"
)

// runDashboard serves the live dashboard over run folders (see package
// dashboard) until interrupted.
func runDashboard(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveDashboard(ctx, args, os.Stdout)
}

// serveDashboard serves until ctx ends, writing the page's URL to w once
// it listens.
func serveDashboard(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlagSet("dashboard")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on; the default takes connections from this machine only (reach it from elsewhere through an SSH tunnel: ssh -L 8080:127.0.0.1:8080 HOST)")
	stale := fs.Duration("stale", 0, "how long a search may leave its journal untouched and still count as running (0: its trial timeout plus 2m, else 10m)")
	size := fs.Int("map-size", 0, "side of the feature map the mask pictures draw when the dataset does not say (default 32)")
	channels := fs.Int("channels", 8, "channels per site in the mask pictures")
	natsURL := fs.String("nats", "", "also show searches kept on this NATS JetStream server (nats://[user:pass@]host:4222), read from their journal streams")
	runs := fs.String("run", "", "with --nats: the runs to show, comma-separated (default \"default\")")
	nopts := addNATSFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout dashboard [--addr 127.0.0.1:8080] [--nats URL --run NAME[,NAME]] DIR...\n\nServes a read-only, live web page over search runs (journal.jsonl), experiments and studies\n(result.json, report.md) found up to 4 folders below each DIR.")
		fs.PrintDefaults()
	}
	// Accept folders before, between and after the flags.
	var dirs []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(dirs) == 0 && *natsURL == "" {
		fs.Usage()
		return fmt.Errorf("need at least one run folder, or --nats URL --run NAME")
	}
	if *runs != "" && *natsURL == "" {
		return fmt.Errorf("--run names a run on a NATS server: give --nats URL too")
	}
	opt := &dashboard.Options{Stale: *stale, MapSize: *size, Channels: *channels, Hosts: dashboard.LoopbackHosts(*addr)}
	if *natsURL != "" {
		conn, err := nopts.options("autodropout dashboard")
		if err != nil {
			return err
		}
		names := strings.Split(*runs, ",")
		for _, r := range names {
			opt.NATS = append(opt.NATS, dashboard.NATSRun{URL: *natsURL, Run: strings.TrimSpace(r), Conn: conn})
		}
	}
	s, err := dashboard.New(dirs, opt)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(w, "dashboard of %d folder(s) and %d NATS run(s) at http://%s/ (Ctrl-C stops it)\n", len(dirs), len(opt.NATS), ln.Addr())
	return dashboard.Serve(ctx, ln, s)
}
