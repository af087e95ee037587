package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/autodropout/autodropout/search"
)

// tail reads a journal file incrementally: it remembers the offset after
// the last whole line it decoded and, on each poll, reads only what was
// appended since. A torn last line (no newline yet, or a line that does
// not decode and is the last one) is left for the next poll: the writer
// is still in the middle of it. A file that shrank, was replaced (another
// inode) or no longer has a newline just before the offset was rewritten
// (a resumed search cuts a torn line off): it is read again from the
// start into a fresh state, and epoch counts such restarts so the page
// knows to drop what it has.
type tail struct {
	root *os.Root
	name string // path below root

	off  int64
	info fs.FileInfo // at the last poll
	st   *searchState
	ep   int
	err  error // last read error; nil when fine
	buf  []byte
}

// maxRead caps how much one poll reads, so that a first load of a huge
// journal does not hold the lock for long; the rest comes on the next
// polls.
const maxRead = 64 << 20

func newTail(root *os.Root, name string) *tail {
	return &tail{root: root, name: name, st: newSearchState(), ep: 1}
}

// poll reads what was appended since the last poll and reports whether
// the state changed. A missing file is an error wrapping fs.ErrNotExist.
func (t *tail) poll() (bool, error) {
	f, err := t.root.Open(t.name)
	if err != nil {
		t.err = err
		return false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.err = err
		return false, err
	}
	changed := false
	if t.info != nil && (!os.SameFile(t.info, info) || info.Size() < t.off) {
		t.reset()
		changed = true
	} else if t.off > 0 && info.Size() > t.off {
		var b [1]byte
		if _, err := f.ReadAt(b[:], t.off-1); err != nil || b[0] != '\n' {
			t.reset()
			changed = true
		}
	}
	t.info = info
	if info.Size() == t.off {
		t.err = nil
		return changed, nil
	}
	n := min(info.Size()-t.off, maxRead)
	if int64(cap(t.buf)) < n {
		t.buf = make([]byte, n)
	}
	buf := t.buf[:n]
	if _, err := f.ReadAt(buf, t.off); err != nil && !errors.Is(err, io.EOF) {
		t.err = fmt.Errorf("read %s: %w", t.name, err)
		return changed, t.err
	}
	for len(buf) > 0 {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			break // torn last line: wait for the rest
		}
		line := buf[:nl]
		var e search.Event
		if len(bytes.TrimSpace(line)) > 0 {
			if err := json.Unmarshal(line, &e); err != nil {
				if nl+1 == len(buf) && t.off+int64(nl)+1 == info.Size() {
					break // the last line: maybe torn mid-write with a newline inside; wait
				}
				t.st.badLines++
				t.st.lastBad = fmt.Sprintf("%s: byte %d: %v", t.name, t.off, err)
				t.st.version++
			} else {
				t.st.apply(&e)
			}
			changed = true
		}
		t.off += int64(nl) + 1
		buf = buf[nl+1:]
	}
	t.st.compact()
	if cap(t.buf) > 1<<20 {
		t.buf = nil // a first read of a long journal: do not keep its buffer
	}
	t.err = nil
	return changed, nil
}

func (t *tail) reset() {
	t.off, t.st = 0, newSearchState()
	t.ep++
}

func (t *tail) state() *searchState { return t.st }
func (t *tail) epoch() int          { return t.ep }

// changed is the journal file's modification time at the last poll.
func (t *tail) changed() time.Time {
	if t.info == nil {
		return time.Time{}
	}
	return t.info.ModTime()
}

// A source is where a search's events come from: a journal file (tail)
// or a NATS journal stream (natsSource).
type source interface {
	// poll folds what the journal gained since the last poll into the
	// state; a missing journal is an error wrapping fs.ErrNotExist.
	poll() (bool, error)
	state() *searchState
	// epoch counts the times the state was rebuilt from the start.
	epoch() int
	// changed is when the journal last changed; zero when unknown.
	changed() time.Time
}
