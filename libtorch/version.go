package libtorch

/*
extern const char *ad_libtorch_version(void) __attribute__((weak));
extern const char *ad_libtorch_kind(void) __attribute__((weak));

static const char *version(void) { return ad_libtorch_version ? ad_libtorch_version() : 0; }
static const char *kind(void) { return ad_libtorch_kind ? ad_libtorch_kind() : 0; }
*/
import "C"

// Version returns the version of the libtorch that gotch was built
// against, as the build step (make setup) found it, e.g. "1.13.1", and
// "CPU" or "CUDA". Both are "unknown" with a gotch built some other way.
func Version() (version, kind string) {
	version, kind = "unknown", "unknown"
	if v := C.version(); v != nil {
		version = C.GoString(v)
	}
	if k := C.kind(); k != nil {
		kind = C.GoString(k)
	}
	return version, kind
}
