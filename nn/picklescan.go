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
	var stack []pickleValue
	memo := map[int64]pickleValue{}
	res := &pickleScan{}
	fail := func(op byte, at int, err error) (*pickleScan, error) {
		return nil, fmt.Errorf("pickle opcode 0x%02x at offset %d: %w", op, at, err)
	}
	// take returns the next n bytes.
	take := func(n int64) ([]byte, bool) {
		if n < 0 || n > int64(len(data)-pos) {
			return nil, false
		}
		b := data[pos : pos+int(n)]
		pos += int(n)
		return b, true
	}
	readUint := func(n int) (int64, bool) {
		b, ok := take(int64(n))
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
	line := func() (string, bool) {
		i := strings.IndexByte(string(data[pos:min(len(data), pos+1<<16)]), '\n')
		if i < 0 {
			return "", false
		}
		s := string(data[pos : pos+i])
		pos += i + 1
		return s, true
	}
	push := func(v pickleValue) { stack = append(stack, v) }
	pop := func() (pickleValue, bool) {
		if len(stack) == 0 {
			return pickleValue{}, false
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, true
	}
	popMark := func() ([]pickleValue, bool) {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].kind == 'm' {
				items := append([]pickleValue(nil), stack[i+1:]...)
				stack = stack[:i]
				return items, true
			}
		}
		return nil, false
	}
	for {
		at := pos
		if pos >= len(data) {
			return nil, fmt.Errorf("pickle ends at offset %d without a STOP opcode", pos)
		}
		op := data[pos]
		pos++
		ok := true
		switch op {
		case '.': // STOP
			res.end = pos
			if v, ok := pop(); ok && v.kind == 'l' {
				for _, it := range v.items {
					if it.kind == 's' {
						res.strings = append(res.strings, it.s)
					}
				}
			}
			return res, nil
		case '(': // MARK
			push(pickleValue{kind: 'm'})
		case '0': // POP
			_, ok = pop()
		case '1': // POP_MARK
			_, ok = popMark()
		case '2': // DUP
			if ok = len(stack) > 0; ok {
				push(stack[len(stack)-1])
			}
		case 'F', 'L', 'P', 'S', 'V', 'g', 'p', 'I': // FLOAT LONG PERSID STRING UNICODE GET PUT INT
			var s string
			if s, ok = line(); !ok {
				break
			}
			switch op {
			case 'S', 'V':
				push(pickleValue{kind: 's', s: strings.Trim(s, `'"`)})
			case 'I':
				var v int64
				if _, err := fmt.Sscan(s, &v); err == nil {
					push(pickleValue{kind: 'i', i: v})
				} else {
					push(pickleValue{})
				}
			case 'g':
				var k int64
				fmt.Sscan(s, &k)
				push(memo[k])
			case 'p':
				var k int64
				fmt.Sscan(s, &k)
				if len(stack) > 0 {
					memo[k] = stack[len(stack)-1]
				}
			default:
				push(pickleValue{})
			}
		case 'J': // BININT
			var b []byte
			if b, ok = take(4); ok {
				push(pickleValue{kind: 'i', i: int64(int32(binary.LittleEndian.Uint32(b)))})
			}
		case 'K', 'M': // BININT1, BININT2
			var v int64
			if v, ok = readUint(map[byte]int{'K': 1, 'M': 2}[op]); ok {
				push(pickleValue{kind: 'i', i: v})
			}
		case 'N', ')', ']', '}', 0x88, 0x89, 0x8f, 0x97: // NONE, empty tuple/list/dict, True, False, empty set, NEXT_BUFFER
			v := pickleValue{}
			if op == ']' {
				v.kind = 'l'
			}
			push(v)
		case 'Q': // BINPERSID
			var v pickleValue
			if v, ok = pop(); !ok {
				break
			}
			if err := res.addStorage(v, limit); err != nil {
				return fail(op, at, err)
			}
			push(pickleValue{})
		case 'R', 0x81, 0x93: // REDUCE, NEWOBJ, STACK_GLOBAL: two in, one out
			_, ok = pop()
			if ok {
				_, ok = pop()
			}
			push(pickleValue{})
		case 0x92: // NEWOBJ_EX
			for i := 0; i < 3 && ok; i++ {
				_, ok = pop()
			}
			push(pickleValue{})
		case 'T', 'X', 'B', 'U', 'C', 0x8c, 0x8d, 0x8e, 0x96, 0x8a, 0x8b: // length-prefixed
			width := map[byte]int{'T': 4, 'X': 4, 'B': 4, 'U': 1, 'C': 1, 0x8c: 1, 0x8d: 8, 0x8e: 8, 0x96: 8, 0x8a: 1, 0x8b: 4}[op]
			var n int64
			if n, ok = readUint(width); !ok {
				break
			}
			var b []byte
			if b, ok = take(n); !ok {
				return fail(op, at, fmt.Errorf("%w (%d bytes announced, %d left)", errPickleLength, n, len(data)-pos))
			}
			switch op {
			case 'T', 'X', 'U', 0x8c, 0x8d:
				push(pickleValue{kind: 's', s: string(b)})
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
				push(v)
			default:
				push(pickleValue{})
			}
		case 'G': // BINFLOAT
			_, ok = take(8)
			push(pickleValue{})
		case 'a': // APPEND
			var v pickleValue
			if v, ok = pop(); ok && len(stack) > 0 {
				top := &stack[len(stack)-1]
				top.items = append(top.items, v)
			}
		case 'b', 's': // BUILD, SETITEM
			for i := 0; i < map[byte]int{'b': 1, 's': 2}[op] && ok; i++ {
				_, ok = pop()
			}
		case 'e': // APPENDS
			var items []pickleValue
			if items, ok = popMark(); ok && len(stack) > 0 {
				top := &stack[len(stack)-1]
				top.items = append(top.items, items...)
			}
		case 'u', 0x90: // SETITEMS, ADDITEMS
			_, ok = popMark()
		case 'd', 'l', 't', 0x91, 'o': // DICT, LIST, TUPLE, FROZENSET, OBJ
			var items []pickleValue
			if items, ok = popMark(); ok {
				switch op {
				case 't':
					push(pickleValue{kind: 't', items: items})
				case 'l':
					push(pickleValue{kind: 'l', items: items})
				default:
					push(pickleValue{})
				}
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if ok = len(stack) >= n; ok {
				items := append([]pickleValue(nil), stack[len(stack)-n:]...)
				stack = stack[:len(stack)-n]
				push(pickleValue{kind: 't', items: items})
			}
		case 'c', 'i': // GLOBAL, INST: two lines
			var mod, name string
			if mod, ok = line(); ok {
				name, ok = line()
			}
			if !ok {
				break
			}
			if op == 'i' {
				_, ok = popMark()
			}
			push(pickleValue{kind: 'g', s: mod + "." + name})
		case 'h', 'j': // BINGET, LONG_BINGET
			var k int64
			if k, ok = readUint(map[byte]int{'h': 1, 'j': 4}[op]); ok {
				push(memo[k])
			}
		case 'q', 'r': // BINPUT, LONG_BINPUT
			var k int64
			if k, ok = readUint(map[byte]int{'q': 1, 'r': 4}[op]); ok && len(stack) > 0 {
				memo[k] = stack[len(stack)-1]
			}
		case 0x94: // MEMOIZE
			if len(stack) > 0 {
				memo[int64(len(memo))] = stack[len(stack)-1]
			}
		case 0x80: // PROTO
			_, ok = take(1)
		case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
			_, ok = take(map[byte]int64{0x82: 1, 0x83: 2, 0x84: 4}[op])
			push(pickleValue{})
		case 0x95: // FRAME: the frame's opcodes follow inline
			var n int64
			if n, ok = readUint(8); ok && n > int64(len(data)-pos) {
				return fail(op, at, fmt.Errorf("%w (frame of %d bytes, %d left)", errPickleLength, n, len(data)-pos))
			}
		case 0x98: // READONLY_BUFFER
		default:
			return fail(op, at, errors.New("unknown opcode"))
		}
		if !ok {
			return fail(op, at, errors.New("malformed: truncated argument or stack underflow"))
		}
	}
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
