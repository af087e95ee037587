package runlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// holderEnv makes the test binary a process that takes the lock of the
// folder it names, says so and waits to be killed.
const holderEnv = "RUNLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holderEnv); dir != "" {
		if _, err := Acquire(dir); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		select {}
	}
	os.Exit(m.Run())
}

// TestSameProcess: a second Acquire of a held folder is refused, even in
// the same process, with a one-line message naming the folder and this
// process; after Release it succeeds; other folders are not affected.
func TestSameProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	msg := err.Error()
	for _, want := range []string{dir + " is in use by process " + strconv.Itoa(os.Getpid()), "runlock.test", "this one", "use another folder"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q is more than one line", msg)
	}
	if he.Since.IsZero() || he.PID != os.Getpid() {
		t.Errorf("holder %+v: want this pid and a start time", he)
	}
	other, err := Acquire(t.TempDir())
	if err != nil {
		t.Fatalf("another folder: %v", err)
	}
	other.Release()
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	l, err = Acquire(dir)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l.Release()
}

// TestKilledHolder: a process holding the lock is refused to others; once
// it is killed with SIGKILL the lock can be taken at once.
func TestKilledHolder(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("holder said %q", line)
	}
	_, err = Acquire(dir)
	var he *HeldError
	if !errors.As(err, &he) || he.PID != cmd.Process.Pid {
		t.Fatalf("Acquire while held: %v, want a refusal naming pid %d", err, cmd.Process.Pid)
	}
	if !strings.Contains(err.Error(), holderEnv) && !strings.Contains(err.Error(), "-test.run") {
		t.Errorf("message %q does not name the holder's command", err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after SIGKILL of the holder: %v", err)
	}
	l.Release()
}

// TestMissingFolder: a folder that does not exist is an error naming it,
// not a refusal.
func TestMissingFolder(t *testing.T) {
	dir := t.TempDir() + "/none"
	_, err := Acquire(dir)
	if err == nil || errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err %v, want one naming %s", err, dir)
	}
}

// TestCommandLine: the holder's command is one line, without the
// password of a server URL.
func TestCommandLine(t *testing.T) {
	defer func(a []string) { os.Args = a }(os.Args)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/autodropout", "search", "--out", "runs/x"}, "autodropout search --out runs/x"},
		{[]string{"bin/autodropout", "search", "--nats", "nats://alice:secret@host:4222"}, "autodropout search --nats nats://REDACTED@host:4222"},
		{[]string{"prog", "a\nb"}, "prog a b"},
		{[]string{"prog", strings.Repeat("x", 300)}, "prog " + strings.Repeat("x", 192) + "..."},
	} {
		os.Args = tc.args
		if got := CommandLine(); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
}
