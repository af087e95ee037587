package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/autodropout/autodropout/dashboard"
)

// runDashboard serves the live dashboard over run folders (see package
// dashboard) until interrupted.
func runDashboard(args []string) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on; the default takes connections from this machine only (reach it from elsewhere through an SSH tunnel: ssh -L 8080:127.0.0.1:8080 HOST)")
	stale := fs.Duration("stale", 0, "how long a search may leave its journal untouched and still count as running (0: its trial timeout plus 2m, else 10m)")
	size := fs.Int("map-size", 0, "side of the feature map the mask pictures draw when the dataset does not say (default 32)")
	channels := fs.Int("channels", 8, "channels per site in the mask pictures")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout dashboard [--addr 127.0.0.1:8080] DIR...\n\nServes a read-only, live web page over search runs (journal.jsonl), experiments and studies\n(result.json, report.md) found up to 4 folders below each DIR.")
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
	if len(dirs) == 0 {
		fs.Usage()
		return fmt.Errorf("need at least one run folder")
	}
	s, err := dashboard.New(dirs, &dashboard.Options{Stale: *stale, MapSize: *size, Channels: *channels,
		Hosts: dashboard.LoopbackHosts(*addr)})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("dashboard of %d folder(s) at http://%s/ (Ctrl-C stops it)\n", len(dirs), ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dashboard.Serve(ctx, ln, s)
}
