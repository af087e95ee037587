package train

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
// keep_freed_memory makes glibc serve every block up to 32 MB from its heaps
// (never a fresh mmap) and keep freed memory there instead of returning it.
static int keep_freed_memory(void) {
	return mallopt(M_MMAP_THRESHOLD, 32 << 20) && mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
// malloc_bytes reports the bytes glibc has handed out and not yet had back
// (in use) and the bytes it holds from the system (heaps and mmapped
// blocks); 0, 0 where mallinfo2 is missing (glibc before 2.33).
static void malloc_bytes(long long *in_use, long long *held) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
	struct mallinfo2 mi = mallinfo2();
	*in_use = (long long)(mi.uordblks + mi.hblkhd);
	*held = (long long)(mi.arena + mi.hblkhd);
#else
	*in_use = 0;
	*held = 0;
#endif
}
#else
static int keep_freed_memory(void) { return 0; }
static void malloc_bytes(long long *in_use, long long *held) { *in_use = 0; *held = 0; }
#endif
*/
import "C"

import (
	"os"
	"strconv"
	"strings"
)

// A training step allocates and frees the same large blocks every time
// (activations, their gradients, masks). glibc returns freed memory at the
// top of a heap to the system once it exceeds a threshold, and reusing it
// then costs a page fault per 4 KiB: with a pattern or Dropout on WRN-28-2
// that was 30,000–50,000 faults and about 7% of every step (see
// docs/performance.md). Fixing the thresholds keeps the memory for the next
// step: resident memory stays at its high-water mark instead of being
// returned between steps. Setting only the trim threshold would be worse
// than the default (it turns off glibc's adaptive mmap threshold, and
// every block above 128 KiB is mmapped afresh), so both are set together.
//
// Users who tune malloc themselves (MALLOC_*_ environment variables or
// glibc.malloc tunables) keep their settings.
func init() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MALLOC_") || (strings.HasPrefix(kv, "GLIBC_TUNABLES=") && strings.Contains(kv, "glibc.malloc.")) {
			return
		}
	}
	C.keep_freed_memory()
}

// MallocBytes reports how many bytes the C allocator (which libtorch's CPU
// tensors come from) has handed out and not had back, and how many it
// holds from the system; both 0 where glibc cannot say. Their difference
// is freed memory kept for reuse, so a leak raises inUse while
// fragmentation raises only held.
func MallocBytes() (inUse, held int64) {
	var u, h C.longlong
	C.malloc_bytes(&u, &h)
	return int64(u), int64(h)
}

// ResidentBytes is this process's resident memory (0 where /proc is
// missing).
func ResidentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
