package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

func pathEscape(s string) string { return url.PathEscape(s) }

// ServeHTTP answers GET and HEAD requests:
//
//	/                      the page
//	/static/NAME           its script and style sheet
//	/api/runs              every search and collection with its status
//	/api/search?run=ID&epoch=E&since=V
//	                       a search's trials and controller updates changed
//	                       since version V of epoch E (all of them without V)
//	/api/pattern?run=ID&trial=N
//	                       the pattern file of trial N, as a download
//	/api/mask?run=ID&trial=N&site=K
//	                       the masks of site K of trial N's patterns (PNG)
//	/files/R/PATH          the file PATH below folder R (the R-th given),
//	                       never a folder, never outside it
//
// Anything else is 404; other methods are 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	if !s.hostAllowed(r.Host) {
		http.Error(w, fmt.Sprintf("host %q not served (start the dashboard with --addr for it)", r.Host), http.StatusForbidden)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/":
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		s.serveAsset(w, r, "index.html")
	case strings.HasPrefix(p, "/static/"):
		s.serveAsset(w, r, strings.TrimPrefix(p, "/static/"))
	case p == "/api/runs":
		s.serveRuns(w, r)
	case p == "/api/search":
		s.serveSearch(w, r)
	case p == "/api/pattern":
		s.servePattern(w, r)
	case p == "/api/mask":
		s.serveMask(w, r)
	case strings.HasPrefix(p, "/files/"):
		s.serveFile(w, r, strings.TrimPrefix(p, "/files/"))
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) hostAllowed(host string) bool {
	if s.opt.Hosts == nil {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, a := range s.opt.Hosts {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

var assetTime = time.Now()

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, assetTime, bytes.NewReader(b))
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(b)
}

// Link is a named URL.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// SearchInfo is a search's line of /api/runs.
type SearchInfo struct {
	ID        string   `json:"id"`
	Dir       string   `json:"dir"`   // as shown
	Group     string   `json:"group"` // searches of one group are shown side by side
	Status    string   `json:"status"`
	Method    string   `json:"method"`
	Unit      string   `json:"unit,omitempty"` // what multi-fidelity rungs count: epochs, or steps for a language model
	Budget    int      `json:"budget"`
	Done      int      `json:"done"` // finished + failed + stopped
	Finished  int      `json:"finished"`
	Failed    int      `json:"failed"`
	Stopped   int      `json:"stopped"` // multi-fidelity trials stopped at a rung
	Running   int      `json:"running"` // started, no outcome yet
	Best      *float64 `json:"best"`
	BestTrial int      `json:"best_trial"`
	CPUS      float64  `json:"cpu_s"`
	ETAS      *float64 `json:"eta_s"`     // while running
	ElapsedS  float64  `json:"elapsed_s"` // first to last event
	LastEvent int64    `json:"last_event"`
	Updates   int      `json:"updates"`
	Epoch     int      `json:"epoch"`
	Version   uint64   `json:"version"`
	BadLines  int      `json:"bad_lines,omitempty"`
	LastBad   string   `json:"last_bad,omitempty"`
	Error     string   `json:"error,omitempty"`
	Journal   string   `json:"journal,omitempty"` // URL; none for a NATS run
	Summary   string   `json:"summary,omitempty"`
	Top       []Link   `json:"top,omitempty"` // top/*.json once the search ends
}

// CollectionInfo is an experiment's or study's line of /api/runs.
type CollectionInfo struct {
	ID       string   `json:"id"`
	Dir      string   `json:"dir"`
	Status   string   `json:"status"`
	Report   string   `json:"report,omitempty"` // URL of report.md
	Figures  []Link   `json:"figures,omitempty"`
	Searches []string `json:"searches,omitempty"` // ids of the searches below it
	Runs     int      `json:"runs"`               // training runs read
	Bad      []string `json:"bad,omitempty"`      // unreadable result.json files, with the reason
	Rows     []Row    `json:"rows"`
	Baseline string   `json:"baseline,omitempty"`
}

// Runs is /api/runs.
type Runs struct {
	Now         int64            `json:"now"`
	Roots       []RootInfo       `json:"roots"`
	Searches    []SearchInfo     `json:"searches"`
	Collections []CollectionInfo `json:"collections"`
}

// RootInfo is a folder given to the server.
type RootInfo struct {
	Dir   string `json:"dir"`
	Gone  bool   `json:"gone"`
	Error string `json:"error,omitempty"`
}

// Runs refreshes what changed and returns the overview /api/runs serves.
func (s *Server) Runs() Runs {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(false)
	return s.runsLocked()
}

func (s *Server) runsLocked() Runs {
	now := s.opt.Now()
	out := Runs{Now: now.UnixMilli(), Roots: []RootInfo{}, Searches: []SearchInfo{}, Collections: []CollectionInfo{}}
	for _, r := range s.roots {
		out.Roots = append(out.Roots, RootInfo{Dir: r.path, Gone: r.gone, Error: r.err})
	}
	status := map[string]string{}
	for _, sr := range s.sortedSearches() {
		st := sr.src.state()
		si := SearchInfo{ID: sr.id, Dir: sr.display, Group: sr.group, Status: s.statusOf(sr),
			Method: st.method, Unit: st.unit, Budget: st.budget, Done: st.done(), Finished: st.finished, Failed: st.failed, Stopped: st.stopped,
			Running: st.running, Best: num(st.best), BestTrial: st.bestTrial, CPUS: st.cpuS,
			Updates: len(st.updates), Epoch: sr.src.epoch(), Version: st.version, BadLines: st.badLines, LastBad: st.lastBad,
			Error: sr.err}
		if sr.files {
			si.Journal = fileURL(sr.root, path.Join(sr.dir, "journal.jsonl"))
		}
		if si.Method == "" && sr.summary != nil {
			si.Method = sr.summary.Method
		}
		if si.Budget == 0 && sr.summary != nil {
			si.Budget = sr.summary.Budget
		}
		if !st.first.IsZero() {
			si.ElapsedS = st.last.Sub(st.first).Seconds()
			si.LastEvent = st.last.UnixMilli()
		}
		if si.Status == Running {
			si.ETAS = num(st.eta())
		}
		if sr.summary != nil {
			si.Summary = fileURL(sr.root, path.Join(sr.dir, "summary.json"))
		}
		for _, n := range sr.top {
			si.Top = append(si.Top, Link{n, fileURL(sr.root, path.Join(sr.dir, "top", n))})
		}
		status[sr.id] = si.Status
		out.Searches = append(out.Searches, si)
	}
	var cols []*collection
	for _, c := range s.colls {
		cols = append(cols, c)
	}
	sort.Slice(cols, func(i, j int) bool {
		if cols[i].root != cols[j].root {
			return cols[i].root < cols[j].root
		}
		return cols[i].dir < cols[j].dir
	})
	for _, c := range cols {
		ci := CollectionInfo{ID: c.id, Dir: s.displayDir(c.root, c.dir), Rows: c.rows, Baseline: c.base}
		if ci.Rows == nil {
			ci.Rows = []Row{}
		}
		if c.report {
			ci.Report = fileURL(c.root, path.Join(c.dir, "report.md"))
		}
		for _, f := range c.figures {
			ci.Figures = append(ci.Figures, Link{f, fileURL(c.root, path.Join(c.dir, f))})
		}
		for _, rf := range c.results {
			if rf.err == nil {
				ci.Runs++
			} else {
				ci.Bad = append(ci.Bad, rf.err.Error())
			}
		}
		sort.Strings(ci.Bad)
		anyRunning := false
		newest := c.newest
		for _, sr := range s.sortedSearches() {
			if sr.root == c.root && (c.dir == "." || strings.HasPrefix(sr.dir, c.dir+"/")) && sr.dir != c.dir {
				ci.Searches = append(ci.Searches, sr.id)
				anyRunning = anyRunning || status[sr.id] == Running
				if c := sr.src.changed(); c.After(newest) {
					newest = c
				}
			}
		}
		switch {
		case c.gone || s.roots[c.root].gone:
			ci.Status = Gone
		case anyRunning:
			ci.Status = Running
		case c.report && !c.reportOlderThan(newest):
			ci.Status = Finished
		case now.Sub(newest) <= s.staleCollection():
			ci.Status = Running
		default:
			ci.Status = Stopped
		}
		out.Collections = append(out.Collections, ci)
	}
	return out
}

// reportOlderThan reports whether report.md is older than t: a run
// finished after the report was written.
func (c *collection) reportOlderThan(t time.Time) bool {
	return c.reportMod.Before(t)
}

func (s *Server) staleCollection() time.Duration {
	if s.opt.Stale > 0 {
		return s.opt.Stale
	}
	return 10 * time.Minute
}

// SearchDelta is /api/search: what changed in a search since a version.
type SearchDelta struct {
	ID      string   `json:"id"`
	Epoch   int      `json:"epoch"`
	Version uint64   `json:"version"`
	Reset   bool     `json:"reset"` // the client must drop what it has: this is everything
	Trials  []Trial  `json:"trials"`
	Updates []Update `json:"updates"`
	Top     []Top    `json:"top"`
}

// Top is one of the best trials so far, with its pattern file.
type Top struct {
	Trial    int     `json:"trial"`
	Reward   float64 `json:"reward"`
	Download string  `json:"download"`
	Sites    []Site  `json:"sites,omitempty"` // a ConvNet pattern file's sites
	Text     string  `json:"text,omitempty"`  // any other pattern file
}

// Site is one site of a ConvNet pattern file with the URL of its masks.
type Site struct {
	Site    string `json:"site"`
	Pattern string `json:"pattern"` // the pattern in a line
	Mask    string `json:"mask"`
}

// Delta refreshes what changed and returns the trials and updates of
// search id changed after version since of epoch (all of them when epoch
// is not the current one). ok is false when there is no such search.
func (s *Server) Delta(id string, epoch int, since uint64) (SearchDelta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(false)
	sr := s.searches[id]
	if sr == nil {
		return SearchDelta{}, false
	}
	st := sr.src.state()
	d := SearchDelta{ID: id, Epoch: sr.src.epoch(), Version: st.version}
	if epoch != sr.src.epoch() || since > st.version {
		d.Reset, since = true, 0
	}
	d.Trials = st.changedSince(since)
	d.Updates = st.updatesSince(since)
	if d.Trials == nil {
		d.Trials = []Trial{}
	}
	if d.Updates == nil {
		d.Updates = []Update{}
	}
	d.Top = []Top{}
	for _, tid := range st.top {
		t := st.trials[tid]
		tp := Top{Trial: tid, Reward: *t.Reward, Download: fmt.Sprintf("/api/pattern?run=%s&trial=%d", url.QueryEscape(id), tid)}
		if ps, ok := convNetPatterns(t.patterns); ok {
			for k, sp := range ps {
				b, _ := json.Marshal(sp.Pattern)
				tp.Sites = append(tp.Sites, Site{Site: sp.Site, Pattern: string(b),
					Mask: fmt.Sprintf("/api/mask?run=%s&trial=%d&site=%d", url.QueryEscape(id), tid, k)})
			}
		} else {
			tp.Text = string(t.patterns)
			if len(tp.Text) > 2000 {
				tp.Text = tp.Text[:2000] + "…"
			}
		}
		d.Top = append(d.Top, tp)
	}
	return d, true
}

func (s *Server) serveRuns(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, s.Runs())
}

func (s *Server) serveSearch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	epoch, _ := strconv.Atoi(q.Get("epoch"))
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	d, ok := s.Delta(q.Get("run"), epoch, since)
	if !ok {
		http.Error(w, fmt.Sprintf("no search %q", q.Get("run")), http.StatusNotFound)
		return
	}
	writeJSON(w, r, d)
}

// patterns returns the journaled pattern file of a trial of a search.
func (s *Server) patterns(r *http.Request) (run string, trial int, b []byte, data string, err error) {
	q := r.URL.Query()
	run = q.Get("run")
	trial, err = strconv.Atoi(q.Get("trial"))
	if err != nil {
		return "", 0, nil, "", fmt.Errorf("trial %q: not a trial number", q.Get("trial"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.searches[run]
	if sr == nil {
		return "", 0, nil, "", fmt.Errorf("no search %q", run)
	}
	st := sr.src.state()
	t := st.trials[trial]
	if t == nil || t.patterns == nil {
		return "", 0, nil, "", fmt.Errorf("search %s has no pattern file for trial %d", run, trial)
	}
	return run, trial, t.patterns, st.data, nil
}

func (s *Server) servePattern(w http.ResponseWriter, r *http.Request) {
	_, trial, b, _, err := s.patterns(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		buf.Reset()
		buf.Write(b)
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=trial-%04d-patterns.json", trial))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
}

func (s *Server) serveMask(w http.ResponseWriter, r *http.Request) {
	_, _, b, data, err := s.patterns(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	ps, ok := convNetPatterns(b)
	k, kerr := strconv.Atoi(r.URL.Query().Get("site"))
	if !ok || kerr != nil || k < 0 || k >= len(ps) {
		http.Error(w, fmt.Sprintf("site %q: not a site of this ConvNet pattern file", r.URL.Query().Get("site")), http.StatusNotFound)
		return
	}
	side := mapSize(data, s.opt.MapSize)
	png, err := s.masks.png(ps[k].Pattern, side, side)
	if err != nil {
		http.Error(w, fmt.Sprintf("site %s: %v", ps[k].Site, err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(png))
}

// serveFile serves rest = "R/PATH": the file PATH below the R-th folder.
// PATH must be a valid slash path (no "..", no leading "/", no empty or
// "." element); the folder is read through an os.Root, so a symbolic
// link that leads outside it fails too. Folders are not listed.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, rest string) {
	ri, name, ok := strings.Cut(rest, "/")
	i, err := strconv.Atoi(ri)
	s.mu.Lock()
	n := len(s.roots)
	var root *rootDir
	if err == nil && i >= 0 && i < n {
		root = s.roots[i]
	}
	s.mu.Unlock()
	if !ok || root == nil || !fs.ValidPath(name) || name == "." || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	f, err := root.root.Open(name)
	if err != nil {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	h := w.Header()
	// Files come from runs, not from us: never let one run as a page.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	switch ext := path.Ext(name); ext {
	case ".md", ".jsonl", ".log", ".txt", ".csv":
		h.Set("Content-Type", "text/plain; charset=utf-8")
	case ".json":
		h.Set("Content-Type", "application/json")
	case ".png", ".svg", ".jpg", ".jpeg":
		h.Set("Content-Type", mime.TypeByExtension(ext))
	default:
		h.Set("Content-Type", "application/octet-stream")
	}
	if r.URL.Query().Get("download") != "" {
		h.Set("Content-Disposition", "attachment; filename="+strconv.Quote(path.Base(name)))
	}
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// Serve serves s on ln until ctx ends, then shuts down, giving requests
// in flight a few seconds. Slow clients are cut off by timeouts.
func Serve(ctx context.Context, ln net.Listener, s *Server) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}

// LoopbackHosts returns the host names a dashboard listening on addr
// should answer to when addr is a loopback address (localhost, 127.0.0.1,
// ::1 and the address's own host), and nil (any host) otherwise: someone
// who binds to another interface chose to be reached by other names.
func LoopbackHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	return []string{"localhost", "127.0.0.1", "::1", host}
}
