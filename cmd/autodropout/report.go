package main

import (
	"fmt"

	"github.com/autodropout/autodropout/report"
)

// runReport writes a Markdown report with PNG figures for a search or
// training folder (see package report) and prints its path.
func runReport(args []string) error {
	fs := newFlagSet("report")
	out := fs.String("out", "", "Markdown file to write; figures go next to it (default DIR/report.md)")
	channels := fs.Int("channels", 8, "channels per site in the mask pictures")
	size := fs.Int("map-size", 32, "side of the feature map the mask pictures draw")
	seed := fs.Int64("seed", 1, "seed of the mask pictures' random offsets")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autodropout report DIR [--out FILE]\n\nDIR holds search runs (journal.jsonl) and/or training runs (result.json), up to 4 folders deep.")
		fs.PrintDefaults()
	}
	// Accept the folder before or after the flags.
	var dir string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if dir == "" {
		fs.Usage()
		return fmt.Errorf("need a folder")
	}
	if *channels < 1 {
		return fmt.Errorf("--channels %d: want 1 or more", *channels)
	}
	if *size < 1 {
		return fmt.Errorf("--map-size %d: want 1 or more", *size)
	}
	path, err := report.Write(dir, report.Options{Out: *out, Channels: *channels, MapH: *size, MapW: *size, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}
