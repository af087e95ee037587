package data

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Language-modelling corpora. A Corpus is three token-id streams over one
// vocabulary. Files are read line by line; each line's whitespace-separated
// tokens are followed by "<eos>", as the Transformer-XL reference
// (data_utils.py, add_eos=True) and AWD-LSTM do for PTB and WikiText. An
// empty line therefore contributes a lone "<eos>" unless SkipEmpty is set
// (WikiText's blank separator lines; the reference keeps them — set
// SkipEmpty to drop them, e.g. to compare with pipelines that do).

// EOS and Unk are the special tokens.
const (
	EOS = "<eos>"
	Unk = "<unk>"
)

// Vocab maps tokens to ids.
type Vocab struct {
	Words []string
	index map[string]int64
}

// NewVocab returns an empty vocabulary.
func NewVocab() *Vocab { return &Vocab{index: map[string]int64{}} }

// Add returns w's id, adding it if new.
func (v *Vocab) Add(w string) int64 {
	if id, ok := v.index[w]; ok {
		return id
	}
	id := int64(len(v.Words))
	v.Words = append(v.Words, w)
	v.index[w] = id
	return id
}

// ID returns w's id and whether w is known.
func (v *Vocab) ID(w string) (int64, bool) { id, ok := v.index[w]; return id, ok }

// Len is the vocabulary size.
func (v *Vocab) Len() int { return len(v.Words) }

// Corpus is a tokenized language-modelling data set.
type Corpus struct {
	Name               string
	Vocab              *Vocab
	Train, Valid, Test []int64
}

// SubsetChunk is the length in tokens of the contiguous pieces
// SpreadSubset keeps: long enough that a Transformer-XL's segments and
// memory rarely cross a seam (4,096 tokens are about 100 verses of kjv).
const SubsetChunk = 4096

// SpreadSubset returns n tokens of ids (all of them when n ≥ len(ids)):
// contiguous chunks of SubsetChunk tokens (the last one shorter), their
// starts spread evenly over ids, in order. A share of a corpus taken this
// way keeps the whole corpus's mix of text, as the first n tokens would
// not (kjv's are Genesis and Exodus, far from the gospels it is validated
// on).
func SpreadSubset(ids []int64, n int) []int64 {
	if n >= len(ids) {
		return ids
	}
	k := (n + SubsetChunk - 1) / SubsetChunk
	out := make([]int64, 0, n)
	for i := range k {
		start := int(int64(i) * int64(len(ids)) / int64(k))
		take := min(SubsetChunk, n-len(out))
		out = append(out, ids[start:start+take]...)
	}
	return out
}

// TextOptions configure ReadTokenFiles.
type TextOptions struct {
	SkipEmpty bool // drop empty lines instead of emitting "<eos>"
}

func readLines(path string, skipEmpty bool, fn func(tokens []string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		toks := strings.Fields(sc.Text())
		if len(toks) == 0 && skipEmpty {
			continue
		}
		fn(append(toks, EOS))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// ReadTokenFiles reads a train/valid/test triple of pre-tokenized files.
// The vocabulary comes from the training file (in order of first
// appearance, "<eos>" first); a valid/test token missing from it becomes
// "<unk>", or is an error when the training file has no "<unk>". A file
// with no tokens at all (an empty file) is an error: an empty split would
// silently evaluate to nothing.
func ReadTokenFiles(name, train, valid, test string, o TextOptions) (*Corpus, error) {
	c := &Corpus{Name: name, Vocab: NewVocab()}
	c.Vocab.Add(EOS)
	err := readLines(train, o.SkipEmpty, func(toks []string) {
		for _, t := range toks {
			c.Train = append(c.Train, c.Vocab.Add(t))
		}
	})
	if err != nil {
		return nil, err
	}
	if len(c.Train) == 0 {
		return nil, fmt.Errorf("%s: no tokens", train)
	}
	enc := func(path string) ([]int64, error) {
		var ids []int64
		var bad string
		err := readLines(path, o.SkipEmpty, func(toks []string) {
			for _, t := range toks {
				id, ok := c.Vocab.ID(t)
				if !ok {
					if id, ok = c.Vocab.ID(Unk); !ok && bad == "" {
						bad = t
					}
				}
				ids = append(ids, id)
			}
		})
		if err == nil && bad != "" {
			err = fmt.Errorf("%s: token %q not in the training vocabulary, which has no %s", path, bad, Unk)
		}
		if err == nil && len(ids) == 0 {
			err = fmt.Errorf("%s: no tokens", path)
		}
		return ids, err
	}
	if c.Valid, err = enc(valid); err != nil {
		return nil, err
	}
	if c.Test, err = enc(test); err != nil {
		return nil, err
	}
	return c, nil
}

// ReadPTB reads Penn Treebank in Mikolov's layout,
// ptb.{train,valid,test}.txt, from dir or from the folder his archive
// unpacks to under it (simple-examples/data; see CorpusFolder).
func ReadPTB(dir string) (*Corpus, error) {
	return readCorpusFiles("ptb", dir)
}

// ReadWikiText reads WikiText-2 or -103 (name wikitext2 or wikitext103;
// tokenized, not raw), wiki.{train,valid,test}.tokens, from dir or from
// the folder its archive unpacks to under it (wikitext-2, wikitext-103).
// Empty lines give "<eos>" as in the Transformer-XL reference.
func ReadWikiText(name, dir string) (*Corpus, error) {
	return readCorpusFiles(name, dir)
}

func readCorpusFiles(name, dir string) (*Corpus, error) {
	folder, err := CorpusFolder(name, dir)
	if err != nil {
		return nil, err
	}
	f := corpusFiles[name]
	p := func(split string) string { return filepath.Join(folder, f.prefix+split+f.suffix) }
	return ReadTokenFiles(name, p("train"), p("valid"), p("test"), TextOptions{})
}

// corpusFiles are the token files of the corpora read from files, and the
// folders their published archives unpack to.
var corpusFiles = map[string]struct {
	prefix, suffix string
	archive        []string
}{
	"ptb":         {"ptb.", ".txt", []string{filepath.Join("simple-examples", "data")}},
	"text":        {"", ".txt", nil},
	"wikitext2":   {"wiki.", ".tokens", []string{"wikitext-2"}},
	"wikitext103": {"wiki.", ".tokens", []string{"wikitext-103"}},
}

// CorpusFolder is the folder that holds the token files of the corpus
// name (ptb, wikitext2, wikitext103 or text): dir itself, or the folder the
// corpus's archive unpacks to under dir (Mikolov's simple-examples/data,
// WikiText's wikitext-2 or wikitext-103). An empty dir is the working
// directory. When none holds the training file, the error names the
// files and the folders looked in; a folder with the training file but
// not the other two is an error naming the one missing.
func CorpusFolder(name, dir string) (string, error) {
	f, ok := corpusFiles[name]
	if !ok {
		return "", fmt.Errorf("corpus %q: want ptb, wikitext2, wikitext103 or text", name)
	}
	if dir == "" {
		dir = "."
	}
	folders := []string{dir}
	for _, a := range f.archive {
		folders = append(folders, filepath.Join(dir, a))
	}
	train := f.prefix + "train" + f.suffix
	for _, d := range folders {
		if st, err := os.Stat(filepath.Join(d, train)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		for _, split := range []string{"valid", "test"} {
			p := filepath.Join(d, f.prefix+split+f.suffix)
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return "", fmt.Errorf("corpus %s: %s is in %s but %s is not a file", name, train, d, p)
			}
		}
		return d, nil
	}
	return "", fmt.Errorf("corpus %s: %s not found in %s (want %s{train,valid,test}%s; --data-dir names their folder)",
		name, train, strings.Join(folders, " or "), f.prefix, f.suffix)
}

// FortunesDir is where Debian's fortunes package installs its text.
const FortunesDir = "/usr/share/games/fortunes"

// TokenizeFortune lowercases s and splits it into words (maximal runs of
// letters, digits and inner apostrophes) and single punctuation or symbol
// characters; whitespace separates tokens and is dropped.
func TokenizeFortune(s string) []string {
	var out []string
	rs := []rune(strings.ToLower(s))
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			j := i + 1
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) ||
				(rs[j] == '\'' && j+1 < len(rs) && unicode.IsLetter(rs[j+1]))) {
				j++
			}
			out = append(out, string(rs[i:j]))
			i = j
		default:
			out = append(out, string(r))
			i++
		}
	}
	return out
}

// FortuneOptions configure ReadFortunes.
type FortuneOptions struct {
	Seed     int64   // shuffles the fortunes before the split
	Valid    float64 // fraction of fortunes for validation (default 0.1)
	Test     float64 // fraction for test (default 0.1)
	MinCount int     // training words seen fewer times become <unk> (default 2)
}

// ReadFortunes builds the "fortunes" corpus from the fortune files in dir
// (every regular file without an extension, as Debian's package lays them
// out; the offensive "off/" folder is not read). A file holds fortunes
// separated by lines containing only "%". Each fortune is tokenized with
// TokenizeFortune and followed by "<eos>". The fortunes are shuffled with
// Seed and split by count into train/valid/test; the vocabulary is the
// training words seen at least MinCount times, plus "<eos>" and "<unk>".
func ReadFortunes(dir string, o FortuneOptions) (*Corpus, error) {
	if o.Valid == 0 {
		o.Valid = 0.1
	}
	if o.Test == 0 {
		o.Test = 0.1
	}
	if o.MinCount == 0 {
		o.MinCount = 2
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fortunes: %w (install Debian's fortunes package)", err)
	}
	var fortunes [][]string
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.Contains(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range splitFortunes(string(b)) {
			if toks := TokenizeFortune(f); len(toks) > 0 {
				fortunes = append(fortunes, toks)
			}
		}
	}
	if len(fortunes) < 3 {
		return nil, fmt.Errorf("fortunes: %s holds %d fortunes: want at least 3", dir, len(fortunes))
	}
	rng := rand.New(rand.NewSource(o.Seed))
	rng.Shuffle(len(fortunes), func(i, j int) { fortunes[i], fortunes[j] = fortunes[j], fortunes[i] })
	nv := max(1, int(o.Valid*float64(len(fortunes))))
	nt := max(1, int(o.Test*float64(len(fortunes))))
	valid, test, train := fortunes[:nv], fortunes[nv:nv+nt], fortunes[nv+nt:]
	c := &Corpus{Name: "fortunes", Vocab: countedVocab(train, o.MinCount)}
	c.Train, c.Valid, c.Test = c.encode(train), c.encode(valid), c.encode(test)
	return c, nil
}

// countedVocab is "<eos>", "<unk>" and the words of lines (tokenized
// lines without their "<eos>") seen at least minCount times, most
// frequent first, ties in byte order.
func countedVocab(lines [][]string, minCount int) *Vocab {
	counts := map[string]int{}
	for _, l := range lines {
		for _, w := range l {
			counts[w]++
		}
	}
	words := make([]string, 0, len(counts))
	for w, n := range counts {
		if n >= minCount && w != EOS && w != Unk {
			words = append(words, w)
		}
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	v := NewVocab()
	v.Add(EOS)
	v.Add(Unk)
	for _, w := range words {
		v.Add(w)
	}
	return v
}

// encode is lines in c's vocabulary, each followed by "<eos>"; a word
// outside it is "<unk>".
func (c *Corpus) encode(lines [][]string) []int64 {
	eos, _ := c.Vocab.ID(EOS)
	unk, _ := c.Vocab.ID(Unk)
	var ids []int64
	for _, l := range lines {
		for _, w := range l {
			id, ok := c.Vocab.ID(w)
			if !ok {
				id = unk
			}
			ids = append(ids, id)
		}
		ids = append(ids, eos)
	}
	return ids
}

// ReadText reads a corpus of one's own ("text"): train.txt, valid.txt and
// test.txt in dir (an empty dir is the working directory), one sentence,
// verse or paragraph a line, tokens separated by white space, "<eos>"
// after each line. The vocabulary is "<eos>", "<unk>" and the training
// words seen at least minCount times (1 keeps them all), most frequent
// first; every other word, in any split, becomes "<unk>", so raw text
// needs no preparation beyond tokenizing. A file without tokens is an
// error naming it.
func ReadText(dir string, minCount int) (*Corpus, error) {
	folder, err := CorpusFolder("text", dir)
	if err != nil {
		return nil, err
	}
	var splits [3][][]string
	for i, name := range []string{"train", "valid", "test"} {
		path := filepath.Join(folder, name+".txt")
		n := 0
		err := readLines(path, false, func(toks []string) {
			toks = toks[:len(toks)-1] // encode adds "<eos>"
			n += len(toks)
			splits[i] = append(splits[i], toks)
		})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no tokens", path)
		}
	}
	c := &Corpus{Name: "text", Vocab: countedVocab(splits[0], max(1, minCount))}
	c.Train, c.Valid, c.Test = c.encode(splits[0]), c.encode(splits[1]), c.encode(splits[2])
	return c, nil
}

func splitFortunes(s string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "%" {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(out, strings.Join(cur, "\n"))
}

// Streams lays a token sequence out as B parallel streams of N tokens
// each (the tail that does not fill all streams is dropped), as the
// reference's batchify: stream b holds tokens b·N … b·N+N-1.
type Streams struct {
	B, N int64
	data []int64 // B×N, row-major
}

// NewStreams splits ids into b streams.
func NewStreams(ids []int64, b int64) (*Streams, error) {
	if b < 1 {
		return nil, fmt.Errorf("batch size %d: want ≥ 1", b)
	}
	n := int64(len(ids)) / b
	if n < 2 {
		return nil, fmt.Errorf("%d tokens in %d streams: want at least 2 per stream", len(ids), b)
	}
	return &Streams{B: b, N: n, data: append([]int64(nil), ids[:b*n]...)}, nil
}

// Segments returns how many BPTT segments of length tgtLen cover the
// streams (the last may be shorter).
func (s *Streams) Segments(tgtLen int64) int {
	return int((s.N - 1 + tgtLen - 1) / tgtLen)
}

// Segment returns segment i: inputs x and targets y (y is x shifted by one
// token), both B×L row-major with L = min(tgtLen, N-1-i·tgtLen). Segment
// i+1 of every stream continues exactly where segment i ended, so a
// model's memory of segment i is the true left context of segment i+1.
func (s *Streams) Segment(i int, tgtLen int64) (x, y []int64, l int64) {
	start := int64(i) * tgtLen
	l = min(tgtLen, s.N-1-start)
	x = make([]int64, 0, s.B*l)
	y = make([]int64, 0, s.B*l)
	for b := int64(0); b < s.B; b++ {
		row := s.data[b*s.N : (b+1)*s.N]
		x = append(x, row[start:start+l]...)
		y = append(y, row[start+1:start+1+l]...)
	}
	return x, y, l
}

// SegmentTensors returns segment i as B×L int64 tensors on dev.
func (s *Streams) SegmentTensors(i int, tgtLen int64, dev gotch.Device) (*ts.Tensor, *ts.Tensor, error) {
	x, y, l := s.Segment(i, tgtLen)
	xt, err := ts.NewTensorFromData(x, []int64{s.B, l})
	if err != nil {
		return nil, nil, err
	}
	yt, err := ts.NewTensorFromData(y, []int64{s.B, l})
	if err != nil {
		xt.MustDrop()
		return nil, nil, err
	}
	if dev != gotch.CPU {
		xt = xt.MustTo(dev, true)
		yt = yt.MustTo(dev, true)
	}
	return xt, yt, nil
}
