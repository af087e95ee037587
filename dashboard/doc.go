// Package dashboard serves a live, read-only web page over run folders:
// searches (a folder with journal.jsonl), experiments and studies (folders
// of training runs with result.json, and report.md), and searches kept on
// a NATS JetStream server (`autodropout dashboard DIR...`).
//
// # What the page shows
//
// Every search with its status, trials done out of the budget, trials
// running and failed, best reward, CPU seconds of its trials, elapsed time
// and an estimate of the time left; per search, the reward of every trial
// and the best so far by trial id (failed trials as crosses on the bottom
// edge), the controller's batch entropy, baseline and batch mean reward
// per update, the latest trials, every failure with its reason, and the
// five best patterns so far with the mask picture of each site (drawn by
// autodropout.MasksImage on a 1×8×S×S activation, S the dataset's input
// side (28 for MNIST and Fashion-MNIST, 32 for CIFAR, else
// Options.MapSize), libtorch seeded the same way for every picture; a
// share_c pattern gives one tile) and a download of
// the pattern file. Searches in one folder (an experiment's search-rl and
// search-random) are shown side by side, RL first, with their running
// bests on one chart. A folder with training runs gets the comparison
// table of report.md's "Final training" section (the same labels, order,
// baseline and statistics: package report's LabelOrder and Describe) and
// links to its report.md and figures.
//
// # Reading runs
//
// Folders are walked at most MaxDepth (4) deep, skipping trials/ folders,
// at most every Options.Rescan. A journal is read incrementally: the
// server remembers the offset after the last whole line and reads only
// what was appended since, at most every Options.Poll, however many pages
// ask. Each event is applied to the search's search.History (the rules
// the search resumes by; an event it refuses is counted and shown as a
// bad line) and folded into the page's state at O(log n) cost, so
// an update costs the same over a journal of 10,000 trials as over one of
// 10 (BenchmarkUpdate). The page asks for what changed since the version
// it has (/api/search?since=V) and gets only the changed trials and new
// controller updates.
//
// A torn last line (a writer in the middle of a line, or killed there) is
// left until its newline comes; a last line that does not decode is left
// too, and skipped with a warning only once another line follows it. A
// journal that shrank, was replaced (another file), or lost the newline
// before the remembered offset was rewritten: it is read again from the
// start in a new epoch, and the page drops what it had. A folder or
// journal deleted while served keeps its last state and is shown as gone;
// a folder created again under the same name is read afresh.
//
// # Status
//
// A search is finished once summary.json (written when search.Run ends)
// counts every trial the journal has (failed instead when none of them
// finished); running while its journal changed within the stale time;
// otherwise stopped (killed or interrupted; rerunning the search resumes
// it), or failed when every trial with an outcome failed. The stale time
// is the task's trial timeout plus two minutes (a trial that runs longer
// is journaled as failed, so a longer silence means the search process is
// gone), else ten minutes or twice the longest trial (Options.Stale
// overrides it). A NATS run has no folder for a summary.json: it is
// finished once every trial of its budget has an outcome. The time left
// is the time the last 20 outcomes took (from the first event while there
// are fewer) over their number, times the trials left.
//
// # Security
//
// The server answers GET and HEAD only and writes nothing. Files are
// served from /files/R/PATH (R: the index of the folder given) through an
// os.Root, so no URL reaches outside the folders: "..", absolute paths
// and symbolic links that lead outside (or are absolute) are refused, and
// folders are not listed. Served files carry a sandboxing
// Content-Security-Policy, so an HTML file in a run folder cannot run as
// the dashboard's page; the page itself loads only its own embedded
// script and style sheet and puts every text from a run in as text, never
// as markup. Options.Hosts limits the Host header (LoopbackHosts gives the
// loopback names), which keeps DNS-rebinding pages away from a dashboard
// on 127.0.0.1, where the command binds by default. To watch a remote
// machine, forward the port: ssh -L 8080:127.0.0.1:8080 HOST.
//
// # Assets
//
// The page (assets/index.html, app.js, style.css) is embedded with
// go:embed and fetches nothing else: charts are SVG drawn by app.js. It
// polls /api/runs every second and works offline.
package dashboard
