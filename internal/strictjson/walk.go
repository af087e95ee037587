package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walker reads a document token by token along a Go type and stops at the
// first key the type does not have or the first value of a JSON type the
// Go type cannot hold.
type walker struct {
	data []byte
	dec  *json.Decoder
}

// walk returns the first unknown key or mistyped value of data for v's
// type, or nil when it finds none (or the JSON is malformed, which the
// decoder reports).
func walk(data []byte, v any) *Error {
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	e, _ := w.value(reflect.TypeOf(v), "")
	return e
}

// at is an *Error at the byte offset off.
func (w *walker) at(off int64, path, format string, args ...any) *Error {
	line, col := position(w.data, off)
	return &Error{Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// value reads one value, checked against t. ok is false when the
// document cannot be read further (malformed).
func (w *walker) value(t reflect.Type, path string) (e *Error, ok bool) {
	start := skipSpace(w.data, w.dec.InputOffset())
	tok, err := w.dec.Token()
	if err != nil {
		return nil, false
	}
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) {
			break
		}
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || custom(t) {
		return nil, w.skipRest(tok)
	}
	if tok == nil { // null leaves any value as it is
		return nil, true
	}
	if d, isDelim := tok.(json.Delim); isDelim {
		switch {
		case d == '{' && t.Kind() == reflect.Struct:
			return w.object(t, path)
		case d == '{' && t.Kind() == reflect.Map:
			return w.mapValue(t, path)
		case d == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			return w.list(t, path)
		}
		what := map[json.Delim]string{'{': "an object", '[': "a list"}[d]
		return w.at(start, path, "got %s, want %s", what, kindText(t)), true
	}
	if !fits(tok, t) {
		return w.at(start, path, "got %s, want %s", scalarText(tok), kindText(t)), true
	}
	return nil, true
}

// custom reports whether t decodes itself (json.Unmarshaler or
// encoding.TextUnmarshaler on the value or its pointer).
func custom(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) ||
		p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}

// object reads the members of an object after its '{' for struct type t.
func (w *walker) object(t reflect.Type, path string) (*Error, bool) {
	fields := structFields(t)
	for w.dec.More() {
		keyOff := skipSpace(w.data, w.dec.InputOffset())
		tok, err := w.dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		f, found := lookup(fields, key)
		if !found {
			return w.at(keyOff, path, "unknown field %q%s", key, suggest(key, fields)), true
		}
		if f.quoted { // `json:",string"`: a string holding the value
			if e, ok := w.value(reflect.TypeFor[string](), join(path, f.name)); e != nil || !ok {
				return e, ok
			}
			continue
		}
		if e, ok := w.value(f.typ, join(path, f.name)); e != nil || !ok {
			return e, ok
		}
	}
	_, err := w.dec.Token() // '}'
	return nil, err == nil
}

// mapValue reads the members of an object after its '{' for map type t.
func (w *walker) mapValue(t reflect.Type, path string) (*Error, bool) {
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := tok.(string)
		if e, ok := w.value(t.Elem(), join(path, key)); e != nil || !ok {
			return e, ok
		}
	}
	_, err := w.dec.Token()
	return nil, err == nil
}

// list reads the elements of a list after its '[' for slice or array t.
func (w *walker) list(t reflect.Type, path string) (*Error, bool) {
	for i := 0; w.dec.More(); i++ {
		if e, ok := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); e != nil || !ok {
			return e, ok
		}
	}
	_, err := w.dec.Token()
	return nil, err == nil
}

// skipRest reads the rest of a value whose first token was tok.
func (w *walker) skipRest(tok json.Token) bool {
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		for depth := 1; depth > 0; {
			t, err := w.dec.Token()
			if err != nil {
				return false
			}
			if d, ok := t.(json.Delim); ok {
				if d == '{' || d == '[' {
					depth++
				} else {
					depth--
				}
			}
		}
	}
	return true
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fits reports whether a scalar token can be decoded into t.
func fits(tok json.Token, t reflect.Type) bool {
	switch v := tok.(type) {
	case string:
		return t.Kind() == reflect.String || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8)
	case bool:
		return t.Kind() == reflect.Bool
	case json.Number:
		switch t.Kind() {
		case reflect.Float32, reflect.Float64:
			return true
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			_, err := strconv.ParseInt(v.String(), 10, 64)
			return err == nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			_, err := strconv.ParseUint(v.String(), 10, 64)
			return err == nil
		}
	}
	return false
}

// scalarText describes a scalar token: `the string "8"`, `the number 1.5`.
func scalarText(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("%v", v)
	}
	return fmt.Sprint(tok)
}

// kindText describes a Go type in JSON's words.
func kindText(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// field is a JSON member of a struct.
type field struct {
	name   string
	typ    reflect.Type
	quoted bool // the ",string" option
}

// structFields lists t's JSON members as encoding/json sees them: the tag
// name or the Go name, "-" left out, an untagged embedded struct's fields
// promoted (a field of the outer struct wins over a promoted one).
func structFields(t reflect.Type) []field {
	var out, promoted []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				promoted = append(promoted, structFields(ft)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{name: name, typ: sf.Type, quoted: strings.Contains(","+opts+",", ",string,")})
	}
	for _, p := range promoted {
		if _, dup := lookup(out, p.name); !dup {
			out = append(out, p)
		}
	}
	return out
}

// lookup finds a member by key as encoding/json does: an exact name
// first, else one equal but for case.
func lookup(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return field{}, false
}
