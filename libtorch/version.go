package libtorch

/*
// The loader (adload.c, which gotchsetup writes into gotch's C layer)
// opens the C++ library when the program starts; these report on it. The
// library's own functions (ad_libtorch_*, ad_library_info) are reached only
// once it is loaded: before that, every call into it ends the program.
extern const char *ad_loader_error(void) __attribute__((weak));
extern const char *ad_loader_path(void) __attribute__((weak));
extern const char *ad_loader_abi(void) __attribute__((weak));
extern const char *ad_library_info(void) __attribute__((weak));

// Without the loader (a gotch built the official way) the C layer is
// linked into the binary: nothing to load, nothing failed.
static const char *loader_error(void) { return ad_loader_error ? ad_loader_error() : 0; }
static int have_loader(void) { return ad_loader_error != 0; }
static const char *loader_path(void) { return ad_loader_path ? ad_loader_path() : ""; }
static const char *loader_abi(void) { return ad_loader_abi ? ad_loader_abi() : ""; }
static const char *library_info(void) { return ad_library_info ? ad_library_info() : 0; }
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Library describes the C++ library that holds gotch's and autodropout's
// C layer (libautodropout_torch.so, built per libtorch by make setup or
// gotchsetup -lib-only) as this program loaded it.
type Library struct {
	Path     string   `json:"path"`     // the file loaded (or the one that failed)
	ABI      string   `json:"abi"`      // the C ABI this binary needs, which the library matched
	Libtorch string   `json:"libtorch"` // the libtorch version the library was built against
	Kind     string   `json:"kind"`     // "CPU" or "CUDA": the libtorch build
	Root     string   `json:"root"`     // that libtorch's folder
	LibDir   string   `json:"lib_dir"`  // where the library finds libtorch's shared objects
	Compiler string   `json:"compiler"` // the C++ compiler that built it
	Replaced []string `json:"replaced"` // gotch bindings this libtorch could not compile: they return an error
}

// LibraryError returns why the C++ library could not be loaded (missing,
// built for another libtorch or another autodropout), as one line that
// says how to build one; nil when it is loaded.
func LibraryError() error {
	if e := C.loader_error(); e != nil {
		return errors.New(C.GoString(e))
	}
	return nil
}

// LoadedLibrary describes the C++ library this program runs on.
func LoadedLibrary() (Library, error) {
	lib := Library{Path: C.GoString(C.loader_path()), ABI: C.GoString(C.loader_abi())}
	if C.have_loader() == 0 {
		return lib, errors.New("gotch's C layer is linked into this program (a gotch built the official way), not loaded from autodropout's library")
	}
	if err := LibraryError(); err != nil {
		return lib, err
	}
	info := C.library_info()
	if info == nil {
		return lib, fmt.Errorf("%s has no identity (ad_library_info)", lib.Path)
	}
	if err := json.Unmarshal([]byte(C.GoString(info)), &lib); err != nil {
		return lib, fmt.Errorf("%s: identity: %w", lib.Path, err)
	}
	lib.Path = C.GoString(C.loader_path())
	return lib, nil
}

// Version returns the version of the libtorch that the C++ library was
// built against, as the build step found it, e.g. "1.13.1", and "CPU" or
// "CUDA". Both are "unknown" when no library is loaded.
func Version() (version, kind string) {
	lib, err := LoadedLibrary()
	if err != nil {
		return "unknown", "unknown"
	}
	return lib.Libtorch, lib.Kind
}
