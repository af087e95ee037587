package gotchbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The C ABI between the Go binary and the C++ library (see doc.go): the
// functions that gotch's C headers declare, plus autodropout's own (the
// extern "C" functions of extra/*.cpp and the library's identity, infoFuncs).
// The binary carries one trampoline per name and the library exports every
// name, so any library built from the same headers serves any binary built
// from them, whichever bindings a libtorch made the library replace.

// The headers of gotch's C layer that declare the C ABI, in libtch.
var abiHeaders = []string{"torch_api.h", "torch_api_generated.h"}

// infoFuncs are the functions of the library's generated identity file
// (libraryInfoSource); the loader checks ad_library_abi before anything else.
var infoFuncs = []Decl{
	{Name: "ad_libtorch_version", Text: "const char *ad_libtorch_version(void)"},
	{Name: "ad_libtorch_kind", Text: "const char *ad_libtorch_kind(void)"},
	{Name: "ad_library_abi", Text: "const char *ad_library_abi(void)"},
	{Name: "ad_library_info", Text: "const char *ad_library_info(void)"},
}

// A Decl is one function of the C ABI: its name and its declaration with
// whitespace collapsed, e.g. "tensor at_shallow_clone(tensor)".
type Decl struct {
	Name string
	Text string
	Ret  string // the return type, e.g. "tensor", "char *", "void"
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	lineComment  = regexp.MustCompile(`//[^\n]*`)
	spaces       = regexp.MustCompile(`\s+`)
	declRE       = regexp.MustCompile(`^([\w\s\*]+?)\s*\b([A-Za-z_]\w*)\s*\((.*)\)$`)
)

// cView removes comments and preprocessor lines (with their backslash
// continuations) from a C header, and the parts a C compiler skips: the
// #ifdef __cplusplus branches (their #else branches stay). Other
// conditionals are kept whole.
func cView(src string) string {
	src = blockComment.ReplaceAllString(src, " ")
	src = lineComment.ReplaceAllString(src, "")
	var b strings.Builder
	var live []bool // per open conditional: whether its current branch is seen by C
	var cpp []bool  // per open conditional: whether it tests __cplusplus
	seen := func() bool {
		for _, l := range live {
			if !l {
				return false
			}
		}
		return true
	}
	cont := false
	for _, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if cont {
			cont = strings.HasSuffix(t, "\\")
			continue
		}
		if strings.HasPrefix(t, "#") {
			cont = strings.HasSuffix(t, "\\")
			f := strings.Fields(strings.TrimPrefix(t, "#"))
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "ifdef", "ifndef", "if":
				isCpp := len(f) > 1 && (f[1] == "__cplusplus" || f[1] == "defined(__cplusplus)")
				cpp = append(cpp, isCpp)
				live = append(live, !isCpp || f[0] == "ifndef")
			case "else":
				if n := len(live); n > 0 && cpp[n-1] {
					live[n-1] = !live[n-1]
				}
			case "endif":
				if n := len(live); n > 0 {
					live, cpp = live[:n-1], cpp[:n-1]
				}
			}
			continue
		}
		if seen() {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// HeaderDecls lists the functions a C header declares at file scope as a
// C compiler sees it (cView): the statements that end in ';' and look like
// "type name(params)", not variables or typedefs. These are exactly the
// functions cgo lets Go call.
func HeaderDecls(src string) []Decl {
	src = cView(src)
	var ds []Decl
	for _, st := range strings.Split(src, ";") {
		st = strings.TrimSpace(spaces.ReplaceAllString(st, " "))
		// A statement may follow the opening or closing of an extern "C" block.
		if i := strings.LastIndexAny(st, "{}"); i >= 0 {
			st = strings.TrimSpace(st[i+1:])
		}
		m := declRE.FindStringSubmatch(st)
		if m == nil {
			continue
		}
		ret := strings.TrimSpace(m[1])
		if f := strings.Fields(ret); len(f) > 0 && (f[0] == "typedef" || f[0] == "using" || f[0] == "return") {
			continue
		}
		if strings.ContainsAny(ret, ":<>") {
			continue
		}
		ds = append(ds, Decl{Name: m[2], Text: st, Ret: ret})
	}
	return ds
}

// ExternCFuncs lists the functions defined inside the extern "C" { ... }
// blocks of a C++ source file (the way extra/*.cpp exports its functions).
func ExternCFuncs(src string) []Decl {
	var ds []Decl
	for {
		i := strings.Index(src, `extern "C" {`)
		if i < 0 {
			return ds
		}
		body := src[i+len(`extern "C" {`):]
		end := matchingBrace(body)
		for _, f := range Functions(body[:end]) {
			ds = append(ds, Decl{Name: f.Name, Text: strings.Join(strings.Fields(f.Header), " "), Ret: f.ReturnType})
		}
		src = body[end:]
	}
}

// matchingBrace returns the offset of the '}' that closes a block whose
// '{' precedes s, ignoring braces in comments and literals (as Functions
// does): the first position where Functions' depth would go negative.
func matchingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 3
			}
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return len(s)
}

// ABI is the C interface between a binary and a library: every function,
// sorted by name, and a hash of their declarations that both record.
type ABI struct {
	Decls []Decl
	Hash  string // 16 hex digits
}

// Names returns the functions' names in order.
func (a *ABI) Names() []string {
	names := make([]string, len(a.Decls))
	for i, d := range a.Decls {
		names[i] = d.Name
	}
	return names
}

// ReadABI reads the C ABI from gotch's headers in libtch (a gotch module's
// libtch folder or a source folder exported for a machine without Go) and
// from the embedded extra C++.
func ReadABI(libtch string) (*ABI, error) { return readABI(libtch, extra) }

func readABI(libtch string, extraFS fs.FS) (*ABI, error) {
	seen := map[string]bool{}
	var all []Decl
	add := func(ds []Decl, where string) error {
		for _, d := range ds {
			if seen[d.Name] {
				return fmt.Errorf("%s: %s is declared twice in the C layer", where, d.Name)
			}
			seen[d.Name] = true
			all = append(all, d)
		}
		return nil
	}
	for _, h := range abiHeaders {
		b, err := os.ReadFile(filepath.Join(libtch, h))
		if err != nil {
			return nil, fmt.Errorf("gotch's C headers: %w", err)
		}
		if err := add(HeaderDecls(string(b)), h); err != nil {
			return nil, err
		}
	}
	files, err := fs.Glob(extraFS, "extra/*.cpp")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := fs.ReadFile(extraFS, f)
		if err != nil {
			return nil, err
		}
		if err := add(ExternCFuncs(string(b)), f); err != nil {
			return nil, err
		}
	}
	if err := add(infoFuncs, "library identity"); err != nil {
		return nil, err
	}
	if len(all) == len(infoFuncs) {
		return nil, fmt.Errorf("%s: no C functions found in gotch's headers; is this gotch's libtch folder?", libtch)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	h := sha256.New()
	for _, d := range all {
		fmt.Fprintln(h, d.Text)
	}
	return &ABI{Decls: all, Hash: hex.EncodeToString(h.Sum(nil))[:16]}, nil
}
