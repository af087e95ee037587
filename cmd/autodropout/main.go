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
//
// Run "autodropout COMMAND -h" for a command's flags.
package main

import (
	"fmt"
	"os"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

var commands = []command{
	{"train", "train a model on a dataset and report its accuracy", runTrain},
	{"search", "search dropout patterns with a controller (rl) or at random", runSearch},
	{"show", "render the masks of a pattern file to PNG", runShow},
	{"worker", "run the trials of a search spread over machines (--nats URL)", runWorker},
	{"experiment", "search (RL and random), retrain with every regularizer over seeds, report (make demo)", runExperiment},
	{"report", "write a Markdown report with figures for a search or training folder", runReport},
	{"dashboard", "serve a live web page over run folders (searches, experiments)", runDashboard},
	{"bench", "time steps, masks, loader and controller, side by side with PyTorch (--pytorch)", runBench},
	{"env", "print the libtorch build and thread count", runEnv},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "autodropout %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "autodropout: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "autodropout learns structured dropout patterns (Pham & Le, AutoDropout, 2021).\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'autodropout COMMAND -h' for a command's flags.")
}
