package data

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTokenizeKJV(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"In the beginning God created the heaven and the earth.", "in the beginning god created the heaven and the earth ."},
		{"And God said, Let there be light: and there was light.", "and god said , let there be light : and there was light ."},
		{"the LORD's house; the king's sons' tents", "the lord 's house ; the king 's sons ' tents"},
		{"(for Felix' sake) thy loving-kindness, O God-ward?", "( for felix ' sake ) thy loving-kindness , o god-ward ?"},
		{"their sin--; and if not!", "their sin - - ; and if not !"},
		{"  Amen.  ", "amen ."},
		{"", ""},
	} {
		if got := strings.Join(TokenizeKJV(c.in), " "); got != c.want {
			t.Errorf("TokenizeKJV(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTopWords(t *testing.T) {
	counts := map[string]int{"the": 5, "abide": 2, "abel": 2, "zeal": 2, "lo": 1, "and": 4}
	for _, c := range []struct {
		n    int
		want []string
	}{
		{3, []string{"the", "and", "abel"}},
		{5, []string{"the", "and", "abel", "abide", "zeal"}}, // equal counts in byte order
		{9, []string{"the", "and", "abel", "abide", "zeal", "lo"}},
	} {
		if got := topWords(counts, c.n); !reflect.DeepEqual(got, c.want) {
			t.Errorf("topWords(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

func TestParseBibleRefusesShortText(t *testing.T) {
	_, err := parseBible([]byte("Ge1:1 In the beginning God created the heaven and the earth.\n"))
	if err == nil || !strings.Contains(err.Error(), "holds 1 verses of 1 books") {
		t.Errorf("err = %v", err)
	}
	_, err = parseBible([]byte("In the beginning\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("err = %v", err)
	}
}

// kjvSums pin the prepared files (kjv-1), so the corpus cannot drift.
var kjvSums = [3]string{
	"2ad834a2e61ed5b17d13ef69fc9d344de2438a6803c5e813ac12f6b1b7a6cc7c",
	"f031bfee747612850bdb52d2ab05fe0186b457f59d9e17fae27a5eea0f4c0f5c",
	"854879dd1353bf4563d0dd42fb1e3c30789cb908b9775fb9199037841a69f9df",
}

// TestKJV prepares the corpus from Debian's bible-kjv packages (make setup
// installs them; without them this test fails with the message that names
// them), pins its checksums and checks that it reads back with a
// vocabulary of 10,000, then that a prepared folder is reused without
// running the program.
func TestKJV(t *testing.T) {
	dir := t.TempDir()
	c, err := ReadKJV(KJVOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range kjvNames {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != kjvSums[i] {
			t.Errorf("%s: sha256 %s, want %s", name, got, kjvSums[i])
		}
	}
	if c.Vocab.Len() != KJVVocabSize {
		t.Errorf("vocabulary %d, want %d", c.Vocab.Len(), KJVVocabSize)
	}
	unk, _ := c.Vocab.ID(Unk)
	for _, s := range []struct {
		name string
		ids  []int64
	}{{"train", c.Train}, {"valid", c.Valid}, {"test", c.Test}} {
		n := 0
		for _, id := range s.ids {
			if id == unk {
				n++
			}
		}
		t.Logf("%s: %d tokens with <eos>, %d <unk> (%.2f%%)", s.name, len(s.ids), n, 100*float64(n)/float64(len(s.ids)))
	}
	c2, err := ReadKJV(KJVOptions{Dir: dir, Program: filepath.Join(t.TempDir(), "no-bible")})
	if err != nil {
		t.Fatalf("reading a prepared folder ran the program: %v", err)
	}
	if !reflect.DeepEqual(c.Train, c2.Train) || !reflect.DeepEqual(c.Test, c2.Test) {
		t.Error("a prepared folder read back differently")
	}
}

// TestKJVMissingPackages checks that a missing program or text names the
// Debian packages to install, and that nothing is left in the folder.
func TestKJVMissingPackages(t *testing.T) {
	tmp := t.TempDir()
	for _, c := range []struct {
		name string
		o    KJVOptions
		want string
	}{
		{"no program", KJVOptions{Program: filepath.Join(tmp, "no-bible")}, "no-bible"},
		{"no text", KJVOptions{DataDir: tmp}, "Cannot open data file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Dir = filepath.Join(t.TempDir(), "kjv")
			_, err := ReadKJV(c.o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{c.want, "bible-kjv ", "bible-kjv-text", "apt-get install"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(c.o.Dir); !os.IsNotExist(err) {
				t.Errorf("%s: %v, want it absent", c.o.Dir, err)
			}
		})
	}
}
