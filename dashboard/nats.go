package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/search/natsrun"
)

// NATSRun is a search kept on a NATS JetStream server (`autodropout
// search --nats URL --run RUN`): its journal is read from the journal
// stream, which holds the same events as a journal.jsonl.
type NATSRun struct {
	URL  string          // nats://[user:pass@]host:4222
	Run  string          // the run's name (natsrun.DefaultRun when empty)
	Conn natsrun.Options // credentials and TLS files
}

// journalSubject is the subject of run's events on natsrun.JournalStream,
// as package natsrun documents it (autodropout.journal.RUN).
func journalSubject(run string) string { return "autodropout.journal." + run }

// natsSource reads a run's journal stream incrementally with an ordered
// consumer: each poll fetches, without waiting, what was stored after the
// last message it delivered. The consumer is made on the first poll that
// finds the stream, so a dashboard may start before the search does.
type natsSource struct {
	js   jetstream.JetStream
	run  string
	cons jetstream.Consumer
	st   *searchState
	last time.Time // stored time of the last message
}

// natsPollTimeout bounds one poll's round trips to the server.
const natsPollTimeout = 5 * time.Second

func newNATSSource(js jetstream.JetStream, run string) *natsSource {
	return &natsSource{js: js, run: run, st: newSearchState()}
}

func (n *natsSource) state() *searchState { return n.st }
func (n *natsSource) epoch() int          { return 1 }
func (n *natsSource) changed() time.Time  { return n.last }

func (n *natsSource) poll() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), natsPollTimeout)
	defer cancel()
	if n.cons == nil {
		c, err := n.js.OrderedConsumer(ctx, natsrun.JournalStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{journalSubject(n.run)}, DeliverPolicy: jetstream.DeliverAllPolicy})
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return false, fmt.Errorf("nats run %s: no journal stream %s on the server yet (has the search started?)", n.run, natsrun.JournalStream)
		}
		if err != nil {
			return false, fmt.Errorf("nats run %s: %w", n.run, err)
		}
		n.cons = c
	}
	changed := false
	for {
		batch, err := n.cons.FetchNoWait(512)
		if err != nil {
			return changed, fmt.Errorf("nats run %s: read journal: %w", n.run, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if meta, err := m.Metadata(); err == nil && meta.Timestamp.After(n.last) {
				n.last = meta.Timestamp
			}
			var e search.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				n.st.badLines++
				n.st.lastBad = fmt.Sprintf("nats run %s: %v", n.run, err)
				n.st.version++
			} else {
				n.st.apply(&e)
			}
			changed = true
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return changed, fmt.Errorf("nats run %s: read journal: %w", n.run, err)
		}
		if got < 512 {
			break
		}
	}
	n.st.compact()
	return changed, nil
}

// connectNATS connects to every server of runs once and adds a search per
// run, with id "nats:RUN" (runs on several servers: "nats:URL#RUN").
func (s *Server) connectNATS(runs []NATSRun) error {
	conns := map[string]jetstream.JetStream{}
	for _, r := range runs {
		if r.Run == "" {
			r.Run = natsrun.DefaultRun
		}
		if err := natsrun.CheckRun(r.Run); err != nil {
			return err
		}
		js := conns[r.URL]
		if js == nil {
			o := r.Conn
			if o.Name == "" {
				o.Name = "autodropout dashboard"
			}
			nc, err := natsrun.Connect(r.URL, o)
			if err != nil {
				return fmt.Errorf("dashboard: nats: %w", err)
			}
			s.conns = append(s.conns, nc)
			if js, err = jetstream.New(nc); err != nil {
				return fmt.Errorf("dashboard: nats %s: %w", natsrun.Redact(r.URL), err)
			}
			conns[r.URL] = js
		}
		id := "nats:" + r.Run
		if len(conns) > 1 || s.searches[id] != nil {
			id = "nats:" + natsrun.Redact(r.URL) + "#" + r.Run
		}
		s.searches[id] = &searchRun{id: id, root: -1, dir: r.Run, group: "nats:" + natsrun.Redact(r.URL),
			display: natsrun.Redact(r.URL) + " run " + r.Run, src: newNATSSource(js, r.Run)}
	}
	return nil
}
