// Command autodropout learns structured dropout patterns for deep networks
// and trains models with them.
//
// Usage:
//
//	autodropout train [flags]    train a model on a dataset and report accuracy
//	autodropout search --config FILE --out DIR
//	                             search patterns (controller or random), resumable
//	autodropout show PATTERN.json --png OUT.png
//	                             render the masks a pattern file produces
//	autodropout space [--space FILE] [--data NAME] [--model NAME | --maps 28x28,14x14,7x7]
//	                             survey a search space's dropped fractions and masks
//	autodropout worker --nats URL [--run NAME] [--threads N]
//	                             run a distributed search's trials (NATS JetStream)
//	autodropout experiment --config configs/demo.json --out runs/demo [--dry-run]
//	                             searches, final training and report (make demo)
//	autodropout report DIR       write a Markdown report with figures of a search or training folder
//	autodropout dashboard [--addr 127.0.0.1:8080] DIR...
//	                             serve a live, read-only web page over run folders
//	autodropout bench [--pytorch] [--json OUT]
//	                             time training steps, masks, loader and controller; compare with PyTorch
//	autodropout env              print the libtorch build and thread count
//	autodropout version [--json] print the versions of autodropout, gotch, the C++ library and libtorch
//	autodropout gpucheck train|masks|forward [flags]
//	                             one check of scripts/gpu-check.sh, as JSON
//
// Run "autodropout COMMAND -h" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

var commands = []command{
	{"train", "train a model on a dataset and report its accuracy", runTrain},
	{"search", "search dropout patterns with a controller (rl) or at random", runSearch},
	{"show", "render the masks of a pattern file to PNG", runShow},
	{"space", "survey a search space: dropped fractions and distinct masks per map size", runSpace},
	{"worker", "run the trials of a search spread over machines (--nats URL)", runWorker},
	{"experiment", "search (RL and random), retrain with every regularizer over seeds, report (make demo)", runExperiment},
	{"report", "write a Markdown report with figures for a search or training folder", runReport},
	{"dashboard", "serve a live web page over run folders (searches, experiments)", runDashboard},
	{"bench", "time steps, masks, loader and controller, side by side with PyTorch (--pytorch)", runBench},
	{"env", "print the libtorch build and thread count", runEnv},
	{"version", "print the versions of autodropout and gotch, the C++ library and libtorch loaded, and whether CUDA is present", runVersion},
	{"gpucheck", "run one check of scripts/gpu-check.sh (train, masks, forward) and print its JSON report", runGPUCheck},
}

// init keeps the command on the main OS thread. libtorch's intra-op
// thread count is per thread (package libtorch): a goroutine that moved
// threads between --threads and building the model initialized it, now
// and then, on a thread with another count, and one run in 50 of the same
// seed drew other weights.
func init() { runtime.LockOSThread() }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status: 0 on
// success and for help (printed to stdout), 1 when a command fails, 2 for
// a usage error (one line on stderr, with a suggestion where one is
// close).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	c, ok := lookup(name)
	if !ok {
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		fmt.Fprintf(stderr, "autodropout: unknown command %q%s (run 'autodropout help' for the list)\n", name, didYouMean(name, names))
		return 2
	}
	current = nil
	err := c.run(args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "autodropout %s: %s\n\n", c.name, c.summary)
		if current != nil {
			current.SetOutput(stdout)
			current.Usage()
		}
		return 0
	}
	msg := err.Error()
	if flagName, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok && current != nil {
		var names []string
		current.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		fmt.Fprintf(stderr, "autodropout %s: unknown flag -%s%s (run 'autodropout %s -h' for the flags)\n", c.name, flagName, didYouMean(strings.TrimLeft(flagName, "-"), names), c.name)
		return 2
	}
	// Errors that already name the command are not prefixed twice.
	msg = strings.TrimPrefix(msg, c.name+": ")
	fmt.Fprintf(stderr, "autodropout %s: %s\n", c.name, msg)
	if current != nil && isFlagError(err) {
		return 2
	}
	return 1
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// current is the flag set the running command parses (see newFlagSet);
// main prints its help and suggests its flags.
var current *flag.FlagSet

// newFlagSet returns a subcommand's flag set. It prints nothing itself:
// main prints -h to stdout and a parse error as one line on stderr.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	current = fs
	return fs
}

// checkDryRunFlags refuses arguments left after the flags, and a
// --tflops the command would ignore (no --dry-run) or that is not a rate.
func checkDryRunFlags(fs *flag.FlagSet, dry bool, tflops float64) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case flagGiven(fs, "tflops") && !dry:
		return fmt.Errorf("--tflops: only --dry-run reads it")
	case !(tflops > 0) || math.IsInf(tflops, 0):
		return fmt.Errorf("--tflops %v: want a rate above 0", tflops)
	}
	return nil
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// isFlagError reports whether err is one of the flag package's parse
// errors (a bad value, a missing argument).
func isFlagError(err error) bool {
	m := err.Error()
	return strings.HasPrefix(m, "invalid value ") || strings.HasPrefix(m, "flag needs an argument") || strings.HasPrefix(m, "bad flag syntax")
}

// didYouMean returns ` (did you mean "x"?)` for the closest of names to
// s, or "" when none is close (edit distance above a third of its length,
// and not a prefix).
func didYouMean(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		d := editDistance(s, n)
		if strings.HasPrefix(n, s) && len(s) >= 2 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	if best == "" || bestD > max(1, (len(s)+2)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "autodropout learns structured dropout patterns (Pham & Le, AutoDropout, 2021).\n\nUsage: autodropout COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'autodropout COMMAND -h' (or 'autodropout help COMMAND') for a command's flags.")
}
