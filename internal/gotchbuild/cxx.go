package gotchbuild

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A Function is one top-level function definition in a C++ source file.
type Function struct {
	Name       string // e.g. "atg__cslt_compress"
	ReturnType string // e.g. "void", "tensor *", "int64_t"
	Header     string // everything before the body's opening brace
	Start, End int    // byte offsets of the definition, End exclusive
	FirstLine  int    // 1-based line of Start
	LastLine   int    // 1-based line of the closing brace
}

// Functions lists the top-level function definitions of src. It understands
// enough C++ for gotch's binding files: comments, string and character
// literals, preprocessor lines, and declarations ending in ';' are skipped.
func Functions(src string) []Function {
	var (
		fns       []Function
		depth     int
		itemStart = -1 // start of the current top-level item
		bodyStart = -1 // offset of its '{' at depth 0
		line      = 1
		itemLine  int
	)
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				j = len(src) - i - 4
			}
			line += strings.Count(src[i:i+2+j+2], "\n")
			i += 2 + j + 1
			continue
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			i = j
			continue
		case c == '#' && depth == 0 && itemStart < 0:
			// A preprocessor line, possibly continued with backslashes.
			for i < len(src) && !(src[i] == '\n' && src[i-1] != '\\') {
				if src[i] == '\n' {
					line++
				}
				i++
			}
			i--
			continue
		case c == ' ' || c == '\t' || c == '\r':
			continue
		}
		if depth == 0 && itemStart < 0 {
			itemStart, itemLine, bodyStart = i, line, -1
		}
		switch c {
		case '{':
			if depth == 0 && bodyStart < 0 {
				bodyStart = i
			}
			depth++
		case '}':
			depth--
			if depth == 0 && bodyStart >= 0 {
				header := strings.TrimSpace(src[itemStart:bodyStart])
				if name, ret, ok := splitHeader(header); ok {
					fns = append(fns, Function{
						Name: name, ReturnType: ret, Header: header,
						Start: itemStart, End: i + 1, FirstLine: itemLine, LastLine: line,
					})
				}
				// "struct S {...};" and "extern "C" {...}" end with more text;
				// a following ';' then starts (and ends) an empty item.
				itemStart = -1
			}
		case ';':
			if depth == 0 {
				itemStart = -1
			}
		}
	}
	return fns
}

var headerRE = regexp.MustCompile(`^([\w:<>,*&\s]+?)\s*\b(\w+)\s*\(`)

// splitHeader extracts the name and return type of a function header such as
// "tensor *atg_foo(tensor self)". It rejects struct, namespace and extern
// blocks.
func splitHeader(h string) (name, ret string, ok bool) {
	m := headerRE.FindStringSubmatch(h)
	if m == nil {
		return "", "", false
	}
	ret = strings.Join(strings.Fields(m[1]), " ")
	switch strings.Fields(ret)[0] {
	case "struct", "class", "namespace", "extern", "typedef", "union", "enum":
		return "", "", false
	}
	// "tensor *atg_foo" leaves the '*' on the type side already.
	return m[2], ret, true
}

// Stub returns f's definition with its body replaced by one that records
// message as gotch's last error (which gotch's Go wrappers turn into a Go
// error) and returns a zero value where the function returns one.
func Stub(f Function, message string) string {
	var b strings.Builder
	b.WriteString(f.Header)
	b.WriteString(" { // replaced by autodropout's gotch build: this libtorch cannot compile it\n")
	fmt.Fprintf(&b, "  torch_last_err = strdup(%s);", strconv.Quote(message))
	if f.ReturnType != "void" {
		b.WriteString(" return {};")
	}
	b.WriteString("\n}")
	return b.String()
}

// ReplaceFunctions returns src with each named function stubbed by msg(name).
func ReplaceFunctions(src string, fns []Function, names map[string]bool, msg func(string) string) string {
	sel := make([]Function, 0, len(names))
	for _, f := range fns {
		if names[f.Name] {
			sel = append(sel, f)
		}
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].Start < sel[j].Start })
	var b strings.Builder
	prev := 0
	for _, f := range sel {
		b.WriteString(src[prev:f.Start])
		// Keep the line count so later compiler line numbers stay meaningful.
		stub := Stub(f, msg(f.Name))
		if pad := strings.Count(src[f.Start:f.End], "\n") - strings.Count(stub, "\n"); pad > 0 {
			stub += strings.Repeat("\n", pad)
		}
		b.WriteString(stub)
		prev = f.End
	}
	b.WriteString(src[prev:])
	return b.String()
}

// A Diagnostic is a compiler message that points into one of our files.
type Diagnostic struct {
	File string
	Line int
	Text string
}

var diagRE = regexp.MustCompile(`^(?:In file included from )?([^:\s]+):(\d+):(?:\d+:)?\s*(.*)$`)

// ParseDiagnostics picks, from g++'s output, the errors located in the
// files named in files, including the "required from here" lines that tie an
// error inside a libtorch or libstdc++ header back to the binding that
// instantiated it.
func ParseDiagnostics(out string, files []string) []Diagnostic {
	want := map[string]bool{}
	for _, f := range files {
		want[f] = true
	}
	var ds []Diagnostic
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := diagRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil || !want[baseName(m[1])] {
			continue
		}
		text := m[3]
		if !strings.HasPrefix(text, "error:") && !strings.Contains(text, "required from") {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		ds = append(ds, Diagnostic{File: baseName(m[1]), Line: n, Text: text})
	}
	return ds
}

// linkerFuncRE matches GNU ld's "in function `name':" context lines.
var linkerFuncRE = regexp.MustCompile("in function [`'‘]([A-Za-z_]\\w*)['’]:")

// UndefinedInFunctions lists the functions that GNU ld reports as holding an
// undefined reference.
func UndefinedInFunctions(out string) []string {
	var names []string
	seen := map[string]bool{}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		m := linkerFuncRE.FindStringSubmatch(l)
		if m == nil || seen[m[1]] {
			continue
		}
		if i+1 < len(lines) && strings.Contains(lines[i+1], "undefined reference") {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	return names
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Enclosing returns the function whose definition spans line, if any.
func Enclosing(fns []Function, line int) (Function, bool) {
	i := sort.Search(len(fns), func(i int) bool { return fns[i].LastLine >= line })
	if i < len(fns) && fns[i].FirstLine <= line {
		return fns[i], true
	}
	return Function{}, false
}
