package search

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// libraryEnv names the folder the test binary, started as its own trainer
// binary, runs a search in (see TestMain).
const libraryEnv = "AUTODROPOUT_SEARCH_TEST_LIBRARY"

// TestRunRefusesAHeldFolder: a second Run on a folder whose search is
// running is refused with one line naming the folder and the process,
// and leaves the journal alone; the first goes on, and a Run after it
// resumes the folder.
func TestRunRefusesAHeldFolder(t *testing.T) {
	out := t.TempDir()
	cfg := Config{Method: "random", Budget: 4, Parallel: 1, Seed: 2}.WithDefaults()
	started, release := make(chan struct{}), make(chan struct{})
	first := synthetic(0)
	blocking := ExecutorFunc(func(ctx context.Context, tr Trial) Result {
		if tr.ID == 1 {
			close(started)
			<-release
		}
		return first(ctx, tr)
	})
	done := make(chan error, 1)
	go func() {
		_, err := (&Search{Config: cfg, Sites: testSites, Out: out, Executor: blocking}).Run(context.Background())
		done <- err
	}()
	<-started
	journal := filepath.Join(out, "journal.jsonl")
	before, _ := os.ReadFile(journal)
	ran := false
	second := ExecutorFunc(func(ctx context.Context, tr Trial) Result { ran = true; return first(ctx, tr) })
	_, err := (&Search{Config: cfg, Sites: testSites, Out: out, Executor: second}).Run(context.Background())
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Run: %v, want ErrInUse", err)
	}
	msg := err.Error()
	t.Log(msg)
	if want := out + " is in use by process " + strconv.Itoa(os.Getpid()); !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("second Run: %q, want one line with %q", msg, want)
	}
	if after, _ := os.ReadFile(journal); ran || string(after) != string(before) {
		t.Errorf("the refused Run ran a trial (%v) or wrote the journal", ran)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Run: %v", err)
	}
	sum, err := (&Search{Config: cfg, Sites: testSites, Out: out, Executor: second}).Run(context.Background())
	if err != nil || sum.Finished != 4 || ran {
		t.Fatalf("Run after the first: %+v, %v (ran a trial: %v); want the 4 trials resumed, none run again", sum, err, ran)
	}
}

// TestRunChecksTheBinary: before any trial, a LocalExecutor's binary must
// answer `version` as autodropout. A library program whose search would
// start itself (Binary os.Args[0], here this test binary, which then runs
// the same search) is refused, and so is any other program.
func TestRunChecksTheBinary(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-autodropout")
	os.WriteFile(fake, []byte("#!/bin/sh\n[ \"$1\" = version ] && { echo \"autodropout fake\"; exit 0; }\nwhile [ $# -gt 0 ]; do [ \"$1\" = --out ] && OUT=$2; shift; done\necho '{\"val_acc\": 0.5}' > $OUT/result.json\n"), 0o755)
	for _, tc := range []struct {
		name, bin string
		want      []string // in the error; none: Run succeeds
	}{
		{"autodropout", fake, nil},
		{"itself", os.Args[0], []string{"does not answer as autodropout", "runs no search", "--binary, or in Go with LocalExecutor.Binary"}},
		{"empty", "", []string{"LocalExecutor.Binary is empty"}},
		{"another program", "/bin/echo", []string{"/bin/echo does not answer as autodropout", `said "version"`}},
		{"missing", filepath.Join(dir, "none"), []string{"none does not answer as autodropout", "no such file"}},
		{"silent", "/bin/true", []string{"`/bin/true version` said nothing):"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			t.Setenv(libraryEnv, out)
			s := &Search{Config: Config{Method: "random", Budget: 2}.WithDefaults(), Sites: testSites, Out: out, Executor: &LocalExecutor{Binary: tc.bin}}
			_, err := s.Run(context.Background())
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("Run succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "journal.jsonl")); err == nil {
				t.Error("the refused search wrote a journal")
			}
		})
	}
}
