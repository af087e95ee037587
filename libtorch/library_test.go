package libtorch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The library this test binary loaded says which libtorch it was built for.
func TestLoadedLibrary(t *testing.T) {
	lib, err := LoadedLibrary()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(lib.Path, "/libautodropout_torch.so") || len(lib.ABI) != 16 || lib.Libtorch == "" || lib.Kind == "" || lib.LibDir == "" {
		t.Errorf("library %+v", lib)
	}
	if v, k := Version(); v != lib.Libtorch || k != lib.Kind {
		t.Errorf("Version() = %s, %s; the library says %s, %s", v, k, lib.Libtorch, lib.Kind)
	}
}

// A program whose library is missing or is not one stops at its first
// call into libtorch with one line that says how to build one. gotch's
// package initialization makes such a call (ts.None), so the program
// stops before main.
func TestBadLibraryIsOneLine(t *testing.T) {
	if os.Getenv("AD_LIBRARY_CHILD") == "1" {
		ManualSeed(1) // not reached: initialization already called the library
		os.Stdout.WriteString("reached the test\n")
		os.Exit(0)
	}
	notLib := filepath.Join(t.TempDir(), "libautodropout_torch.so")
	os.WriteFile(notLib, []byte("not an ELF file"), 0o644)
	tests := []struct{ name, lib, want string }{
		{"missing", "/nonexistent/libautodropout_torch.so", "AUTODROPOUT_TORCH_LIB=/nonexistent/libautodropout_torch.so: no such library"},
		{"not a library", notLib, "cannot load " + notLib},
		{"folder without one", t.TempDir(), "no such library"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBadLibraryIsOneLine$")
			cmd.Env = append(os.Environ(), "AD_LIBRARY_CHILD=1", "AUTODROPOUT_TORCH_LIB="+tc.lib)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; stdout %q stderr %q", err, stdout.String(), stderr.String())
			}
			line := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "autodropout: ") || !strings.Contains(line, tc.want) || !strings.Contains(line, "make setup") {
				t.Errorf("stderr %q: want one line with %q and how to build a library", stderr.String(), tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("the program ran on without its library: %q", stdout.String())
			}
		})
	}
}
