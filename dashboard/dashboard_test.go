package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autodropout/autodropout/search"
)

// clock is a settable clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newServer serves dirs with polls and rescans on every request.
func newServer(t testing.TB, c *clock, dirs ...string) *Server {
	t.Helper()
	opt := &Options{Poll: time.Nanosecond, Rescan: time.Nanosecond}
	if c != nil {
		opt.Now = c.now
	}
	s, err := New(dirs, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t testing.TB, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func getJSON(t testing.TB, h http.Handler, target string, v any) {
	t.Helper()
	w := get(t, h, "GET", target)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}

func searchInfo(t testing.TB, s *Server, id string) SearchInfo {
	t.Helper()
	for _, si := range s.Runs().Searches {
		if si.ID == id {
			return si
		}
	}
	t.Fatalf("no search %s in %+v", id, s.Runs().Searches)
	return SearchInfo{}
}

func TestFileServingStaysInside(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret.txt"), []byte("secret"))
	dir := t.TempDir()
	f := newFixture(t)
	write(t, filepath.Join(dir, "run", "journal.jsonl"), f.search("rl", 8, 4))
	write(t, filepath.Join(dir, "run", "top", "01-0.7000.json"), f.patterns(1))
	write(t, filepath.Join(dir, "notes.md"), []byte("# notes\n"))
	for _, l := range []struct{ name, target string }{
		{"escape-dir", outside},
		{"escape.txt", filepath.Join(outside, "secret.txt")},
		{"inside.md", "notes.md"}, // relative: os.Root refuses absolute links
		{"etc", "/etc"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	s := newServer(t, nil, dir)
	for _, c := range []struct {
		method, url string
		code        int
		body        string // part of the body of a 200
	}{
		{"GET", "/files/0/run/top/01-0.7000.json", 200, `"site":"bn1"`},
		{"HEAD", "/files/0/notes.md", 200, ""},
		{"GET", "/files/0/inside.md", 200, "# notes"}, // a link that stays inside is fine
		{"GET", "/files/0/../" + filepath.Base(outside) + "/secret.txt", 404, ""},
		{"GET", "/files/0/../../etc/passwd", 404, ""},
		{"GET", "/files/0/run/%2e%2e/notes.md", 404, ""},
		{"GET", "/files/0/run/../../etc/passwd", 404, ""},
		{"GET", "/files/0//etc/passwd", 404, ""},
		{"GET", "/files/0/" + strings.TrimPrefix(outside, "/") + "/secret.txt", 404, ""},
		{"GET", "/files/0/escape-dir/secret.txt", 404, ""},
		{"GET", "/files/0/escape.txt", 404, ""},
		{"GET", "/files/0/etc/passwd", 404, ""},
		{"GET", "/files/0/./notes.md", 404, ""},
		{"GET", "/files/0/run", 404, ""}, // no folder listings
		{"GET", "/files/0/", 404, ""},
		{"GET", "/files/0/run\\..\\..\\x", 404, ""},
		{"GET", "/files/1/notes.md", 404, ""}, // no such root
		{"GET", "/files/-1/notes.md", 404, ""},
		{"GET", "/files/x/notes.md", 404, ""},
		{"GET", "/static/../dashboard.go", 404, ""},
		{"GET", "/nothing", 404, ""},
		{"POST", "/files/0/notes.md", 405, ""},
		{"PUT", "/files/0/notes.md", 405, ""},
		{"DELETE", "/files/0/run/journal.jsonl", 405, ""},
		{"POST", "/api/runs", 405, ""},
	} {
		// Set the path by hand so that no client cleans it: the server
		// gets whatever a raw request line holds, decoded.
		r := httptest.NewRequest(c.method, "/", nil)
		r.URL.Path = c.url
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.url, w.Code, c.code, strings.TrimSpace(w.Body.String()))
			continue
		}
		if c.code == 200 && !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s: body %q lacks %q", c.method, c.url, w.Body, c.body)
		}
		if strings.Contains(w.Body.String(), "secret") && !strings.Contains(c.url, "secret") {
			t.Errorf("%s %s: leaked the outside file", c.method, c.url)
		}
		if c.code == 200 && strings.HasPrefix(c.url, "/files/") && !strings.Contains(w.Header().Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s %s: served without a sandbox policy", c.method, c.url)
		}
	}
	// The files' own directory is untouched: nothing written.
	ents, _ := os.ReadDir(filepath.Join(dir, "run"))
	if len(ents) != 2 {
		t.Errorf("run folder now has %d entries, want 2 (journal.jsonl, top)", len(ents))
	}
}

func TestHosts(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "journal.jsonl"), newFixture(t).search("rl", 4, 1))
	s, err := New([]string{dir}, &Options{Hosts: LoopbackHosts("127.0.0.1:8080")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		host string
		code int
	}{
		{"127.0.0.1:8080", 200}, {"localhost:8080", 200}, {"[::1]:8080", 200}, {"localhost", 200},
		{"evil.example:8080", 403}, {"192.168.1.5:8080", 403},
	} {
		r := httptest.NewRequest("GET", "/api/runs", nil)
		r.Host = c.host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != c.code {
			t.Errorf("Host %s: %d, want %d", c.host, w.Code, c.code)
		}
	}
	if h := LoopbackHosts("0.0.0.0:8080"); h != nil {
		t.Errorf("LoopbackHosts(0.0.0.0:8080) = %v, want nil (any host)", h)
	}
}

func TestStatus(t *testing.T) {
	const stale = 10 * time.Minute
	for _, c := range []struct {
		name string
		in   StatusInput
		want string
	}{
		{"deleted", StatusInput{Gone: true, Finished: 3, SummaryTrials: 3}, Gone},
		{"summary counts every trial", StatusInput{Finished: 7, Failed: 1, SummaryTrials: 8, SummaryFinished: 7, Silent: time.Second}, Finished},
		{"summary of an older run, journal grew since", StatusInput{Finished: 9, Failed: 1, SummaryTrials: 8, Silent: time.Second, Stale: stale}, Running},
		{"every trial failed, summary written", StatusInput{Failed: 4, SummaryTrials: 4, SummaryFinished: 0}, Failed},
		{"journal growing", StatusInput{Finished: 2, SummaryTrials: -1, Silent: time.Minute, Stale: stale}, Running},
		{"just started, nothing done", StatusInput{SummaryTrials: -1, Silent: 0, Stale: stale}, Running},
		{"silent past stale", StatusInput{Finished: 2, SummaryTrials: -1, Silent: stale + time.Second, Stale: stale}, Stopped},
		{"silent, all failed", StatusInput{Failed: 3, SummaryTrials: -1, Silent: time.Hour, Stale: stale}, Failed},
		{"silent, no outcome", StatusInput{SummaryTrials: -1, Silent: time.Hour, Stale: stale}, Stopped},
		{"summary older, silent", StatusInput{Finished: 9, SummaryTrials: 8, Silent: time.Hour, Stale: stale}, Stopped},
		{"NATS run, budget spent", StatusInput{Finished: 7, Failed: 1, SummaryTrials: -1, NoSummary: true, Budget: 8, Silent: time.Hour, Stale: stale}, Finished},
		{"NATS run, budget spent, all failed", StatusInput{Failed: 8, SummaryTrials: -1, NoSummary: true, Budget: 8}, Failed},
		{"NATS run, going", StatusInput{Finished: 3, SummaryTrials: -1, NoSummary: true, Budget: 8, Silent: time.Second, Stale: stale}, Running},
		{"folder run, budget spent, no summary yet", StatusInput{Finished: 8, SummaryTrials: -1, Budget: 8, Silent: time.Second, Stale: stale}, Running},
		{"multi-fidelity, summary counts the stopped trials", StatusInput{Finished: 2, Stopped: 6, SummaryTrials: 8, SummaryFinished: 2, Silent: time.Hour, Stale: stale}, Finished},
		{"multi-fidelity NATS run, budget spent", StatusInput{Finished: 2, Stopped: 6, SummaryTrials: -1, NoSummary: true, Budget: 8, Silent: time.Hour, Stale: stale}, Finished},
	} {
		if got := Status(c.in); got != c.want {
			t.Errorf("%s: Status(%+v) = %s, want %s", c.name, c.in, got, c.want)
		}
	}
}

// TestStatusFromFiles checks the status the server infers from a folder's
// files and the clock.
func TestStatusFromFiles(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.search("rl", 8, 5))
	info, _ := os.Stat(j)
	c := &clock{info.ModTime().Add(time.Minute)}
	s := newServer(t, c, dir)
	if si := searchInfo(t, s, "0:."); si.Status != Running || si.Done != 5 || si.Budget != 8 || si.ETAS == nil {
		t.Errorf("fresh journal: %+v, want running, 5/8 done, an ETA", si)
	}
	c.t = info.ModTime().Add(13 * time.Minute) // past the task timeout (10m) + 2m
	if si := searchInfo(t, s, "0:."); si.Status != Stopped || si.ETAS != nil {
		t.Errorf("silent journal: status %s ETA %v, want stopped without an ETA", si.Status, si.ETAS)
	}
	write(t, filepath.Join(dir, "summary.json"), []byte(`{"method":"rl","budget":8,"trials":5,"finished":5,"failures":0}`))
	c.t = c.t.Add(time.Second) // polls happen when the clock moves
	if si := searchInfo(t, s, "0:."); si.Status != Finished || si.Summary == "" {
		t.Errorf("with summary.json: %+v, want finished with a summary link", si)
	}
}

// TestTornLine appends a journal line in pieces, as a writer killed or
// caught mid-write leaves it.
func TestTornLine(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.search("rl", 20, 3))
	s := newServer(t, nil, dir)
	base := searchInfo(t, s, "0:.")
	if base.Done != 3 {
		t.Fatalf("done %d, want 3", base.Done)
	}
	next := f.trial(3, 0, TrialFinished, 0.99)
	lines := strings.SplitAfter(string(next), "\n")
	last := lines[2] // trial_finished
	for _, c := range []struct {
		name   string
		append string
		done   int
		best   float64
		bad    int
	}{
		{"proposal and start", lines[0] + lines[1], 3, *base.Best, 0},
		{"half a line", last[:len(last)/2], 3, *base.Best, 0},
		{"most of it", last[len(last)/2 : len(last)-2], 3, *base.Best, 0},
		{"the end of the line", last[len(last)-2:], 4, 0.99, 0},
		{"a garbled last line with its newline", "{\"type\":\"trial_fin\n", 4, 0.99, 0},
		{"a line after it: the garbled one was not torn", string(f.line(search.Event{Type: search.TrialStarted, Trial: ip(4)})), 4, 0.99, 1},
	} {
		appendTo(t, j, []byte(c.append))
		si := searchInfo(t, s, "0:.")
		if si.Best == nil {
			t.Fatalf("after %s: no best reward", c.name)
		}
		if si.Done != c.done || *si.Best != c.best || si.BadLines != c.bad {
			t.Errorf("after %s: done %d best %v bad %d, want %d %v %d", c.name, si.Done, *si.Best, si.BadLines, c.done, c.best, c.bad)
		}
		if si.Epoch != 1 {
			t.Errorf("after %s: epoch %d: the journal was read again from the start", c.name, si.Epoch)
		}
	}
	if si := searchInfo(t, s, "0:."); si.Running != 1 || !strings.Contains(si.LastBad, "journal.jsonl") {
		t.Errorf("running %d, last bad %q: want trial 4 running and the bad line named", si.Running, si.LastBad)
	}
}

// TestRewritten replaces a journal by a shorter one (a new search in the
// same folder): the server starts over in a new epoch.
func TestRewritten(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.search("rl", 20, 10))
	s := newServer(t, nil, dir)
	if si := searchInfo(t, s, "0:."); si.Done != 10 || si.Epoch != 1 {
		t.Fatalf("%+v", si)
	}
	write(t, j+".new", f.search("random", 5, 2))
	if err := os.Rename(j+".new", j); err != nil {
		t.Fatal(err)
	}
	si := searchInfo(t, s, "0:.")
	if si.Done != 2 || si.Method != "random" || si.Epoch != 2 || si.Unit != "epochs" {
		t.Errorf("after the rewrite: %d done, method %s, epoch %d; want 2, random, 2", si.Done, si.Method, si.Epoch)
	}
	var d SearchDelta
	getJSON(t, s, "/api/search?run=0:.&epoch=1&since=5", &d)
	if !d.Reset || len(d.Trials) != 2 {
		t.Errorf("delta for the old epoch: reset %v, %d trials; want a reset with 2", d.Reset, len(d.Trials))
	}
}

// TestDelta checks that the page gets only what changed.
func TestDelta(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.search("rl", 40, 13)) // trial 12 fails
	s := newServer(t, nil, dir)
	var all SearchDelta
	getJSON(t, s, "/api/search?run=0:.", &all)
	if !all.Reset || len(all.Trials) != 13 || len(all.Updates) != 3 || len(all.Top) != topK {
		t.Fatalf("first delta: reset %v, %d trials, %d updates, %d top", all.Reset, len(all.Trials), len(all.Updates), len(all.Top))
	}
	if tr := all.Trials[12]; tr.Status != TrialFailed || !strings.Contains(tr.Reason, "diverged") {
		t.Errorf("trial 12: %+v, want failed with its reason", tr)
	}
	for i := 1; i < len(all.Top); i++ {
		if all.Top[i].Reward > all.Top[i-1].Reward {
			t.Errorf("top not best first: %+v", all.Top)
		}
	}
	if u := all.Updates[1]; u.Step != 2 || u.AfterTrial != 7 || u.Entropy == nil || *u.Entropy != 29-0.01 {
		t.Errorf("update 2: %+v (entropy %v), want after trial 7 with the entropy of step 1", u, u.Entropy)
	}
	var none SearchDelta
	getJSON(t, s, fmt.Sprintf("/api/search?run=0:.&epoch=%d&since=%d", all.Epoch, all.Version), &none)
	if none.Reset || len(none.Trials) != 0 || len(none.Updates) != 0 || none.Version != all.Version {
		t.Errorf("nothing appended: %+v, want an empty delta", none)
	}
	appendTo(t, j, f.trial(13, 3, TrialFinished, 0.95))
	appendTo(t, j, f.update(4, 0.7))
	var d SearchDelta
	getJSON(t, s, fmt.Sprintf("/api/search?run=0:.&epoch=%d&since=%d", all.Epoch, all.Version), &d)
	if d.Reset || len(d.Trials) != 1 || d.Trials[0].ID != 13 || d.Trials[0].Reward == nil || *d.Trials[0].Reward != 0.95 || len(d.Updates) != 1 {
		t.Errorf("after one trial and update: %+v, want trial 13 (0.95) and one update", d)
	}
	if d.Top[0].Trial != 13 || len(d.Top[0].Sites) != 2 {
		t.Errorf("top %+v, want trial 13 first with two sites", d.Top[0])
	}
	// Its mask picture and pattern download.
	w := get(t, s, "GET", d.Top[0].Sites[0].Mask)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/png" || w.Body.Len() < 50 {
		t.Errorf("mask %s: %d %s (%d bytes)", d.Top[0].Sites[0].Mask, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
	w = get(t, s, "GET", d.Top[0].Download)
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Disposition"), "trial-0013") || !strings.Contains(w.Body.String(), `"site": "bn1"`) {
		t.Errorf("pattern download: %d %q %s", w.Code, w.Header().Get("Content-Disposition"), w.Body)
	}
	for _, bad := range []string{"/api/mask?run=0:.&trial=13&site=9", "/api/mask?run=0:.&trial=99&site=0",
		"/api/pattern?run=nope&trial=1", "/api/pattern?run=0:.&trial=x", "/api/search?run=nope"} {
		if w := get(t, s, "GET", bad); w.Code != 404 {
			t.Errorf("GET %s: %d, want 404", bad, w.Code)
		}
	}
}

// TestDeleted removes a search folder, then the whole folder given, while
// they are served.
func TestDeleted(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	f.experiment(dir, 12, 6)
	s := newServer(t, nil, dir)
	runs := s.Runs()
	if len(runs.Searches) != 2 || len(runs.Collections) != 1 || len(runs.Collections[0].Rows) != 5 {
		t.Fatalf("experiment: %d searches, %d collections %+v", len(runs.Searches), len(runs.Collections), runs.Collections)
	}
	if err := os.RemoveAll(filepath.Join(dir, "search-random")); err != nil {
		t.Fatal(err)
	}
	if si := searchInfo(t, s, "0:search-random"); si.Status != Gone || si.Done != 6 {
		t.Errorf("deleted search: %s with %d done, want gone with what it had", si.Status, si.Done)
	}
	if si := searchInfo(t, s, "0:search-rl"); si.Status != Running {
		t.Errorf("the other search: %s, want running", si.Status)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"/", "/api/runs", "/api/search?run=0:search-rl", "/api/mask?run=0:search-rl&trial=1&site=0"} {
		if w := get(t, s, "GET", u); w.Code != 200 {
			t.Errorf("GET %s after the folder was deleted: %d %s", u, w.Code, w.Body)
		}
	}
	if w := get(t, s, "GET", "/files/0/report.md"); w.Code != 404 {
		t.Errorf("report.md of a deleted folder: %d", w.Code)
	}
	runs = s.Runs()
	if !runs.Roots[0].Gone || runs.Searches[0].Status != Gone || runs.Collections[0].Status != Gone {
		t.Errorf("after deleting the folder: %+v", runs)
	}
	// A new folder of the same name is read afresh.
	f2 := newFixture(t)
	write(t, filepath.Join(dir, "again", "journal.jsonl"), f2.search("random", 3, 1))
	runs = s.Runs()
	if runs.Roots[0].Gone || len(runs.Searches) != 1 || runs.Searches[0].ID != "0:again" || runs.Searches[0].Status != Running {
		t.Errorf("after recreating the folder: %+v", runs)
	}
}

func TestExperimentTable(t *testing.T) {
	dir := t.TempDir()
	newFixture(t).experiment(dir, 8, 8)
	write(t, filepath.Join(dir, "final", "none", "seed-4", "result.json"), []byte("{not json"))
	write(t, filepath.Join(dir, "rewards.png"), []byte("\x89PNG"))
	// The grid and the reward-noise stage are not the final comparison:
	// their "none" and "dropout" must not join the final rows.
	for _, d := range []string{"noise/none/seed-7", "noise/search-rl-top1/seed-7", "grid/dropout-p0.1/seed-1"} {
		write(t, filepath.Join(dir, d, "result.json"), []byte(`{"val_acc":0.5,"wall_s":1,"cpu_s":1,"regularizer":"none","seed":7}`))
	}
	s := newServer(t, nil, dir)
	var runs Runs
	getJSON(t, s, "/api/runs", &runs)
	c := runs.Collections[0]
	var labels []string
	for _, r := range c.Rows {
		labels = append(labels, r.Label)
	}
	if got := strings.Join(labels, ","); got != "none,dropout,dropblock,random-best,autodropout-best" {
		t.Errorf("rows %s, want report.LabelOrder", got)
	}
	if c.Baseline != "none" || c.Rows[0].Delta != nil || c.Rows[4].Delta == nil || fmt.Sprintf("%.3f", *c.Rows[4].Delta) != "0.022" {
		t.Errorf("baseline %s, deltas %v %v", c.Baseline, c.Rows[0].Delta, c.Rows[4].Delta)
	}
	if r := c.Rows[0]; r.N != 3 || fmt.Sprint(r.Seeds) != "[1 2 3]" || fmt.Sprintf("%.4f±%.4f", *r.Test.Mean, *r.Test.Std) != "0.8000±0.0040" {
		t.Errorf("row none: %+v", r)
	}
	if c.Report != "/files/0/report.md" || len(c.Figures) != 1 || c.Figures[0].URL != "/files/0/rewards.png" || len(c.Searches) != 2 {
		t.Errorf("links: report %q figures %+v searches %v", c.Report, c.Figures, c.Searches)
	}
	if len(c.Bad) != 1 || !strings.Contains(c.Bad[0], "seed-4/result.json") {
		t.Errorf("bad result files %q, want the unreadable one named", c.Bad)
	}
}

func TestPage(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "journal.jsonl"), newFixture(t).search("rl", 4, 1))
	s := newServer(t, nil, dir)
	for _, c := range []struct{ url, ctype, has string }{
		{"/", "text/html", "/static/app.js"},
		{"/static/app.js", "javascript", "/api/runs"},
		{"/static/style.css", "text/css", ".panel"},
	} {
		w := get(t, s, "GET", c.url)
		b, _ := io.ReadAll(w.Body)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), c.ctype) || !strings.Contains(string(b), c.has) {
			t.Errorf("GET %s: %d %s, body has %q: %v", c.url, w.Code, w.Header().Get("Content-Type"), c.has, strings.Contains(string(b), c.has))
		}
	}
	if csp := get(t, s, "GET", "/").Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, nil); err == nil {
		t.Error("New without folders: no error")
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := New([]string{missing}, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("New(%s): %v, want an error naming it", missing, err)
	}
}

// A multi-fidelity search's events: a rung result keeps the trial
// running (and says which rung it reached), a stopped trial has an outcome
// and its controller reward but is never the best, and its cost counts.
func TestMultiFidelityEvents(t *testing.T) {
	st := newSearchState()
	cost := func(c float64) *search.Cost { return &search.Cost{CPUS: c, WallS: c} }
	for id := 0; id < 2; id++ {
		st.apply(&search.Event{Type: search.TrialProposed, Trial: ip(id), Step: ip(0)})
		st.apply(&search.Event{Type: search.TrialStarted, Trial: ip(id), Rung: ip(0)})
		st.apply(&search.Event{Type: search.RungFinished, Trial: ip(id), Rung: ip(0), Epochs: 1, Reward: fp(0.5), Cost: cost(10)})
	}
	if st.running != 2 || st.done() != 0 || *st.trials[1].Rung != 0 || st.trials[1].Epochs != 1 {
		t.Fatalf("after rung 0: running %d done %d, want 2 and 0", st.running, st.done())
	}
	st.apply(&search.Event{Type: search.TrialFinished, Trial: ip(1), Rung: ip(1), Reward: fp(0.8), Cost: cost(60)})
	st.apply(&search.Event{Type: search.TrialStopped, Trial: ip(0), Rung: ip(0), Reward: fp(0.95), Cost: cost(10)})
	tr := st.trials[0]
	if tr.Status != TrialStopped || *tr.Reward != 0.95 || *tr.Rung != 0 {
		t.Errorf("stopped trial = %+v", tr)
	}
	if st.running != 0 || st.done() != 2 || st.stopped != 1 || st.finished != 1 || st.best != 0.8 || st.bestTrial != 1 || st.cpuS != 70 || len(st.top) != 1 {
		t.Errorf("running %d done %d stopped %d finished %d best %v (#%d) CPU %v top %v; want 0 2 1 1 0.8 (#1) 70 [1]",
			st.running, st.done(), st.stopped, st.finished, st.best, st.bestTrial, st.cpuS, st.top)
	}
}

func TestLongReason(t *testing.T) {
	st := newSearchState()
	reason := strings.Repeat("é", maxReason) // two bytes each
	st.apply(&search.Event{Type: search.TrialFailed, Trial: ip(0), Reason: reason})
	got := st.trials[0].Reason
	if !utf8.ValidString(got) || len(got) > maxReason+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("reason cut to %d bytes, valid UTF-8 %v; want at most %d bytes, whole characters, and an ellipsis", len(got), utf8.ValidString(got), maxReason)
	}
}

func TestETA(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, c := range []struct {
		name     string
		budget   int
		outcomes []int // seconds after the run started
		want     float64
	}{
		{"no outcome", 4, nil, math.NaN()},
		{"two parallel trials ended together", 4, []int{40, 41}, 41.0 / 2 * 2},
		{"budget spent", 2, []int{40, 41}, 0},
		{"a long run: the last 20 outcomes", 100, append(seq(0, 10, 30), seq(1000, 5, 21)...), 5 * 49},
	} {
		st := newSearchState()
		st.apply(&search.Event{Type: search.RunStarted, Time: t0, Config: []byte(fmt.Sprintf(`{"budget":%d}`, c.budget))})
		for i, s := range c.outcomes {
			st.apply(&search.Event{Type: search.TrialFinished, Time: at(s), Trial: ip(i), Reward: fp(0.5)})
		}
		got := st.eta()
		same := math.Abs(got-c.want) < 1e-9 || math.IsNaN(got) && math.IsNaN(c.want)
		if !same {
			t.Errorf("%s: eta %v s, want %v", c.name, got, c.want)
		}
	}
}

// seq returns n times from start, step apart.
func seq(start, step, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i*step
	}
	return out
}

// TestConcurrentAppend appends trials in two writes per line (so that
// reads often see half a line) while two clients poll the server.
func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.runStarted("random", 300))
	var lines [][]byte
	for id := range 300 {
		for _, l := range strings.SplitAfter(string(f.trial(id, 0, TrialFinished, 0.5)), "\n") {
			if l != "" {
				lines = append(lines, []byte(l))
			}
		}
	}
	s := newServer(t, nil, dir)
	done := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			since, epoch := uint64(0), 0
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				d, ok := s.Delta("0:.", epoch, since)
				if !ok || d.Reset && epoch != 0 {
					errs <- fmt.Errorf("delta: found %v, reset %v after epoch %d", ok, d.Reset, epoch)
					return
				}
				epoch, since = d.Epoch, d.Version
			}
		}()
	}
	w, err := os.OpenFile(j, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		half := len(l) / 2
		if _, err := w.Write(l[:half]); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched() // let a reader see the half line
		if _, err := w.Write(l[half:]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if si := searchInfo(t, s, "0:."); si.Done != 300 || si.BadLines != 0 || si.Epoch != 1 || si.Running != 0 {
		t.Errorf("after the appends: %d done, %d bad lines, epoch %d, %d running; want 300, 0, 1, 0", si.Done, si.BadLines, si.Epoch, si.Running)
	}
}

// A language-model search's rungs count steps, and the page says so.
func TestUnitOfLanguageModelRungs(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "journal.jsonl"), []byte(`{"type":"run_started","config":{"method":"rl","budget":2,"task":{"kind":"lm","steps":100}},"seed":1}
`))
	s := newServer(t, nil, dir)
	if si := searchInfo(t, s, "0:."); si.Unit != "steps" {
		t.Errorf("unit %q, want steps", si.Unit)
	}
}

// A pattern file is read as autodropout reads one: a site named twice, a
// malformed pattern or an unknown field make it text, not a picture.
func TestConvNetPatterns(t *testing.T) {
	p := `{"size": 3, "stride": 1, "repeat": 1, "rotate": 0, "shear_x": 0, "shear_y": 0, "share_c": false, "residual": false}`
	for _, c := range []struct {
		name, file string
		ok         bool
	}{
		{"two sites", `{"patterns": [{"site": "a", "pattern": ` + p + `}, {"site": "b", "pattern": ` + p + `}]}`, true},
		{"a site twice", `{"patterns": [{"site": "a", "pattern": ` + p + `}, {"site": "a", "pattern": ` + p + `}]}`, false},
		{"no patterns", `{"patterns": []}`, false},
		{"unknown field", `{"patterns": [{"site": "a", "pattern": ` + p + `, "extra": 1}]}`, false},
		{"a Transformer list", `[{"sites": ["emb"], "pattern": {"size": 2}}]`, false},
	} {
		if _, ok := convNetPatterns([]byte(c.file)); ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
		}
	}
}
