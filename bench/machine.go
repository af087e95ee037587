package bench

import (
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/autodropout/autodropout/libtorch"
	"github.com/autodropout/autodropout/train"
)

// minorFaults is this process's count of minor page faults (0 where /proc
// is missing): each is a 4 KiB page of fresh memory touched.
func minorFaults() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64) // field 10 of proc(5): minflt
	return n
}

// cHeapInUseMB is what the C allocator has handed out and not had back.
func cHeapInUseMB() float64 {
	u, _ := train.MallocBytes()
	return float64(u) / (1 << 20)
}

// rssMB is this process's resident memory (0 where /proc is missing).
func rssMB() float64 { return float64(train.ResidentBytes()) / (1 << 20) }

var (
	libtorchFile = regexp.MustCompile(`libtorch(?:_cpu)?\.so\.([0-9][0-9.]*)`)
	blasFile     = regexp.MustCompile(`/\S*/(?:lib(?:open)?blas[^/\s]*\.so[^/\s]*)`)
)

// referenceBLAS says whether path is Debian's reference BLAS (the default
// libblas.so.3 alternative) rather than an optimized one.
func referenceBLAS(path string) bool {
	return strings.Contains(path, "/blas/libblas.so")
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Threads: libtorch.Threads(), Go: runtime.Version(), CPU: "unknown", Libtorch: "unknown", BLAS: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	// The version the build step found (as setup and `autodropout
	// version` say it); else the soname of the libtorch mapped into this
	// process.
	if v, _ := libtorch.Version(); v != "unknown" {
		m.Libtorch = v
	}
	if b, err := os.ReadFile("/proc/self/maps"); err == nil {
		if s := libtorchFile.FindSubmatch(b); s != nil && m.Libtorch == "unknown" {
			m.Libtorch = string(s[1])
		}
		// Debian's default libblas.so.3 is the reference BLAS; OpenBLAS
		// shows up as its own path (see docs/performance.md).
		if s := blasFile.Find(b); s != nil {
			m.BLAS = string(s)
		}
	}
	return m
}
