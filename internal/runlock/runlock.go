package runlock

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Name is the lock file Acquire uses in a folder.
const Name = ".lock"

// ErrHeld is wrapped by every error that says another holder has the
// lock (a *HeldError).
var ErrHeld = errors.New("in use by another process")

// HeldError says who holds a lock another Acquire wanted.
type HeldError struct {
	Dir     string    // the folder
	PID     int       // the holder's process id; 0: not written yet
	Command string    // the holder's command line, "" if unknown
	Since   time.Time // when it took the lock; zero if unknown
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
		var what []string
		if e.PID == os.Getpid() {
			what = append(what, "this one")
		}
		if e.Command != "" {
			what = append(what, e.Command)
		}
		if !e.Since.IsZero() {
			what = append(what, "since "+e.Since.Local().Format(time.TimeOnly))
		}
		if len(what) > 0 {
			who += " (" + strings.Join(what, ", ") + ")"
		}
	}
	return fmt.Sprintf("%s is in use by %s: wait for it to end, or use another folder", e.Dir, who)
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// A Lock is a held lock; Release gives it back.
type Lock struct {
	f    *os.File
	path string
}

// Acquire locks the folder dir (which must exist) for this caller, or
// returns a *HeldError naming the holder.
func Acquire(dir string) (*Lock, error) {
	return AcquireFile(filepath.Join(dir, Name))
}

// AcquireFile locks the file at path (creating it), for a folder that
// needs more than one lock: a worker holds its own in a trial folder
// while the training it starts holds the folder's Name.
func AcquireFile(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Dir(path), err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		he := holder(f)
		he.Dir = filepath.Dir(path)
		f.Close()
		return nil, he
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Who holds it, for the message another process gets. A failed write
	// only makes that message vaguer.
	line := fmt.Sprintf("%d %s %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339), CommandLine())
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(line), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the lock back. Releasing a nil or released Lock does
// nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor drops the flock
	l.f = nil
	if err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

// holder reads who holds the lock from its file: "PID TIME COMMAND".
func holder(f *os.File) *HeldError {
	he := &HeldError{}
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	fields := strings.SplitN(strings.TrimSpace(string(b[:n])), " ", 3)
	if len(fields) < 2 {
		return he // taken a moment ago, not written yet
	}
	if pid, err := strconv.Atoi(fields[0]); err == nil && pid > 0 {
		he.PID = pid
	}
	he.Since, _ = time.Parse(time.RFC3339, fields[1])
	if len(fields) == 3 {
		he.Command = fields[2]
	}
	return he
}

// CommandLine is this process's command for a message naming a lock's
// holder: the program's base name and its arguments on one line, at most
// 200 bytes, with the password of any URL (a --nats server's) hidden.
func CommandLine() string {
	args := []string{filepath.Base(os.Args[0])}
	for _, a := range os.Args[1:] {
		if u, err := url.Parse(a); err == nil && u.User != nil && u.Host != "" {
			u.User = url.User("REDACTED")
			a = u.String()
		}
		args = append(args, a)
	}
	s := strings.ReplaceAll(strings.Join(args, " "), "\n", " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
