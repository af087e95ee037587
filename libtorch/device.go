package libtorch

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
)

// ParseDevice reads "cpu", "cuda" or "cuda:N", as trial's --device does;
// a CUDA device must be present in the libtorch loaded.
func ParseDevice(s string) (gotch.Device, error) {
	switch {
	case s == "cpu":
		return gotch.CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		i := 0
		if s != "cuda" {
			if _, err := fmt.Sscanf(s, "cuda:%d", &i); err != nil || i < 0 || fmt.Sprintf("cuda:%d", i) != s {
				return gotch.CPU, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
			}
		}
		if gotch.CudaIfAvailable() == gotch.CPU {
			return gotch.CPU, fmt.Errorf("device %s: this libtorch has no CUDA device (autodropout version says which library and libtorch run)", s)
		}
		return gotch.CudaBuilder(uint(i)), nil
	}
	return gotch.CPU, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}
