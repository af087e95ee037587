package data

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, s string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func words(c *Corpus, ids []int64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, c.Vocab.Words[id])
	}
	return out
}

func TestReadPTB(t *testing.T) {
	dir := t.TempDir()
	// Mikolov's files: a leading space, tokens separated by spaces, <unk> present.
	write(t, dir, "ptb.train.txt", " the cat sat on the <unk> \n a dog ran \n")
	write(t, dir, "ptb.valid.txt", " the dog sat \n")
	write(t, dir, "ptb.test.txt", " a zebra ran \n")
	c, err := ReadPTB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := words(c, c.Train); !reflect.DeepEqual(got, []string{"the", "cat", "sat", "on", "the", "<unk>", EOS, "a", "dog", "ran", EOS}) {
		t.Errorf("train %v", got)
	}
	if got := words(c, c.Test); !reflect.DeepEqual(got, []string{"a", "<unk>", "ran", EOS}) {
		t.Errorf("test %v", got)
	}
	if c.Vocab.Len() != 9 {
		t.Errorf("vocab %d", c.Vocab.Len())
	}
}

// A corpus of one's own: the vocabulary is counted from the training
// text, and every rarer or unseen word in any split is <unk>.
func TestReadText(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "train.txt", "the cat sat on the mat\nthe dog sat\n\n")
	write(t, dir, "valid.txt", "the zebra sat\n")
	write(t, dir, "test.txt", "  a   cat\tsat  \n")
	c, err := ReadText(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Vocab.Words, []string{EOS, Unk, "the", "sat"}) { // the: 3, sat: 2; the rest once
		t.Errorf("vocabulary %q", c.Vocab.Words)
	}
	if got := words(c, c.Train); !reflect.DeepEqual(got, []string{"the", Unk, "sat", Unk, "the", Unk, EOS, "the", Unk, "sat", EOS, EOS}) {
		t.Errorf("train %q", got)
	}
	if got := words(c, c.Valid); !reflect.DeepEqual(got, []string{"the", Unk, "sat", EOS}) {
		t.Errorf("valid %q", got)
	}
	if got := words(c, c.Test); !reflect.DeepEqual(got, []string{Unk, Unk, "sat", EOS}) {
		t.Errorf("test %q", got)
	}
	if c, err := ReadText(dir, 1); err != nil || c.Vocab.Len() != 8 || c.Name != "text" { // every training word
		t.Errorf("min count 1: %v, %v", c, err)
	}
	// Errors name the file.
	write(t, dir, "test.txt", " \n\n")
	if _, err := ReadText(dir, 2); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "test.txt")+": no tokens") {
		t.Errorf("empty test file: %v", err)
	}
	os.Remove(filepath.Join(dir, "valid.txt"))
	if _, err := ReadText(dir, 2); err == nil || !strings.Contains(err.Error(), "valid.txt is not a file") {
		t.Errorf("no validation file: %v", err)
	}
	if _, err := ReadText(t.TempDir(), 2); err == nil || !strings.Contains(err.Error(), "train.txt not found") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestReadWikiText(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "wiki.train.tokens", " \n = Valkyria = \n \n Senjō no <unk> 3 @-@ 1 \n")
	write(t, dir, "wiki.valid.tokens", " \n = Valkyria = \n")
	write(t, dir, "wiki.test.tokens", " no \n")
	c, err := ReadWikiText("wikitext2", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{EOS, "=", "Valkyria", "=", EOS, EOS, "Senjō", "no", "<unk>", "3", "@-@", "1", EOS}
	if got := words(c, c.Train); !reflect.DeepEqual(got, want) {
		t.Errorf("train %v", got)
	}
	c2, err := ReadTokenFiles("w", filepath.Join(dir, "wiki.train.tokens"), filepath.Join(dir, "wiki.valid.tokens"), filepath.Join(dir, "wiki.test.tokens"), TextOptions{SkipEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Train) != len(want)-2 {
		t.Errorf("SkipEmpty kept %d tokens", len(c2.Train))
	}
	write(t, dir, "wiki.train.tokens", " a b \n")
	if _, err := ReadWikiText("w", dir); err == nil {
		t.Error("unknown test token without <unk> in training: no error")
	}
}

// TestCorpusFolder finds the token files in --data-dir or in the folder
// the corpus's archive unpacks to, and names what is missing.
func TestCorpusFolder(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name, sub string // sub: where the files are under the data folder
		files     []string
		want      string // "" when found in sub; else the error says it
	}{
		{"ptb", "", []string{"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"}, ""},
		{"ptb", "simple-examples/data", []string{"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"}, ""},
		{"wikitext2", "wikitext-2", []string{"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"}, ""},
		{"wikitext103", "wikitext-103", []string{"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"}, ""},
		{"wikitext103", "wikitext-2", []string{"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"}, "wiki.train.tokens not found in"},
		{"ptb", "", []string{"ptb.train.txt", "ptb.test.txt"}, "ptb.valid.txt is not a file"},
		{"wikitext2", "", []string{"wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"}, "want wiki.{train,valid,test}.tokens"},
		{"penn", "", nil, `corpus "penn": want ptb`},
	} {
		dir := filepath.Join(root, fmt.Sprintf("%s-%d", tc.name, len(tc.files)), strings.ReplaceAll(tc.sub, "/", "_"))
		if err := os.MkdirAll(filepath.Join(dir, tc.sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range tc.files {
			write(t, filepath.Join(dir, tc.sub), f, " a b \n")
		}
		got, err := CorpusFolder(tc.name, dir)
		switch {
		case tc.want == "" && (err != nil || got != filepath.Join(dir, tc.sub)):
			t.Errorf("%s in %q: %q, %v", tc.name, tc.sub, got, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s in %q: error %v, want %q", tc.name, tc.sub, err, tc.want)
		}
	}
	// The readers look there too.
	dir := filepath.Join(root, "archive")
	data := filepath.Join(dir, "simple-examples", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "valid", "test"} {
		write(t, data, "ptb."+split+".txt", " a b <unk> \n")
	}
	if c, err := ReadPTB(dir); err != nil || len(c.Train) != 4 {
		t.Errorf("ReadPTB of the archive's folder: %v", err)
	}
}

func TestTokenizeFortune(t *testing.T) {
	got := TokenizeFortune("Don't PANIC!  -- Douglas Adams, 1979.")
	want := []string{"don't", "panic", "!", "-", "-", "douglas", "adams", ",", "1979", "."}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestReadFortunes(t *testing.T) {
	dir := t.TempDir()
	var s string
	for i := 0; i < 30; i++ {
		s += "A fortune a day.\n%\n"
	}
	write(t, dir, "test", s+"Rare words here\n")
	write(t, dir, "test.dat", "binary")
	c, err := ReadFortunes(dir, FortuneOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Valid) == 0 || len(c.Test) == 0 || len(c.Train) == 0 {
		t.Fatal("empty split")
	}
	c2, _ := ReadFortunes(dir, FortuneOptions{Seed: 1})
	if !reflect.DeepEqual(c.Train, c2.Train) {
		t.Error("split not reproducible")
	}
	if _, ok := c.Vocab.ID("rare"); ok {
		t.Error("a word seen once is in the vocabulary")
	}
}

func TestStreamsContiguous(t *testing.T) {
	ids := make([]int64, 23)
	for i := range ids {
		ids[i] = int64(i)
	}
	s, err := NewStreams(ids, 2) // streams 0..10 and 11..21
	if err != nil {
		t.Fatal(err)
	}
	if s.Segments(4) != 3 {
		t.Fatalf("segments %d", s.Segments(4))
	}
	var row0 []int64
	for i := 0; i < s.Segments(4); i++ {
		x, y, l := s.Segment(i, 4)
		row0 = append(row0, x[:l]...)
		if y[0] != x[0]+1 || x[l] != 11+int64(i)*4 {
			t.Fatalf("segment %d: x %v y %v", i, x, y)
		}
	}
	if !reflect.DeepEqual(row0, ids[:10]) {
		t.Errorf("stream 0 over segments %v", row0)
	}
}

func TestReadTokenFilesErrors(t *testing.T) {
	for _, tc := range []struct {
		name               string
		train, valid, test string
		bad                string // the file the error must name
		err                string
	}{
		{"empty training file", "", "a\n", "a\n", "train", "no tokens"},
		{"empty validation file", "a b\n", "", "a\n", "valid", "no tokens"},
		{"empty test file", "a b\n", "a\n", "", "test", "no tokens"},
		{"unknown token without <unk>", "a b\n", "a c\n", "a\n", "valid", `token "c" not in the training vocabulary`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "train", tc.train)
			write(t, dir, "valid", tc.valid)
			write(t, dir, "test", tc.test)
			p := func(s string) string { return filepath.Join(dir, s) }
			_, err := ReadTokenFiles("x", p("train"), p("valid"), p("test"), TextOptions{})
			if err == nil || !strings.Contains(err.Error(), p(tc.bad)+":") || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, p(tc.bad), tc.err)
			}
		})
	}
}

// SpreadSubset keeps n tokens in contiguous chunks spread evenly over the
// split, in order, and everything when n is not smaller.
func TestSpreadSubset(t *testing.T) {
	ids := make([]int64, 10*SubsetChunk)
	for i := range ids {
		ids[i] = int64(i)
	}
	for _, tc := range []struct {
		n      int
		starts []int64 // of the chunks
	}{
		{SubsetChunk, []int64{0}},
		{2*SubsetChunk + 100, []int64{0, int64(10 * SubsetChunk / 3), int64(20 * SubsetChunk / 3)}},
		{10 * SubsetChunk, []int64{0}},
		{20 * SubsetChunk, []int64{0}},
	} {
		got := SpreadSubset(ids, tc.n)
		if want := min(tc.n, len(ids)); len(got) != want {
			t.Errorf("n %d: %d tokens, want %d", tc.n, len(got), want)
			continue
		}
		var starts []int64
		for i, v := range got {
			if i == 0 || v != got[i-1]+1 {
				starts = append(starts, v)
			}
		}
		if fmt.Sprint(starts) != fmt.Sprint(tc.starts) {
			t.Errorf("n %d: chunks start at %v, want %v", tc.n, starts, tc.starts)
		}
	}
}
