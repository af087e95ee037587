package dashboard

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bigSearch writes a journal of n trials (3 lines each, plus a
// controller update every 4 trials) and returns its folder and size.
func bigSearch(b *testing.B, n int) (string, *fixture, int64) {
	dir := b.TempDir()
	f := newFixture(b)
	j := filepath.Join(dir, "journal.jsonl")
	write(b, j, f.search("rl", 2*n, n))
	info, err := os.Stat(j)
	if err != nil {
		b.Fatal(err)
	}
	return dir, f, info.Size()
}

// BenchmarkLoad10k measures the first read of a 10,000-trial journal:
// what opening the dashboard over a long search costs once.
func BenchmarkLoad10k(b *testing.B) {
	dir, _, size := bigSearch(b, 10_000)
	b.SetBytes(size)
	for b.Loop() {
		s, err := New([]string{dir}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if si := s.Runs().Searches[0]; si.Done != 10_000 {
			b.Fatalf("done %d", si.Done)
		}
		s.Close()
	}
}

// BenchmarkUpdate measures one live update over a journal of 1,000 and
// of 10,000 trials: a trial's three lines appended, then the two requests
// the page makes (/api/runs and the search's delta). The cost should not
// grow with the journal: only the appended bytes are read.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("trials=%d", n), func(b *testing.B) { benchUpdate(b, n) })
	}
}

func benchUpdate(b *testing.B, n int) {
	dir, f, _ := bigSearch(b, n)
	clk := &clock{time.Now()}
	s, err := New([]string{dir}, &Options{Now: clk.now, Rescan: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d, _ := s.Delta("0:.", 0, 0)
	j := filepath.Join(dir, "journal.jsonl")
	id := n
	for b.Loop() {
		appendTo(b, j, f.trial(id, id/4, TrialFinished, 0.5))
		id++
		clk.t = clk.t.Add(time.Second)
		w := get(b, s, "GET", "/api/runs")
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		w = get(b, s, "GET", fmt.Sprintf("/api/search?run=0:.&epoch=%d&since=%d", d.Epoch, d.Version))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		d, _ = s.Delta("0:.", d.Epoch, d.Version) // what the page now has
	}
	if si := s.Runs().Searches[0]; si.Done != id {
		b.Fatalf("done %d, want %d", si.Done, id)
	}
}

// BenchmarkIdle10k measures a poll of the page when nothing changed.
func BenchmarkIdle10k(b *testing.B) {
	dir, _, _ := bigSearch(b, 10_000)
	clk := &clock{time.Now()}
	s, err := New([]string{dir}, &Options{Now: clk.now, Rescan: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d, _ := s.Delta("0:.", 0, 0)
	url := fmt.Sprintf("/api/search?run=0:.&epoch=%d&since=%d", d.Epoch, d.Version)
	for b.Loop() {
		clk.t = clk.t.Add(time.Second)
		get(b, s, "GET", "/api/runs")
		get(b, s, "GET", url)
	}
}

// BenchmarkFullDelta10k measures the whole search sent to a page that
// has nothing yet (a first load or a reload): 10,000 trials as JSON.
func BenchmarkFullDelta10k(b *testing.B) {
	dir, _, _ := bigSearch(b, 10_000)
	s, err := New([]string{dir}, &Options{Poll: time.Hour, Rescan: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n int
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "/api/search?run=0:.", nil))
		n = w.Body.Len()
	}
	b.ReportMetric(float64(n), "resp-bytes")
}
