// Package configs holds the configurations the repository ships, JSON
// files named from the repository root (configs/…). The language-model
// recipes (the default and those the study and the paper's configs name)
// are also built into the program, so that it runs, and a report reads
// a run's recipe, from any folder: ReadFile falls back to the built-in
// copy.
package configs

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
)

// TransformerXLSmall is the default Transformer-XL model and recipe
// (trial.DefaultLMConfig): the path a run records, and where ReadFile
// looks first.
const TransformerXLSmall = "configs/transformer-xl-small.json"

//go:embed transformer-xl-*.json study/transformer-xl-*.json paper/*-transformer-xl.json
var builtin embed.FS

// ReadFile reads the file at name. When there is none and name is a
// built-in recipe's repository path (TransformerXLSmall,
// configs/study/transformer-xl-kjv.json, …), it returns the copy built
// into the program: the same bytes as the repository's file at build
// time. Any other error, and any other name, is os.ReadFile's.
func ReadFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if rel, ok := builtinName(name); ok {
		if b, berr := builtin.ReadFile(rel); berr == nil {
			return b, nil
		}
	}
	return nil, err
}

// Exists reports whether ReadFile(name) finds a file: a regular file at
// name, or a built-in default.
func Exists(name string) error {
	st, err := os.Stat(name)
	if err == nil && !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		if rel, ok := builtinName(name); ok {
			if _, berr := fs.Stat(builtin, rel); berr == nil {
				return nil
			}
		}
	}
	return err
}

// builtinName is name's path inside the built-in files when name is
// written as from the repository root (configs/…, ./configs/…).
func builtinName(name string) (string, bool) {
	rel, ok := strings.CutPrefix(path.Clean(name), "configs/")
	return rel, ok && fs.ValidPath(rel)
}
