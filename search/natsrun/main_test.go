package natsrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/autodropout/autodropout/search"
)

// The test binary plays the worker and controller processes of the
// distributed tests: TestMain runs that role instead of the tests when
// roleEnv says so.
const (
	roleEnv = "NATSRUN_TEST_ROLE"
	urlEnv  = "NATSRUN_TEST_URL"
	runEnv  = "NATSRUN_TEST_RUN"
	argEnv  = "NATSRUN_TEST_ARG" // worker: fake train binary; controller: output folder
	nameEnv = "NATSRUN_TEST_NAME"
	dirEnv  = "NATSRUN_TEST_TRIALS"
)

// testAckWait is short so that a killed worker's trial comes back quickly.
const testAckWait = 2 * time.Second

// testControllerTTL is short so that a killed controller's claim on its
// run lapses quickly, and long enough that a test reads it before then.
const testControllerTTL = 3 * time.Second

func TestMain(m *testing.M) {
	controllerTTL = testControllerTTL
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "worker":
		if err := workerMain(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
	case "controller":
		if err := controllerMain(); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
			os.Exit(1)
		}
	case "claim": // claims the run, says so and waits to be killed
		nc, err := Connect(os.Getenv(urlEnv), Options{Name: "claim"})
		if err == nil {
			var js jetstream.JetStream
			if js, err = jetstream.New(nc); err == nil {
				_, err = LockRun(context.Background(), js, os.Getenv(runEnv))
			}
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("claimed")
		select {}
	}
	os.Exit(0)
}

func workerMain() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	nc, err := ConnectRetry(ctx, os.Getenv(urlEnv), Options{Name: os.Getenv(nameEnv), Log: os.Stderr},
		Backoff{Min: 100 * time.Millisecond, Max: time.Second}, "worker", os.Stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	w := &Worker{Run: os.Getenv(runEnv), Name: os.Getenv(nameEnv), Binary: os.Getenv(argEnv),
		TrialsDir: os.Getenv(dirEnv), Threads: 1, AckWait: testAckWait, Log: os.Stderr}
	return w.Serve(ctx, js)
}

// controllerSearch is the search the controller processes run: an RL
// controller, so that resuming needs the checkpoint from the server.
func controllerSearch(out string) *search.Search {
	cfg := search.Config{Method: "rl", Budget: 12, Parallel: 3, SamplesPerUpdate: 3, Seed: 5}.WithDefaults()
	return &search.Search{Config: cfg, Sites: []string{"bn1", "block.bn2"}, Out: out, Progress: os.Stderr}
}

func controllerMain() error {
	ctx := context.Background()
	run := os.Getenv(runEnv)
	nc, err := Connect(os.Getenv(urlEnv), Options{Name: "controller", Log: os.Stderr})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	s := controllerSearch(os.Getenv(argEnv))
	ex, err := NewExecutor(ctx, js, run, os.Stderr)
	if err != nil {
		return err
	}
	defer ex.Close()
	if s.Journal, err = OpenJournal(ctx, js, run); err != nil {
		return err
	}
	if s.Checkpoints, err = OpenCheckpoints(ctx, js, run); err != nil {
		return err
	}
	s.Executor = ex
	sum, err := s.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "controller: done: %d trials, %d updates, %d duplicates\n", sum.Trials, sum.Updates, ex.Duplicates())
	return nil
}

// startServer starts a JetStream server on loopback (port -1: any free
// port) and returns its URL.
func startServer(t *testing.T, port int) (*server.Server, string) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s, s.ClientURL()
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := Connect(url, Options{Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// fakeTrain writes a stand-in for `autodropout train`: it sleeps, then
// writes a result.json whose val_acc is a checksum of the pattern file,
// so that rewards differ between patterns and repeat for the same one.
func fakeTrain(t *testing.T, sleep string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-train")
	script := `#!/bin/sh
[ "$1" = version ] && { echo "autodropout fake"; exit 0; }
while [ $# -gt 0 ]; do
	case "$1" in
	--out) OUT=$2 ;;
	--pattern) PAT=$2 ;;
	esac
	shift
done
echo "fake train: $PAT"
sleep ` + sleep + `
SUM=$(cksum < "$PAT" | cut -d' ' -f1)
printf '{"val_acc": 0.%04d, "steps": 1, "examples": 8, "wall_s": ` + sleep + `}\n' $((SUM % 10000)) > "$OUT/result.json"
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a child process of the test binary in some role, with its
// output kept.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, name, role string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(append(os.Environ(), roleEnv+"="+role, nameEnv+"="+name), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// waitLine waits for a line of output matching re and returns its
// submatches.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m
			}
			t.Fatalf("%s ended (%v) before printing %q", p.name, p.err, re)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s printed no %q in %v", p.name, re, timeout)
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Count(sub string) int { return strings.Count(s.String(), sub) }
