package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/search/natsrun"
)

// TestNATS serves a search whose journal is on a NATS JetStream server,
// written through natsrun's own Journal as `autodropout search --nats`
// writes it.
func TestNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	url := ns.ClientURL()

	// The dashboard starts before the search: no stream yet.
	s, err := New(nil, &Options{NATS: []NATSRun{{URL: url, Run: "demo"}}, Poll: time.Nanosecond, Rescan: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if si := searchInfo(t, s, "nats:demo"); !strings.Contains(si.Error, "no journal stream") {
		t.Errorf("before the search: error %q, want that there is no journal stream yet", si.Error)
	}

	nc, err := natsrun.Connect(url, natsrun.Options{Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	j, err := natsrun.OpenJournal(context.Background(), js, "demo")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	appendEvents := func(b []byte) {
		t.Helper()
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var e search.Event
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatal(err)
			}
			if err := j.Append(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendEvents(f.search("rl", 8, 5))
	si := searchInfo(t, s, "nats:demo")
	if si.Error != "" || si.Done != 5 || si.Budget != 8 || si.Status != Running || si.Journal != "" || si.Updates != 1 {
		t.Errorf("after 5 trials: %+v, want 5/8 done, running, no journal file", si)
	}
	for id := 5; id < 8; id++ {
		appendEvents(f.trial(id, id/4, TrialFinished, 0.9+float64(id)/100))
	}
	if si := searchInfo(t, s, "nats:demo"); si.Done != 8 || si.Status != Finished || *si.Best != 0.97 || si.BestTrial != 7 {
		t.Errorf("after the budget: %+v (best %v), want finished with trial 7 best", si, *si.Best)
	}
	d, ok := s.Delta("nats:demo", 0, 0)
	if !ok || len(d.Trials) != 8 || d.Top[0].Trial != 7 {
		t.Fatalf("delta: %v %d trials, top %+v", ok, len(d.Trials), d.Top)
	}
	if w := get(t, s, "GET", d.Top[0].Download); w.Code != 200 || !strings.Contains(w.Body.String(), "bn1") {
		t.Errorf("pattern download from a NATS run: %d %s", w.Code, w.Body)
	}
}
