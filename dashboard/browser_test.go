package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables of TestBrowser.
const (
	// skipBrowserEnv=1 skips the browser test on a machine without
	// Chromium; without it, a missing Chromium fails the test.
	skipBrowserEnv = "AUTODROPOUT_SKIP_BROWSER"
	// chromiumEnv names the browser binary (default: chromium on PATH).
	chromiumEnv = "AUTODROPOUT_CHROMIUM"
	// screenshotEnv is where to save the screenshot (default: a
	// temporary folder); docs/img/dashboard.png is made with it.
	screenshotEnv = "AUTODROPOUT_SCREENSHOT"
)

func chromium(t *testing.T) string {
	if p := os.Getenv(chromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(skipBrowserEnv) == "1" {
		t.Skipf("no Chromium on PATH and %s=1: browser test skipped", skipBrowserEnv)
	}
	t.Fatalf("the dashboard's browser test needs Chromium: run 'make setup' (it installs Debian's chromium), set %s to a Chrome or Chromium binary, or set %s=1 to skip this test", chromiumEnv, skipBrowserEnv)
	return ""
}

// browser starts headless Chromium at bin with the flags that work in a
// container (no sandbox, no GPU, no network of its own) and a fresh
// profile, and returns its context and a must function that fails the
// test with the browser's log. It stops when the test ends; the test
// fails if the page threw an exception or logged an error (a script
// error, a resource that did not load, a Content-Security-Policy
// violation) on the way.
func browser(t *testing.T, bin string) (context.Context, func(what string, err error)) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	// A deadline so that a browser that never answers fails the test
	// instead of hanging it; nothing is timed.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	var logs bytes.Buffer
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }))
	t.Cleanup(cancelBrowser)

	var mu sync.Mutex
	var pageErrors []string
	err := chromedp.Listen(bctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg = fmt.Sprintf("exception: %s at %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && !strings.HasSuffix(e.Entry.URL, "/favicon.ico") {
				msg = fmt.Sprintf("%s error: %s (%s)", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
		if msg != "" {
			mu.Lock()
			pageErrors = append(pageErrors, msg)
			mu.Unlock()
		}
	})
	if err == nil {
		_, err = chromedp.Call(bctx, cdplog.Enable, cdp.Empty{})
	}
	if err != nil {
		t.Fatalf("start the browser: %v (browser log: %s)", err, logs.String())
	}
	t.Cleanup(func() { // runs before the browser stops
		mu.Lock()
		defer mu.Unlock()
		for _, e := range pageErrors {
			t.Errorf("page: %s", e)
		}
	})
	return bctx, func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v (browser log: %s)", what, err, logs.String())
		}
	}
}

// TestBrowser loads the page in headless Chromium over an experiment
// whose RL search is still running, appends a trial to its journal,
// waits until the page shows it, and takes a screenshot.
func TestBrowser(t *testing.T) {
	if os.Getenv(skipBrowserEnv) == "1" {
		t.Skipf("%s=1", skipBrowserEnv)
	}
	bin := chromium(t)
	out, err := filepath.Abs(os.Getenv(screenshotEnv)) // before the Chdir below
	if err != nil || os.Getenv(screenshotEnv) == "" {
		out = filepath.Join(t.TempDir(), "dashboard.png")
	}
	// A relative folder, as a user types it (and as the screenshot shows).
	t.Chdir(t.TempDir())
	dir := filepath.Join("runs", "demo")
	f := newFixture(t)
	f.experiment(dir, 64, 40)
	s := newServer(t, nil, dir)
	srv := httptest.NewServer(s)
	defer srv.Close()

	bctx, must := browser(t, bin)
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		return v
	}
	rl := `.panel[data-run="0:search-rl"]`
	must("load the page", chromedp.Do(bctx, chromedp.Navigate(srv.URL)))
	must("wait for the RL panel", chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(rl+` tr[data-trial="39"]`))))
	if got := text(`#runs tr[data-run="0:search-rl"] td.done`); got != "40 / 64" {
		t.Errorf("overview of search-rl before the append: %q, want 40 / 64", got)
	}
	must("wait for the comparison table", chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`.collection table.comparison`))))
	if got := text(`.collection table.comparison tbody tr:last-child td:first-child`); got != "autodropout-best" {
		t.Errorf("last row of the comparison: %q, want autodropout-best", got)
	}
	if got := text(`.panel[data-run="0:search-rl"] tr[data-failed="12"] td.text`); got != "loss diverged (NaN) at step 7" {
		t.Errorf("failure reason of trial 12: %q", got)
	}

	// The search goes on: trial 40 finishes with the best reward yet.
	appendTo(t, filepath.Join(dir, "search-rl", "journal.jsonl"), f.trial(40, 10, TrialFinished, 0.9))
	must("wait for trial 40", chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(rl+` tr[data-trial="40"]`))))
	if got := text(rl + ` tr[data-trial="40"] td:nth-child(3)`); got != "0.9000" {
		t.Errorf("reward of trial 40 on the page: %q, want 0.9000", got)
	}
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#runs tr[data-run="0:search-rl"] td.done').textContent === "41 / 64"`))
	must("wait for the overview to count trial 40", err)
	if got := text(`#runs tr[data-run="0:search-rl"] td.best`); got != "0.9000 (#40)" {
		t.Errorf("best of search-rl: %q, want 0.9000 (#40)", got)
	}
	// A multi-fidelity trial stopped at its first rung: a ring, not a best.
	appendTo(t, filepath.Join(dir, "search-rl", "journal.jsonl"), f.trial(41, 10, TrialStopped, 0.95))
	must("wait for trial 41", chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(rl+` tr[data-trial="41"]`))))
	if got := text(rl + ` tr[data-trial="41"] td:nth-child(2)`); got != "stopped after 1 epoch" {
		t.Errorf("status of trial 41 on the page: %q, want stopped after 1 epoch", got)
	}
	if got := text(`#runs tr[data-run="0:search-rl"] td.best`); got != "0.9000 (#40)" {
		t.Errorf("best of search-rl after a stopped trial: %q, want 0.9000 (#40)", got)
	}
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelectorAll('.panel[data-run="0:search-rl"] svg path.rings').length === 1`))
	must("wait for the stopped trial's ring", err)
	// Every mask picture loaded (the renderer answered), then the picture.
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => { const im = [...document.querySelectorAll('.top img')];
		return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0); })()`))
	must("wait for the mask pictures", err)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	must("screenshot", err)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 600 {
		t.Errorf("screenshot %v, want at least the window", b)
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
}

// TestBrowserLarge loads a search of 10,000 trials, appends one and waits
// until the page shows it. It logs how long the page's updates took (its
// own measure, #updated's data-ms) and asserts nothing about time.
func TestBrowserLarge(t *testing.T) {
	if os.Getenv(skipBrowserEnv) == "1" {
		t.Skipf("%s=1", skipBrowserEnv)
	}
	if testing.Short() {
		t.Skip("-short: 10,000 trials")
	}
	bin := chromium(t)
	dir := t.TempDir()
	f := newFixture(t)
	j := filepath.Join(dir, "journal.jsonl")
	write(t, j, f.search("rl", 20_000, 10_000))
	s := newServer(t, nil, dir)
	srv := httptest.NewServer(s)
	defer srv.Close()
	bctx, must := browser(t, bin)
	must("load the page", chromedp.Do(bctx, chromedp.Navigate(srv.URL),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-trial="9999"]`))))
	first, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("updated").dataset.ms`))
	must("read the first update's time", err)
	appendTo(t, j, f.trial(10_000, 2500, TrialFinished, 0.99))
	must("wait for trial 10000", chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`tr[data-trial="10000"]`))))
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('#runs td.done').textContent === "10001 / 20000"`))
	must("wait for the overview", err)
	// The next idle update, after the one that drew trial 10000.
	_, err = chromedp.Run(bctx, chromedp.Poll[bool](`(() => { const u = document.getElementById("updated");
		if (window.seen === undefined) window.seen = u.textContent; return u.textContent !== window.seen; })()`))
	must("wait for an idle update", err)
	idle, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("updated").dataset.ms`))
	must("read the update time", err)
	t.Logf("page over 10,000 trials: first load and draw %s ms; a later update %s ms", first, idle)
}
