package data

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/autodropout/autodropout/internal/atomicfile"
)

// The King James Bible as a language-modelling corpus of Penn Treebank's
// size, prepared from Debian's bible-kjv packages into Penn Treebank's
// layout. docs/corpora.md describes the rules and the split; the test pins
// the prepared files' SHA-256 sums, so a change to any rule below must
// change kjvVersion (the cache folder's name) and the pinned sums.

const (
	// KJVVerses is how many verses `bible -f gen1:1-rev22:21` prints.
	KJVVerses = 31102
	// KJVVocabSize is the prepared vocabulary, "<unk>" and "<eos>"
	// included, as Penn Treebank's.
	KJVVocabSize = 10000
	// KJVDataDir is where Debian's bible-kjv-text installs the text
	// (bible.data), which the bible program reads.
	KJVDataDir = "/usr/lib"
	// kjvVersion names the cache folder; bump it with any rule change.
	kjvVersion = "kjv-1"
	// kjvRange is every verse, Genesis 1:1 to Revelation 22:21.
	kjvRange   = "gen1:1-rev22:21"
	kjvInstall = "install Debian's packages bible-kjv (the bible program) and bible-kjv-text " +
		"(its text, " + KJVDataDir + "/bible.data): sudo apt-get install bible-kjv bible-kjv-text, or make setup"
)

// kjvBooks are the 66 books, in order, abbreviated as `bible -f` prints
// them in its verse references.
var kjvBooks = strings.Fields(`Ge Exo Lev Num Deu Josh Jdgs Ruth 1Sm 2Sm 1Ki 2Ki
	1Chr 2Chr Ezra Neh Est Job Psa Prv Eccl SSol Isa Jer Lam Eze Dan Hos Joel Amos
	Obad Jonah Mic Nahum Hab Zep Hag Zec Mal Mat Mark Luke John Acts Rom 1Cor 2Cor
	Gal Eph Phi Col 1Th 2Th 1Tim 2Tim Titus Phmn Heb Jas 1Pet 2Pet 1Jn 2Jn 3Jn Jude Rev`)

// kjvSplit says which split a book's verses go to: the gospels are held
// out, Matthew and Mark for validation, Luke and John for test; every
// other book trains. The synoptic gospels retell many of the same
// passages, so holding all four out keeps near-copies of held-out verses
// out of the training text, and gives validation and test the same genre.
var kjvSplit = map[string]int{"Mat": 1, "Mark": 1, "Luke": 2, "John": 2}

// kjvNames are the splits' file names in a prepared folder, in split order.
var kjvNames = [3]string{"kjv.train.txt", "kjv.valid.txt", "kjv.test.txt"}

// KJVOptions configure PrepareKJV and ReadKJV.
type KJVOptions struct {
	Dir     string // folder of the prepared files (default: KJVCacheDir)
	Program string // the bible program (default "bible", looked up in PATH)
	DataDir string // folder holding bible.data (default KJVDataDir)
}

// KJVCacheDir is the default folder of the prepared corpus: autodropout/kjv-1
// in the user's cache folder (os.UserCacheDir: $XDG_CACHE_HOME or
// ~/.cache on Linux). The number changes whenever the preparation does,
// so an older preparation is never read by mistake.
func KJVCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kjv: no user cache folder (%w): give the corpus a folder (--data-dir)", err)
	}
	return filepath.Join(d, "autodropout", kjvVersion), nil
}

// KJVFiles are the paths of the prepared train, valid and test files in dir.
func KJVFiles(dir string) (train, valid, test string) {
	return filepath.Join(dir, kjvNames[0]), filepath.Join(dir, kjvNames[1]), filepath.Join(dir, kjvNames[2])
}

// ReadKJV prepares the corpus if needed (PrepareKJV) and reads it with the
// reader of Penn Treebank's files: one verse a line, "<eos>" added at each
// line's end, a vocabulary of KJVVocabSize.
func ReadKJV(o KJVOptions) (*Corpus, error) {
	dir, err := PrepareKJV(o)
	if err != nil {
		return nil, err
	}
	tr, va, te := KJVFiles(dir)
	return ReadTokenFiles("kjv", tr, va, te, TextOptions{})
}

// PrepareKJV writes kjv.{train,valid,test}.txt into o.Dir (default
// KJVCacheDir) unless all three are there already, and returns the folder.
// The text comes from `bible -f gen1:1-rev22:21`; an error names the
// Debian packages to install when the program or its text is missing.
// Each file is written atomically and the preparation is deterministic, so
// processes preparing the same folder at once write the same bytes.
func PrepareKJV(o KJVOptions) (string, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = KJVCacheDir(); err != nil {
			return "", err
		}
	}
	if kjvPrepared(dir) {
		return dir, nil
	}
	verses, err := readBible(o.Program, o.DataDir)
	if err != nil {
		return "", err
	}
	texts := kjvTexts(verses)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kjv: %w", err)
	}
	for i, name := range kjvNames { // test last: its presence means all are written
		if err := atomicfile.Write(filepath.Join(dir, name), texts[i]); err != nil {
			return "", fmt.Errorf("kjv: %w", err)
		}
	}
	return dir, nil
}

func kjvPrepared(dir string) bool {
	for _, n := range kjvNames {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// kjvVerse is one verse: its book's abbreviation and its text.
type kjvVerse struct{ book, text string }

// readBible runs the bible program on every verse. -f turns its
// pretty-printing off: one verse a line, its reference in front. -p names
// the only folder searched for bible.data (by default the program also
// looks in the current folder, which could hold another text).
func readBible(program, dataDir string) ([]kjvVerse, error) {
	program, dataDir = cmp.Or(program, "bible"), cmp.Or(dataDir, KJVDataDir)
	if strings.ContainsAny(dataDir, " \t") {
		return nil, fmt.Errorf("kjv: data folder %q: the bible program cannot read a path with spaces", dataDir)
	}
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("kjv: the bible program: %w: %s", err, kjvInstall)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, "-p", dataDir, "-f", kjvRange)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kjv: %s -p %s -f %s: %w (%s): %s", path, dataDir, kjvRange, err,
			strings.TrimSpace(stderr.String()), kjvInstall)
	}
	return parseBible(out)
}

var verseLine = regexp.MustCompile(`^([1-3]?[A-Za-z]+)[0-9]+:[0-9]+ (.+)$`)

// parseBible splits the program's output into verses and checks that it
// holds all KJVVerses of the 66 books in order.
func parseBible(out []byte) ([]kjvVerse, error) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	verses := make([]kjvVerse, 0, len(lines))
	var books []string
	for i, l := range lines {
		m := verseLine.FindStringSubmatch(l)
		if m == nil {
			return nil, fmt.Errorf("kjv: bible's output, line %d: %.60q: want a reference such as Ge1:1 and the verse", i+1, l)
		}
		if len(books) == 0 || books[len(books)-1] != m[1] {
			books = append(books, m[1])
		}
		verses = append(verses, kjvVerse{book: m[1], text: m[2]})
	}
	if len(verses) != KJVVerses || strings.Join(books, " ") != strings.Join(kjvBooks, " ") {
		return nil, fmt.Errorf("kjv: bible's output holds %d verses of %d books: want %d verses of the 66 books (%s … %s)",
			len(verses), len(books), KJVVerses, kjvBooks[0], kjvBooks[len(kjvBooks)-1])
	}
	return verses, nil
}

// kjvTexts tokenizes the verses, splits them by book and returns the three
// files' contents: one verse a line, its tokens separated by single spaces,
// words outside the training split's KJVVocabSize-2 most frequent as "<unk>".
func kjvTexts(verses []kjvVerse) [3][]byte {
	var splits [3][][]string
	counts := map[string]int{}
	for _, v := range verses {
		s := kjvSplit[v.book]
		toks := TokenizeKJV(v.text)
		splits[s] = append(splits[s], toks)
		if s == 0 {
			for _, t := range toks {
				counts[t]++
			}
		}
	}
	keep := map[string]bool{}
	for _, w := range topWords(counts, KJVVocabSize-2) { // <unk> and <eos> complete it
		keep[w] = true
	}
	var texts [3][]byte
	for i, lines := range splits {
		var b bytes.Buffer
		for _, toks := range lines {
			for j, t := range toks {
				if j > 0 {
					b.WriteByte(' ')
				}
				if !keep[t] {
					t = Unk
				}
				b.WriteString(t)
			}
			b.WriteByte('\n')
		}
		texts[i] = b.Bytes()
	}
	return texts
}

// topWords returns the n most frequent words, ties broken by byte order
// (so "abel" before "abide" at the same count): a deterministic choice
// that does not depend on map order.
func topWords(counts map[string]int, n int) []string {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	return words[:min(n, len(words))]
}

// TokenizeKJV lowercases a verse and splits it as Penn Treebank's
// tokenized text does: a word is a run of letters (or digits; the King
// James text has none, its numbers are spelled out) that may hold
// hyphens and apostrophes between letters ("loving-kindness"); a
// possessive "'s" is split off its word ("king's" → "king 's"); every
// other character that is not a space is a token of its own: punctuation
// (", ; : . ? ! ( )"), the apostrophe of a plural possessive ("sons'" →
// "sons '") and each hyphen of a dash ("sin--;" → "sin - - ;").
func TokenizeKJV(s string) []string {
	var out []string
	rs := []rune(strings.ToLower(s))
	word := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case word(r):
			j := i + 1
			for j < len(rs) && (word(rs[j]) || (rs[j] == '-' || rs[j] == '\'') && j+1 < len(rs) && word(rs[j+1])) {
				j++
			}
			w := string(rs[i:j])
			if stem, ok := strings.CutSuffix(w, "'s"); ok {
				out = append(out, stem, "'s")
			} else {
				out = append(out, w)
			}
			i = j
		default:
			out = append(out, string(r))
			i++
		}
	}
	return out
}
