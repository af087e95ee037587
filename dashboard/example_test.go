package dashboard_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/autodropout/autodropout/dashboard"
)

// Serving a search folder: the overview a page polls. A real program
// passes the Server to dashboard.Serve (or any http.Server) instead.
func Example() {
	dir, err := os.MkdirTemp("", "dashboard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	journal := `{"type":"run_started","time":"2026-01-02T03:04:05Z","config":{"method":"rl","budget":4}}
{"type":"trial_proposed","time":"2026-01-02T03:04:05Z","trial":0,"patterns":{"patterns":[]},"controller_step":0}
{"type":"trial_started","time":"2026-01-02T03:04:06Z","trial":0}
{"type":"trial_finished","time":"2026-01-02T03:04:30Z","trial":0,"reward":0.66,"cost":{"wall_s":24,"cpu_s":9,"steps":32,"examples":2048}}
{"type":"trial_started","time":"2026-01-02T03:04:31Z","trial":1}
{"type":"trial_failed","time":"2026-01-02T03:04:40Z","trial":1,"reason":"loss diverged"}
{"type":"trial_started","time":"2026-01-02T03:04:41Z","trial":2}
{"type":"trial_fin`
	if err := os.WriteFile(filepath.Join(dir, "journal.jsonl"), []byte(journal), 0o644); err != nil {
		log.Fatal(err)
	}
	s, err := dashboard.New([]string{dir}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for _, si := range s.Runs().Searches {
		fmt.Printf("%s: %s, %d/%d trials done, %d running, %d failed, best %.2f (trial %d)\n",
			si.Method, si.Status, si.Done, si.Budget, si.Running, si.Failed, *si.Best, si.BestTrial)
	}
	// Output:
	// rl: running, 2/4 trials done, 1 running, 1 failed, best 0.66 (trial 0)
}
