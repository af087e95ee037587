package nn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// gotch's unpickler trusts the lengths a file states: a pickle opcode
// that announces 2⁴⁰ bytes, or a storage of 2⁴⁰ elements, makes it
// allocate that much before reading, and the Go runtime ends the process
// when the allocation fails (no recover catches it). scanPickle walks a
// pickle first, without building anything, and refuses what no honest
// file of its size can hold: a length beyond the end of the data, or a
// storage with more elements than the file has bytes. It follows the
// pickle's stack just far enough to read the persistent ids of storages,
// ('storage', class, key, location, numel[, view]), which torch.save
// writes for every tensor.

// pickleStorage is a storage that a pickle's persistent id announces.
type pickleStorage struct {
	key   string
	class string // e.g. "torch.FloatStorage"
	numel int64
}

// pickleScan is the outcome of scanning one pickle.
type pickleScan struct {
	end      int // offset just past the STOP opcode
	storages []pickleStorage
	strings  []string // the string values of the top-level list, if the pickle is one
}

// pickleValue is what the scanner keeps of a stack entry.
type pickleValue struct {
	kind  byte // 's' string, 'i' int, 'g' global, 't' tuple, 'l' list, 'm' mark, 0 other
	s     string
	i     int64
	items []pickleValue // tuple or list elements
}

var errPickleLength = errors.New("a length that runs past the end of the data")

// scanPickle scans the pickle that starts at data[pos:]. limit bounds the
// element count of any storage it announces.
func scanPickle(data []byte, pos int, limit int64) (*pickleScan, error) {
	s := &pickleScanner{data: data, pos: pos, limit: limit, memo: map[int64]pickleValue{}}
	for {
		at := s.pos
		if s.pos >= len(s.data) {
			return nil, fmt.Errorf("pickle ends at offset %d without a STOP opcode", s.pos)
		}
		op := s.data[s.pos]
		s.pos++
		if op == '.' { // STOP
			s.stop()
			return &s.res, nil
		}
		f := pickleOps[op]
		if f == nil {
			return nil, pickleOpError(op, at, errors.New("unknown opcode"))
		}
		ok, err := f(s, op)
		if err == nil && !ok {
			err = errors.New("malformed: truncated argument or stack underflow")
		}
		if err != nil {
			return nil, pickleOpError(op, at, err)
		}
	}
}

func pickleOpError(op byte, at int, err error) error {
	return fmt.Errorf("pickle opcode 0x%02x at offset %d: %w", op, at, err)
}

// pickleScanner is scanPickle's state: the data and the read position,
// the stack and memo it follows, and what it has found.
type pickleScanner struct {
	data  []byte
	pos   int
	limit int64
	stack []pickleValue
	memo  map[int64]pickleValue
	res   pickleScan
}

// A pickleOp reads one opcode's arguments and applies it to the stack; ok
// false is a truncated argument or a stack underflow.
type pickleOp func(s *pickleScanner, op byte) (ok bool, err error)

// pickleOps are the opcodes scanPickle knows (STOP aside), by group.
var pickleOps = func() map[byte]pickleOp {
	m := map[byte]pickleOp{}
	add := func(f pickleOp, ops ...byte) {
		for _, op := range ops {
			m[op] = f
		}
	}
	add((*pickleScanner).stackOp, '(', '0', '1', '2', 'a', 'b', 's', 'e', 'u', 0x90)
	add((*pickleScanner).lineOp, 'F', 'L', 'P', 'S', 'V', 'g', 'p', 'I')
	add((*pickleScanner).globalOp, 'c', 'i')
	add((*pickleScanner).intOp, 'J', 'K', 'M')
	add((*pickleScanner).lengthOp, 'T', 'X', 'B', 'U', 'C', 0x8c, 0x8d, 0x8e, 0x96, 0x8a, 0x8b)
	add((*pickleScanner).constOp, 'N', ')', ']', '}', 0x88, 0x89, 0x8f, 0x97)
	add((*pickleScanner).callOp, 'Q', 'R', 0x81, 0x93, 0x92)
	add((*pickleScanner).containerOp, 'd', 'l', 't', 0x91, 'o', 0x85, 0x86, 0x87)
	add((*pickleScanner).memoOp, 'h', 'j', 'q', 'r', 0x94)
	add((*pickleScanner).skipOp, 'G', 0x80, 0x82, 0x83, 0x84, 0x95, 0x98)
	return m
}()

// take returns the next n bytes.
func (s *pickleScanner) take(n int64) ([]byte, bool) {
	if n < 0 || n > int64(len(s.data)-s.pos) {
		return nil, false
	}
	b := s.data[s.pos : s.pos+int(n)]
	s.pos += int(n)
	return b, true
}

// readUint reads an n-byte little-endian unsigned integer.
func (s *pickleScanner) readUint(n int) (int64, bool) {
	b, ok := s.take(int64(n))
	if !ok {
		return 0, false
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if v > 1<<62 {
		return 1 << 62, true // surely too long; caught by the length check
	}
	return int64(v), true
}

// line reads up to the next newline (within 64 KiB).
func (s *pickleScanner) line() (string, bool) {
	i := strings.IndexByte(string(s.data[s.pos:min(len(s.data), s.pos+1<<16)]), '\n')
	if i < 0 {
		return "", false
	}
	l := string(s.data[s.pos : s.pos+i])
	s.pos += i + 1
	return l, true
}

func (s *pickleScanner) push(v pickleValue) { s.stack = append(s.stack, v) }

func (s *pickleScanner) pop() (pickleValue, bool) {
	if len(s.stack) == 0 {
		return pickleValue{}, false
	}
	v := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	return v, true
}

// popMark pops the items above the topmost mark, and the mark.
func (s *pickleScanner) popMark() ([]pickleValue, bool) {
	for i := len(s.stack) - 1; i >= 0; i-- {
		if s.stack[i].kind == 'm' {
			items := append([]pickleValue(nil), s.stack[i+1:]...)
			s.stack = s.stack[:i]
			return items, true
		}
	}
	return nil, false
}

// top is the stack's top entry, nil when it is empty.
func (s *pickleScanner) top() *pickleValue {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// stop ends the scan: a top-level list's strings are kept.
func (s *pickleScanner) stop() {
	s.res.end = s.pos
	if v, ok := s.pop(); ok && v.kind == 'l' {
		for _, it := range v.items {
			if it.kind == 's' {
				s.res.strings = append(s.res.strings, it.s)
			}
		}
	}
}

// stackOp: MARK, POP, POP_MARK, DUP, APPEND, BUILD, SETITEM, APPENDS,
// SETITEMS, ADDITEMS.
func (s *pickleScanner) stackOp(op byte) (bool, error) {
	ok := true
	switch op {
	case '(':
		s.push(pickleValue{kind: 'm'})
	case '0':
		_, ok = s.pop()
	case '1', 'u', 0x90:
		_, ok = s.popMark()
	case '2':
		if t := s.top(); t != nil {
			s.push(*t)
		} else {
			ok = false
		}
	case 'a':
		var v pickleValue
		if v, ok = s.pop(); ok && s.top() != nil {
			s.top().items = append(s.top().items, v)
		}
	case 'b', 's': // one and two pops
		for i := 0; i < map[byte]int{'b': 1, 's': 2}[op] && ok; i++ {
			_, ok = s.pop()
		}
	case 'e':
		var items []pickleValue
		if items, ok = s.popMark(); ok && s.top() != nil {
			s.top().items = append(s.top().items, items...)
		}
	}
	return ok, nil
}

// lineOp: FLOAT, LONG, PERSID, STRING, UNICODE, GET, PUT, INT, whose
// argument is a line.
func (s *pickleScanner) lineOp(op byte) (bool, error) {
	l, ok := s.line()
	if !ok {
		return false, nil
	}
	var k int64
	switch op {
	case 'S', 'V':
		s.push(pickleValue{kind: 's', s: strings.Trim(l, `'"`)})
	case 'I':
		if _, err := fmt.Sscan(l, &k); err == nil {
			s.push(pickleValue{kind: 'i', i: k})
		} else {
			s.push(pickleValue{})
		}
	case 'g':
		fmt.Sscan(l, &k)
		s.push(s.memo[k])
	case 'p':
		fmt.Sscan(l, &k)
		if t := s.top(); t != nil {
			s.memo[k] = *t
		}
	default:
		s.push(pickleValue{})
	}
	return true, nil
}

// globalOp: GLOBAL and INST, two lines (INST also pops to a mark).
func (s *pickleScanner) globalOp(op byte) (bool, error) {
	mod, ok := s.line()
	var name string
	if ok {
		name, ok = s.line()
	}
	if !ok {
		return false, nil
	}
	if op == 'i' {
		_, ok = s.popMark()
	}
	s.push(pickleValue{kind: 'g', s: mod + "." + name})
	return ok, nil
}

// intOp: BININT, BININT1, BININT2.
func (s *pickleScanner) intOp(op byte) (bool, error) {
	if op == 'J' {
		b, ok := s.take(4)
		if ok {
			s.push(pickleValue{kind: 'i', i: int64(int32(binary.LittleEndian.Uint32(b)))})
		}
		return ok, nil
	}
	v, ok := s.readUint(map[byte]int{'K': 1, 'M': 2}[op])
	if ok {
		s.push(pickleValue{kind: 'i', i: v})
	}
	return ok, nil
}

// lengthOp: the opcodes whose argument is length-prefixed (strings,
// bytes, LONG1, LONG4); a length past the end of the data is an error.
func (s *pickleScanner) lengthOp(op byte) (bool, error) {
	width := map[byte]int{'T': 4, 'X': 4, 'B': 4, 'U': 1, 'C': 1, 0x8c: 1, 0x8d: 8, 0x8e: 8, 0x96: 8, 0x8a: 1, 0x8b: 4}[op]
	n, ok := s.readUint(width)
	if !ok {
		return false, nil
	}
	b, ok := s.take(n)
	if !ok {
		return false, fmt.Errorf("%w (%d bytes announced, %d left)", errPickleLength, n, len(s.data)-s.pos)
	}
	switch op {
	case 'T', 'X', 'U', 0x8c, 0x8d:
		s.push(pickleValue{kind: 's', s: string(b)})
	case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
		v := pickleValue{kind: 'i', i: 1 << 62}
		if len(b) <= 8 {
			var u uint64
			for i := len(b) - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[i])
			}
			if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
				u |= ^uint64(0) << (8 * len(b))
			}
			v.i = int64(u)
		}
		s.push(v)
	default:
		s.push(pickleValue{})
	}
	return true, nil
}

// constOp: NONE, the empty tuple, list, dict and set, True, False,
// NEXT_BUFFER.
func (s *pickleScanner) constOp(op byte) (bool, error) {
	v := pickleValue{}
	if op == ']' {
		v.kind = 'l'
	}
	s.push(v)
	return true, nil
}

// callOp: BINPERSID (a storage's persistent id), REDUCE, NEWOBJ,
// STACK_GLOBAL (two in, one out) and NEWOBJ_EX (three in).
func (s *pickleScanner) callOp(op byte) (bool, error) {
	if op == 'Q' {
		v, ok := s.pop()
		if !ok {
			return false, nil
		}
		if err := s.res.addStorage(v, s.limit); err != nil {
			return false, err
		}
		s.push(pickleValue{})
		return true, nil
	}
	ok := true
	for i := 0; i < map[byte]int{'R': 2, 0x81: 2, 0x93: 2, 0x92: 3}[op] && ok; i++ {
		_, ok = s.pop()
	}
	s.push(pickleValue{})
	return ok, nil
}

// containerOp: DICT, LIST, TUPLE, FROZENSET, OBJ (from a mark) and
// TUPLE1–TUPLE3.
func (s *pickleScanner) containerOp(op byte) (bool, error) {
	if op >= 0x85 && op <= 0x87 {
		n := int(op - 0x84)
		if len(s.stack) < n {
			return false, nil
		}
		items := append([]pickleValue(nil), s.stack[len(s.stack)-n:]...)
		s.stack = s.stack[:len(s.stack)-n]
		s.push(pickleValue{kind: 't', items: items})
		return true, nil
	}
	items, ok := s.popMark()
	if !ok {
		return false, nil
	}
	switch op {
	case 't', 'l':
		s.push(pickleValue{kind: op, items: items})
	default:
		s.push(pickleValue{})
	}
	return true, nil
}

// memoOp: BINGET, LONG_BINGET, BINPUT, LONG_BINPUT, MEMOIZE.
func (s *pickleScanner) memoOp(op byte) (bool, error) {
	switch op {
	case 'h', 'j':
		k, ok := s.readUint(map[byte]int{'h': 1, 'j': 4}[op])
		if ok {
			s.push(s.memo[k])
		}
		return ok, nil
	case 'q', 'r':
		k, ok := s.readUint(map[byte]int{'q': 1, 'r': 4}[op])
		if t := s.top(); ok && t != nil {
			s.memo[k] = *t
		}
		return ok, nil
	}
	if t := s.top(); t != nil {
		s.memo[int64(len(s.memo))] = *t
	}
	return true, nil
}

// skipOp: BINFLOAT, PROTO, EXT1–EXT4, FRAME (its opcodes follow inline;
// a frame past the end of the data is an error), READONLY_BUFFER.
func (s *pickleScanner) skipOp(op byte) (bool, error) {
	switch op {
	case 'G':
		_, ok := s.take(8)
		s.push(pickleValue{})
		return ok, nil
	case 0x80:
		_, ok := s.take(1)
		return ok, nil
	case 0x82, 0x83, 0x84:
		_, ok := s.take(map[byte]int64{0x82: 1, 0x83: 2, 0x84: 4}[op])
		s.push(pickleValue{})
		return ok, nil
	case 0x95:
		n, ok := s.readUint(8)
		if ok && n > int64(len(s.data)-s.pos) {
			return false, fmt.Errorf("%w (frame of %d bytes, %d left)", errPickleLength, n, len(s.data)-s.pos)
		}
		return ok, nil
	}
	return true, nil
}

// addStorage records a persistent id that names a storage and refuses one
// whose element count exceeds limit.
func (r *pickleScan) addStorage(v pickleValue, limit int64) error {
	if v.kind != 't' || len(v.items) < 5 || v.items[0].kind != 's' || v.items[0].s != "storage" {
		return nil // not a storage: gotch reports what it makes of it
	}
	st := pickleStorage{key: v.items[2].s, class: v.items[1].s}
	size := v.items[4]
	if size.kind != 'i' {
		return nil
	}
	st.numel = size.i
	if st.numel < 0 || st.numel > limit {
		return fmt.Errorf("storage %q claims %d elements, more than the file's %d bytes can hold", st.key, st.numel, limit)
	}
	r.storages = append(r.storages, st)
	return nil
}

// storageElemSize is the bytes per element of a storage class, 0 if
// unknown.
func storageElemSize(class string) int64 {
	switch strings.TrimPrefix(class, "torch.") {
	case "DoubleStorage", "LongStorage", "ComplexFloatStorage":
		return 8
	case "FloatStorage", "IntStorage":
		return 4
	case "HalfStorage", "BFloat16Storage", "ShortStorage":
		return 2
	case "ByteStorage", "CharStorage", "BoolStorage", "QInt8Storage", "QUInt8Storage":
		return 1
	case "ComplexDoubleStorage":
		return 16
	}
	return 0
}

// checkLegacyLayout scans a legacy torch.save file: five pickles (magic
// number, protocol, system info, the object, the storage keys) and then,
// for each key, an 8-byte element count and the elements. Every count
// must match what the object announced and fit in what remains.
func checkLegacyLayout(data []byte) error {
	limit := int64(len(data))
	pos := 0
	var object *pickleScan
	var keys []string
	for i := 0; i < 5; i++ {
		s, err := scanPickle(data, pos, limit)
		if err != nil {
			return err
		}
		if i == 3 {
			object = s
		}
		if i == 4 {
			keys = s.strings
		}
		pos = s.end
	}
	byKey := map[string]pickleStorage{}
	for _, st := range object.storages {
		byKey[st.key] = st
	}
	for _, k := range keys {
		if len(data)-pos < 8 {
			return fmt.Errorf("storage %q: truncated before its element count", k)
		}
		n := binary.LittleEndian.Uint64(data[pos:])
		pos += 8
		st, known := byKey[k]
		elem := storageElemSize(st.class)
		if !known || elem == 0 {
			// gotch will refuse or read it; bound the count only.
			if n > uint64(len(data)-pos) {
				return fmt.Errorf("storage %q: %d elements announced, %d bytes left", k, n, len(data)-pos)
			}
			return nil
		}
		if n != uint64(st.numel) {
			return fmt.Errorf("storage %q: %d elements in the data, %d announced", k, n, st.numel)
		}
		if n > uint64(len(data)-pos)/uint64(elem) {
			return fmt.Errorf("storage %q: %d elements of %d bytes announced, %d bytes left (truncated?)", k, n, elem, len(data)-pos)
		}
		pos += int(n) * int(elem)
	}
	return nil
}
