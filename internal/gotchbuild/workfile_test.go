package gotchbuild

import (
	"encoding/json"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// workFile is what `go work edit -json` says of a go.work.
type workFile struct {
	Go  string
	Use []struct{ DiskPath string }
}

// readWork parses a go.work with the go command itself, so the test
// checks what go accepts, not what we meant to write.
func readWork(t *testing.T, path string) workFile {
	t.Helper()
	out, err := exec.Command("go", "work", "edit", "-json", path).Output()
	if err != nil {
		t.Fatalf("go work edit -json %s: %v", path, err)
	}
	var w workFile
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteConsumerWorkFileGoLine(t *testing.T) {
	for _, tc := range []struct {
		name               string
		consumer, checkout string // go.mod contents
		existing           string // go.work already there ("": none)
		want               string // go line, or "" for an error
		wantErr            string
	}{
		{name: "go mod init on a newer Go", consumer: "module x\n\ngo 1.26.8\n", checkout: "module a\n\ngo 1.26.0\n", want: "1.26.8"},
		{name: "older consumer", consumer: "module x\n\ngo 1.22\n", checkout: "module a\n\ngo 1.26.0\n", want: "1.26.0"},
		{name: "consumer without go line", consumer: "module x\n", checkout: "module a\n\ngo 1.26.0\n", want: "1.26.0"},
		{name: "rerun keeps a raised line", consumer: "module x\n\ngo 1.26.8\n", checkout: "module a\n\ngo 1.26.0\n",
			existing: "go 1.27.1\n\nuse .\n", want: "1.27.1"},
		{name: "rerun after the consumer moved on", consumer: "module x\n\ngo 1.26.8\n", checkout: "module a\n\ngo 1.26.0\n",
			existing: "go 1.26.0\n\nuse .\n", want: "1.26.8"},
		{name: "release candidate", consumer: "module x\n\ngo 1.27rc1\n", checkout: "module a\n\ngo 1.26.0\n", want: "1.27rc1"},
		{name: "trailing comment", consumer: "module x\n\ngo 1.26.3 // pinned\n", checkout: "module a\n\ngo 1.26.0\n", want: "1.26.3"},
		{name: "not a version", consumer: "module x\n\ngo banana\n", checkout: "module a\n\ngo 1.26.0\n", wantErr: `go line "banana" is not a Go version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			consumer, checkout := filepath.Join(root, "my module"), filepath.Join(root, "checkout")
			writeFile(t, filepath.Join(consumer, "go.mod"), tc.consumer)
			writeFile(t, filepath.Join(checkout, "go.mod"), tc.checkout)
			if tc.existing != "" {
				writeFile(t, filepath.Join(consumer, "go.work"), tc.existing)
			}
			got, err := WriteConsumerWorkFile(consumer, checkout, filepath.Join(checkout, ".build", "gotch"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "go.mod") {
					t.Fatalf("err = %v, want one naming the go.mod and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("go line %q, want %q", got, tc.want)
			}
			path := filepath.Join(consumer, "go.work")
			w := readWork(t, path)
			if w.Go != tc.want {
				t.Errorf("go.work says go %q, want %q", w.Go, tc.want)
			}
			if len(w.Use) != 2 || w.Use[0].DiskPath != "." || w.Use[1].DiskPath != filepath.ToSlash(checkout) {
				t.Errorf("go.work uses %+v, want . and %s", w.Use, checkout)
			}
			// A rerun writes the same file.
			before, _ := os.ReadFile(path)
			if again, err := WriteConsumerWorkFile(consumer, checkout, filepath.Join(checkout, ".build", "gotch")); err != nil || again != tc.want {
				t.Fatalf("rerun: %q, %v", again, err)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("rerun changed go.work:\n%s\nto\n%s", before, after)
			}
		})
	}
}

func TestWriteWorkFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module a\n\ngo 1.23\n")
	if _, err := WriteWorkFile(dir, filepath.Join(dir, ".build", "gotch")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "go.work"))
	for _, want := range []string{"go 1.23", "use .", "replace github.com/sugarme/gotch v0.9.1 => ./.build/gotch"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("go.work lacks %q:\n%s", want, b)
		}
	}
	// A go line the go command raised stays.
	writeFile(t, filepath.Join(dir, "go.work"), "go 1.24.2\n\nuse .\n")
	if v, err := WriteWorkFile(dir, filepath.Join(dir, ".build", "gotch")); err != nil || v != "1.24.2" {
		t.Errorf("rewrite: go %q, %v; want 1.24.2", v, err)
	}
}

// TestConsumerBuilds is `make consumer` end to end: a module as `go mod
// init` makes it with this Go (whose go line may be newer than this
// checkout's go.mod), importing autodropout without a require line,
// builds after its go.work is written. It needs the patched gotch the
// checkout's own go.work points at (make setup), and skips without it.
func TestConsumerBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module against the patched gotch")
	}
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	gotch := patchedGotch(t, checkout)
	dir := t.TempDir()
	cmd := exec.Command("go", "mod", "init", "example.com/consumer")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod init: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(dir, "main.go"), `package main

import (
	"fmt"

	"github.com/autodropout/autodropout/autodropout"
	adnn "github.com/autodropout/autodropout/nn"
	"github.com/sugarme/gotch/nn"
)

func main() {
	var sites adnn.Sites
	var _ *nn.VarStore
	fmt.Println(autodropout.Pattern{Size: 3}.String(), len(sites.Names()))
}
`)
	v, err := WriteConsumerWorkFile(dir, checkout, gotch)
	if err != nil {
		t.Fatal(err)
	}
	if mod := mustGoLine(t, filepath.Join(dir, "go.mod")); version.Compare("go"+v, "go"+mod) < 0 {
		t.Errorf("go.work says go %s, lower than the module's go %s", v, mod)
	}
	cmd = exec.Command("go", "build", "-o", filepath.Join(dir, "consumer"), ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		work, _ := os.ReadFile(filepath.Join(dir, "go.work"))
		t.Fatalf("go build in the consumer: %v\n%s\ngo.work:\n%s", err, out, work)
	}
}

func mustGoLine(t *testing.T, path string) string {
	t.Helper()
	v, err := GoLine(path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// patchedGotch is the gotch copy the checkout's go.work replaces gotch
// with; the test skips when there is none.
func patchedGotch(t *testing.T, checkout string) string {
	t.Helper()
	out, err := exec.Command("go", "work", "edit", "-json", filepath.Join(checkout, "go.work")).Output()
	if err != nil {
		t.Skipf("no go.work in %s (run make setup): %v", checkout, err)
	}
	var w struct {
		Replace []struct {
			Old struct{ Path string }
			New struct{ Path string }
		}
	}
	if err := json.Unmarshal(out, &w); err != nil {
		t.Fatal(err)
	}
	for _, r := range w.Replace {
		if r.Old.Path == "github.com/sugarme/gotch" {
			p := r.New.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(checkout, p)
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return p
			}
		}
	}
	t.Skipf("%s/go.work replaces gotch with no patched copy (run make setup)", checkout)
	return ""
}
