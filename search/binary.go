package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ProbeEnv is set in the environment of the process CheckBinary starts.
// The autodropout command then answers `version` with its first line
// only, and Search.Run, experiment.Run and natsrun.Worker.Serve refuse to
// run (Probed), so that a program that is not autodropout and ignores its
// arguments stops at once instead of starting its search again.
const ProbeEnv = "AUTODROPOUT_PROBE"

// probeTimeout bounds CheckBinary: starting the command loads libtorch,
// which takes a few seconds on a busy machine.
var probeTimeout = time.Minute

// CheckBinary reports whether bin is the autodropout command: it runs
// `bin version` and wants a first line "autodropout …". It is what keeps
// a library program from running itself: one that names its own
// executable (os.Args[0], os.Executable) as the trainer is not
// autodropout; started as `PROGRAM train --pattern …` it would ignore
// those flags and start the same search again, into the same folder.
func CheckBinary(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Env = append(os.Environ(), ProbeEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := RunChild(cmd)
	first, _, _ := strings.Cut(out.String(), "\n")
	if err == nil && strings.HasPrefix(first, "autodropout ") {
		return nil
	}
	said := strings.TrimSpace(tail(out.String(), 200))
	switch {
	case ctx.Err() != nil:
		said = fmt.Sprintf("no answer in %v", probeTimeout)
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		said = err.Error()
	case said == "" && err == nil:
		said = "nothing"
	case said == "":
		said = fmt.Sprintf("nothing (%v)", err)
	default:
		said = fmt.Sprintf("%q", strings.ReplaceAll(said, "\n", " | "))
	}
	return fmt.Errorf("trainer binary %s does not answer as autodropout (`%s version` said %s): trials run as `BINARY train …`, so name a built autodropout command (go build -o bin/autodropout ./cmd/autodropout) with the command's --binary, or in Go with LocalExecutor.Binary (experiment: Settings.Binary; worker: Worker.Binary), or run trials in the program itself with search.InProcess",
		bin, bin, said)
}

// Probed returns an error when this process was started by CheckBinary
// (ProbeEnv is set): a program that runs a search and was started as
// a trainer must not start its search again.
func Probed() error {
	if os.Getenv(ProbeEnv) == "" {
		return nil
	}
	return fmt.Errorf("started by a search as its trainer binary to check that it is autodropout (%s is set); it is not, so it runs no search", ProbeEnv)
}

// A Checker is an Executor that can say, before Search.Run journals
// anything, that it cannot run trials at all (LocalExecutor: its binary
// is not autodropout), rather than failing every trial.
type Checker interface {
	Check(ctx context.Context) error
}

// Check checks the binary the executor starts (CheckBinary).
func (e *LocalExecutor) Check(ctx context.Context) error {
	if e.Binary == "" {
		return errors.New(emptyBinary)
	}
	return CheckBinary(ctx, e.Binary)
}

const emptyBinary = "LocalExecutor.Binary is empty: name the autodropout binary that trains the trials"
