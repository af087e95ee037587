package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/autodropout/autodropout/autodropout"
	"github.com/autodropout/autodropout/trial"
)

// addConfigs seeds f with the repository's search configurations.
func addConfigs(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzParseConfig checks that any input either fails with an error or
// gives a configuration that passes Check, is unchanged by WithDefaults,
// and survives a JSON round trip with the same hash. Seeds: the configs in
// ../configs and testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	addConfigs(f, "../configs/*.json")
	addConfigs(f, "../configs/paper/*.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("parsed config fails Check: %v", err)
		}
		if d := c.WithDefaults(); !reflect.DeepEqual(d, c) {
			t.Fatalf("WithDefaults changed a parsed config:\n%+v\n%+v", c, d)
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseConfig(raw)
		if err != nil {
			t.Fatalf("re-reading %s: %v", raw, err)
		}
		sites := []string{"bn1"}
		if h1, _ := hash(c, sites); h1 != func() string { h, _ := hash(c2, sites); return h }() {
			t.Fatalf("round trip changed the hash:\n%s", raw)
		}
		args := c.Task.Spec().Args()
		for _, a := range args {
			if a == "" {
				t.Fatalf("empty train argument in %q", args)
			}
		}
		// A task the search accepts is a trial the trial package accepts.
		if _, err := trial.ParseArgs(args); err != nil {
			t.Fatalf("task %+v: trial refuses %q: %v", c.Task, args, err)
		}
	})
}

// FuzzJournalReplay resumes a random search (no controller: fast) from
// any journal file. A journal either is refused with an error, or the
// search runs to its budget from it; then the journal replays cleanly, a
// second run appends nothing, and every whole event of the input is kept.
// Seeds: testdata/fuzz/FuzzJournalReplay and a journal written here.
func FuzzJournalReplay(f *testing.F) {
	seed := t0Journal(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-7])                           // torn last line
	f.Add(append(bytes.Clone(seed), "{\"type\":\n"...)) // torn line ending in a newline
	sites := testSites[:1]
	toks := autodropout.DefaultSearchSpace().Tokens()
	f.Fuzz(func(t *testing.T, b []byte) {
		out := t.TempDir()
		path := filepath.Join(out, "journal.jsonl")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		before, rerr := ReadJournal(path)
		if rerr == nil {
			replay(before, sites, toks) // must not panic
		}
		s := fuzzSearch(out)
		sum, err := s.Run(context.Background())
		if err != nil {
			if errors.Is(err, ErrAllFailed) {
				t.Fatalf("the fake executor never fails: %v", err)
			}
			return // refused: a bad journal
		}
		if rerr != nil {
			t.Fatalf("ReadJournal refused it (%v) but the search ran", rerr)
		}
		if sum.Trials != s.Config.Budget {
			t.Fatalf("summary %+v: want %d trials", sum, s.Config.Budget)
		}
		after, err := ReadJournal(path)
		if err != nil {
			t.Fatalf("journal after the run: %v", err)
		}
		if len(after) < len(before) {
			t.Fatalf("the run lost events: %d before, %d after", len(before), len(after))
		}
		for i := range before {
			x, _ := json.Marshal(before[i])
			y, _ := json.Marshal(after[i])
			if !bytes.Equal(x, y) {
				t.Fatalf("event %d changed:\n%s\n%s", i+1, x, y)
			}
		}
		if _, err := replay(after, sites, toks); err != nil {
			t.Fatalf("the run wrote a journal it cannot replay: %v", err)
		}
		n := journalLines(path)
		sum2, err := fuzzSearch(out).Run(context.Background())
		if err != nil || journalLines(path) != n || sum2.Trials != sum.Trials || sum2.Finished != sum.Finished {
			t.Fatalf("second run: %+v, %v; journal %d lines, was %d", sum2, err, journalLines(path), n)
		}
	})
}

func fuzzSearch(out string) *Search {
	cfg := Config{Method: "random", Budget: 4, Parallel: 1, TopK: 2}.WithDefaults()
	return &Search{Config: cfg, Sites: testSites[:1], Executor: synthetic(0), Out: out, ForceConfig: true}
}

// t0Journal is the journal of a finished fuzzSearch.
func t0Journal(f *testing.F) []byte {
	out := f.TempDir()
	if _, err := fuzzSearch(out).Run(context.Background()); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "journal.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	// Keep the first half: a search killed halfway.
	lines := bytes.SplitAfter(b, []byte("\n"))
	return bytes.Join(lines[:len(lines)/2], nil)
}
