// Package strictjson is the module's one strict JSON decoder: pattern
// files, search spaces, search and experiment configurations and
// language-model recipes are all read through Decode.
//
// Strict means that an object key the Go type does not have, a value of
// the wrong JSON type, malformed JSON and anything but white space after
// the value are errors. The standard decoder reports these without a
// place, or with the place where it stopped reading (the end of the
// value), and its type errors name Go structs. Decode reports each as an
// *Error at the line and column of the offending key or value, with the
// field's path in the file's own names (task.train_subset,
// patterns[2].pattern.stride), the JSON type wanted, and for an unknown
// key the known keys it is closest to. Callers add the file's name.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// An Error is a problem at a place in a JSON document.
type Error struct {
	Line, Col int    // 1-based place of the key or value; 0 when unknown
	Path      string // the field's path, e.g. "task.budget" or "patterns[0].pattern"; "" for the document
	Msg       string // what is wrong
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d col %d: ", e.Line, e.Col)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Decode decodes the one JSON value in data into v (a pointer), strictly
// (see the package doc). On error v may hold part of the data.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explain(data, v, err)
	}
	off := skipSpace(data, dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(data, off)
		return &Error{Line: line, Col: col, Msg: "unexpected data after the JSON value"}
	}
	return nil
}

// explain turns the standard decoder's error into an *Error. Unknown keys
// and wrong types are found again by walking the document along v's type,
// which knows where each key and value starts; what the walk cannot place
// (a value out of an integer type's range, an error of a type's own
// unmarshaler) keeps the decoder's offset.
func explain(data []byte, v any, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return &Error{Msg: "empty file, want a JSON value"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, int64(len(data)))
		return &Error{Line: line, Col: col, Msg: "malformed JSON: unexpected end of file (truncated?)"}
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset-1) // Offset counts the bad byte
		return &Error{Line: line, Col: col, Msg: "malformed JSON: " + strings.TrimPrefix(syn.Error(), "json: ")}
	}
	if e := walk(data, v); e != nil {
		return e
	}
	if errors.As(err, &typ) {
		line, col := position(data, typ.Offset)
		return &Error{Line: line, Col: col, Path: typ.Field, Msg: fmt.Sprintf("got JSON %s, want %s", typ.Value, kindText(typ.Type))}
	}
	return &Error{Msg: strings.TrimPrefix(err.Error(), "json: ")}
}

// position is the 1-based line and column (in bytes) of a byte offset.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// skipSpace returns the offset of the first byte at or after off that is
// not white space or a separator (',' ':'): where the next token starts.
func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,:", data[off]) >= 0 {
		off++
	}
	return off
}
