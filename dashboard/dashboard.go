package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/autodropout/autodropout/report"
	"github.com/autodropout/autodropout/search"
)

// MaxDepth is how many folders deep a scan looks below each folder given
// to New (package report looks as deep).
const MaxDepth = 4

// Options tune a Server. The zero value (or nil) means the defaults given
// with each field.
type Options struct {
	// Poll is the least time between two reads of the journals; requests
	// that come sooner get what the last read found (default 500 ms).
	Poll time.Duration
	// Rescan is the least time between two walks of the folders looking
	// for new runs (default 5 s).
	Rescan time.Duration
	// Stale is how long a search that has not finished may leave its
	// journal untouched and still count as running. 0: its task's trial
	// timeout plus two minutes when the configuration sets one (a trial
	// that runs longer is journaled as failed), else ten minutes or twice
	// its longest trial, whichever is longer.
	Stale time.Duration
	// Hosts are the host names (without port) the server answers to; a
	// request naming another host in its Host header is refused, which
	// stops DNS-rebinding pages from reading a loopback dashboard. nil:
	// any host.
	Hosts []string
	// MapSize is the side of the activation masks are drawn on when the
	// search's dataset does not say it (default 32); Channels is the
	// number of channels drawn (default 8); Seed seeds libtorch before
	// each picture (default 1).
	MapSize, Channels int
	Seed              int64
	// NATS are searches kept on NATS JetStream servers, read from their
	// journal streams (see NATSRun).
	NATS []NATSRun
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Poll <= 0 {
		d.Poll = 500 * time.Millisecond
	}
	if d.Rescan <= 0 {
		d.Rescan = 5 * time.Second
	}
	if d.MapSize <= 0 {
		d.MapSize = 32
	}
	if d.Channels <= 0 {
		d.Channels = 8
	}
	if d.Seed == 0 {
		d.Seed = 1
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Run statuses.
const (
	Running  = "running"  // the journal changed within the stale time and the search has not finished
	Finished = "finished" // summary.json counts every trial the journal has
	Failed   = "failed"   // ended (or silent) with trials that all failed
	Stopped  = "stopped"  // silent past the stale time without finishing: killed or interrupted; rerun to resume
	Gone     = "gone"     // the folder or journal was deleted while served
)

// A Server serves the dashboard of the run folders it was given. It is an
// http.Handler; every request reads only what changed on disk since the
// last one (at most every Options.Poll), under one lock.
type Server struct {
	opt   Options
	masks maskRenderer

	mu       sync.Mutex
	roots    []*rootDir
	searches map[string]*searchRun // by id
	colls    map[string]*collection
	lastPoll time.Time
	lastScan time.Time
	conns    []*nats.Conn
}

// rootDir is one folder given to New, opened as an os.Root so that no
// name read below it can escape it (through "..", an absolute path or a
// symbolic link).
type rootDir struct {
	path string // as given (the page shows it)
	abs  string // absolute, to look for it again whatever the working directory
	root *os.Root
	info fs.FileInfo // of the folder when opened
	gone bool
	err  string
}

// searchRun is one search: a folder with journal.jsonl, or a NATS run.
type searchRun struct {
	id      string
	root    int
	dir     string // slash path below the root; "." for the root itself
	group   string // the folder above: searches of one group are shown side by side
	display string // the name the page shows

	src   source
	files bool // a folder on disk (summary.json, top/); false for a NATS run

	gone bool
	err  string

	summaryMod time.Time
	summary    *search.Summary // nil without summary.json
	top        []string        // names of top/*.json, sorted
}

// collection is a folder of training runs (an experiment's or a study's
// final trainings) or one with a report.md.
type collection struct {
	id   string
	root int
	dir  string

	report    bool
	reportMod time.Time
	figures   []string // *.png next to report.md
	results   map[string]*resultFile
	newest    time.Time // of result.json, report.md and output.log files below it
	rows      []Row
	base      string
	gone      bool
}

// New returns a Server over dirs and the NATS runs of opt. Each folder
// must be readable and each NATS server reachable; the error names the
// one that is not.
func New(dirs []string, opt *Options) (*Server, error) {
	if len(dirs) == 0 && (opt == nil || len(opt.NATS) == 0) {
		return nil, errors.New("dashboard: no folder or NATS run to serve")
	}
	s := &Server{opt: opt.withDefaults(), searches: map[string]*searchRun{}, colls: map[string]*collection{}}
	s.masks.channels, s.masks.seed = s.opt.Channels, s.opt.Seed
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		r, err := os.OpenRoot(abs)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		info, err := r.Stat(".")
		if err != nil {
			r.Close()
			s.Close()
			return nil, fmt.Errorf("dashboard: %s: %w", d, err)
		}
		s.roots = append(s.roots, &rootDir{path: d, abs: abs, root: r, info: info})
	}
	if err := s.connectNATS(s.opt.NATS); err != nil {
		s.Close()
		return nil, err
	}
	s.mu.Lock()
	s.refreshLocked(true)
	s.mu.Unlock()
	return s, nil
}

// Close releases the folders. The Server must not be used afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.roots {
		r.root.Close()
	}
	for _, nc := range s.conns {
		nc.Close()
	}
	return nil
}

// refreshLocked walks the folders again when Rescan has passed (or force)
// and reads what the journals gained when Poll has passed.
func (s *Server) refreshLocked(force bool) {
	now := s.opt.Now()
	if force || now.Sub(s.lastScan) >= s.opt.Rescan {
		s.scan()
		s.lastScan = now
	}
	if force || now.Sub(s.lastPoll) >= s.opt.Poll {
		s.poll()
		s.lastPoll = now
	}
}

func runID(root int, dir string) string { return fmt.Sprintf("%d:%s", root, dir) }

// scan walks every root for searches (journal.jsonl), training runs
// (result.json) and reports (report.md), MaxDepth folders deep, skipping
// trials/ folders (a search's children).
func (s *Server) scan() {
	for i, r := range s.roots {
		s.checkRoot(i, r)
		if r.gone {
			continue
		}
		var journals, results, reports []string
		finals := map[string]bool{}
		newest := map[string]time.Time{} // dir -> mtime of result.json / report.md / output.log in it
		err := fs.WalkDir(r.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == "." {
					return err
				}
				if d != nil && d.IsDir() {
					return fs.SkipDir // unreadable or vanished: skip it, keep going
				}
				return nil
			}
			if d.IsDir() {
				if p != "." && (d.Name() == "trials" || strings.Count(p, "/")+1 > MaxDepth) {
					return fs.SkipDir
				}
				if d.Name() == "final" && p != "." {
					finals[path.Dir(p)] = true
				}
				return nil
			}
			dir := path.Dir(p)
			switch d.Name() {
			case "journal.jsonl":
				journals = append(journals, dir)
			case "result.json":
				results = append(results, dir)
			case "report.md":
				reports = append(reports, dir)
			case "output.log":
			default:
				return nil
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(newest[dir]) {
				newest[dir] = info.ModTime()
			}
			return nil
		})
		if err != nil {
			r.err = err.Error()
			continue
		}
		r.err = ""
		s.scanSearches(i, journals)
		s.scanCollections(i, results, reports, finals, newest)
	}
}

// checkRoot notices a root folder deleted (gone) or replaced by another
// folder of the same name (reopened, its runs read again).
func (s *Server) checkRoot(i int, r *rootDir) {
	info, err := os.Stat(r.abs)
	switch {
	case err != nil || !info.IsDir():
		if !r.gone {
			r.gone = true
			for _, sr := range s.searches {
				if sr.root == i {
					sr.gone = true
				}
			}
			for _, c := range s.colls {
				if c.root == i {
					c.gone = true
				}
			}
		}
		return
	case os.SameFile(info, r.info):
		r.gone = false
		return
	}
	nr, err := os.OpenRoot(r.abs)
	if err != nil {
		r.gone = true
		return
	}
	r.root.Close()
	r.root, r.info, r.gone = nr, info, false
	for id, sr := range s.searches {
		if sr.root == i {
			delete(s.searches, id) // found again by the walk, with a fresh tail
		}
	}
	for id, c := range s.colls {
		if c.root == i {
			delete(s.colls, id)
		}
	}
}

func (s *Server) scanSearches(i int, journals []string) {
	found := map[string]bool{}
	for _, dir := range journals {
		id := runID(i, dir)
		found[id] = true
		if s.searches[id] == nil {
			group := path.Dir(dir)
			if dir == "." {
				group = "."
			}
			s.searches[id] = &searchRun{id: id, root: i, dir: dir, group: runID(i, group), display: s.displayDir(i, dir),
				src: newTail(s.roots[i].root, path.Join(dir, "journal.jsonl")), files: true}
		}
	}
	for id, sr := range s.searches {
		if sr.root != i {
			continue
		}
		if !found[id] {
			sr.gone = true
			continue
		}
		sr.top = sr.top[:0]
		ents, err := fs.ReadDir(s.roots[i].root.FS(), path.Join(sr.dir, "top"))
		if err == nil {
			for _, e := range ents {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
					sr.top = append(sr.top, e.Name())
				}
			}
		}
	}
}

// scanCollections groups the training runs under the folders that have a
// report.md or a final/ folder (the nearest one above a run), and under
// the root for runs outside any.
func (s *Server) scanCollections(i int, results, reports []string, finals map[string]bool, newest map[string]time.Time) {
	cols := map[string]bool{}
	for _, d := range reports {
		cols[d] = true
	}
	for d := range finals {
		cols[d] = true
	}
	owner := func(dir string) string {
		for d := dir; ; d = path.Dir(d) {
			if cols[d] {
				return d
			}
			if d == "." || d == "/" {
				return "."
			}
		}
	}
	runsOf := map[string][]string{}
	for _, d := range results {
		o := owner(d)
		cols[o] = true
		runsOf[o] = append(runsOf[o], d)
	}
	fsys := s.roots[i].root.FS()
	for d := range cols {
		id := runID(i, d)
		c := s.colls[id]
		if c == nil {
			c = &collection{id: id, root: i, dir: d, results: map[string]*resultFile{}}
			s.colls[id] = c
		}
		c.gone = false
		c.report = false
		if info, err := fs.Stat(fsys, path.Join(d, "report.md")); err == nil {
			c.report, c.reportMod = true, info.ModTime()
		}
		c.figures = c.figures[:0]
		if ents, err := fs.ReadDir(fsys, d); err == nil {
			for _, e := range ents {
				if !e.IsDir() && strings.HasSuffix(e.Name(), ".png") {
					c.figures = append(c.figures, e.Name())
				}
			}
		}
		c.newest = time.Time{}
		for dir, t := range newest {
			if (d == "." || dir == d || strings.HasPrefix(dir, d+"/")) && t.After(c.newest) {
				c.newest = t
			}
		}
		keep := map[string]bool{}
		changed := false
		for _, rd := range runsOf[d] {
			keep[rd] = true
			info, err := fs.Stat(fsys, path.Join(rd, "result.json"))
			if err != nil {
				continue
			}
			if rf := c.results[rd]; rf != nil && rf.mod.Equal(info.ModTime()) {
				continue
			}
			r, err := readRun(fsys, d, rd)
			c.results[rd] = &resultFile{mod: info.ModTime(), run: r, err: err}
			changed = true
		}
		for rd := range c.results {
			if !keep[rd] {
				delete(c.results, rd)
				changed = true
			}
		}
		if changed || c.rows == nil {
			var ok []report.Run
			for _, rd := range slices.Sorted(maps.Keys(c.results)) {
				if rf := c.results[rd]; rf.err == nil {
					ok = append(ok, rf.run)
				}
			}
			c.rows, c.base = table(d, ok)
		}
	}
	for _, c := range s.colls {
		if c.root == i && !cols[c.dir] {
			c.gone = true
		}
	}
}

// poll reads what every journal gained and every summary.json that
// changed.
func (s *Server) poll() {
	for _, sr := range s.searches {
		if sr.files && s.roots[sr.root].gone {
			sr.gone = true
			continue
		}
		_, err := sr.src.poll()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			sr.gone, sr.err = true, ""
			continue
		case err != nil:
			sr.err = err.Error()
		default:
			sr.gone, sr.err = false, ""
		}
		if !sr.files {
			continue
		}
		fsys := s.roots[sr.root].root.FS()
		p := path.Join(sr.dir, "summary.json")
		info, err := fs.Stat(fsys, p)
		if err != nil {
			sr.summary, sr.summaryMod = nil, time.Time{}
			continue
		}
		if info.ModTime().Equal(sr.summaryMod) {
			continue
		}
		b, err := fs.ReadFile(fsys, p)
		var sum search.Summary
		if err == nil {
			err = json.Unmarshal(b, &sum)
		}
		if err != nil {
			sr.summary, sr.err = nil, fmt.Sprintf("%s: %v", p, err)
			continue // a summary written while read; read again next poll
		}
		sr.summary, sr.summaryMod = &sum, info.ModTime()
	}
}

// stale is how long sr may stay silent and still be running.
func (s *Server) stale(st *searchState) time.Duration {
	if s.opt.Stale > 0 {
		return s.opt.Stale
	}
	if st.timeout > 0 {
		return st.timeout + 2*time.Minute
	}
	return max(10*time.Minute, time.Duration(2*st.maxTrialWall*float64(time.Second)))
}

// StatusInput is what a search's status is inferred from.
type StatusInput struct {
	Gone             bool          // the folder or journal is gone
	Finished, Failed int           // trials with an outcome in the journal
	Stopped          int           // multi-fidelity trials stopped at a rung (an outcome too)
	SummaryTrials    int           // summary.json's trials; -1 without summary.json
	SummaryFinished  int           // summary.json's finished trials
	Silent, Stale    time.Duration // since the journal last changed; how long counts as running
	// NoSummary says the search has no folder that a summary.json could
	// be in (a NATS run): it has finished once Budget trials have an
	// outcome.
	NoSummary bool
	Budget    int
}

// Status infers a search's status: Gone when deleted; Finished (or
// Failed when no trial finished) once summary.json, written when a search
// ends, counts every trial the journal has (for a search without a folder,
// once the budget's trials all have an outcome); Running while the journal
// changed within the stale time; then Failed when every trial with an
// outcome failed, else Stopped (interrupted; rerunning the search
// resumes it).
func Status(in StatusInput) string {
	switch {
	case in.Gone:
		return Gone
	case in.SummaryTrials >= 0 && in.SummaryTrials == in.Finished+in.Failed+in.Stopped:
		if in.SummaryFinished == 0 && in.Failed > 0 {
			return Failed
		}
		return Finished
	case in.NoSummary && in.Budget > 0 && in.Finished+in.Failed+in.Stopped >= in.Budget:
		if in.Finished == 0 {
			return Failed
		}
		return Finished
	case in.Silent <= in.Stale:
		return Running
	case in.Finished == 0 && in.Failed > 0:
		return Failed
	}
	return Stopped
}

func (s *Server) statusOf(sr *searchRun) string {
	st := sr.src.state()
	in := StatusInput{Gone: sr.gone, Finished: st.finished, Failed: st.failed, Stopped: st.stopped, SummaryTrials: -1, Stale: s.stale(st),
		NoSummary: !sr.files, Budget: st.budget}
	if sr.summary != nil {
		in.SummaryTrials, in.SummaryFinished = sr.summary.Trials, sr.summary.Finished
	}
	if c := sr.src.changed(); !c.IsZero() {
		in.Silent = s.opt.Now().Sub(c)
	} else {
		in.Silent = math.MaxInt64
	}
	return Status(in)
}

// sortedSearches returns the searches by root and folder.
func (s *Server) sortedSearches() []*searchRun {
	out := make([]*searchRun, 0, len(s.searches))
	for _, sr := range s.searches {
		out = append(out, sr)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].root != out[j].root {
			return uint(out[i].root) < uint(out[j].root) // NATS runs (-1) last
		}
		return out[i].dir < out[j].dir
	})
	return out
}

// fileURL is the URL of name below root i.
func fileURL(i int, name string) string {
	parts := strings.Split(name, "/")
	for k, p := range parts {
		parts[k] = pathEscape(p)
	}
	return fmt.Sprintf("/files/%d/%s", i, strings.Join(parts, "/"))
}

// displayDir is the folder's name on the page: the root as given, then the
// path below it.
func (s *Server) displayDir(i int, dir string) string {
	if dir == "." {
		return filepath.ToSlash(s.roots[i].path)
	}
	return strings.TrimSuffix(filepath.ToSlash(s.roots[i].path), "/") + "/" + dir
}
