package libtorch

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
)

// ParseDevice reads "cpu", "cuda" or "cuda:N" (ParseDeviceName); a CUDA
// device must be present in the libtorch loaded.
func ParseDevice(s string) (gotch.Device, error) {
	d, err := ParseDeviceName(s)
	if err == nil && d.IsCuda() && gotch.CudaIfAvailable() == gotch.CPU {
		return gotch.CPU, fmt.Errorf("device %s: this libtorch has no CUDA device (autodropout version says which library and libtorch run; build one against a CUDA libtorch: LIBTORCH=/path make setup)", s)
	}
	return d, err
}

// ParseDeviceName reads "cpu", "cuda" or "cuda:N" without asking libtorch
// whether the device is there.
func ParseDeviceName(s string) (gotch.Device, error) {
	switch {
	case s == "cpu":
		return gotch.CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		i := 0
		if s != "cuda" {
			if _, err := fmt.Sscanf(s, "cuda:%d", &i); err != nil || i < 0 || fmt.Sprintf("cuda:%d", i) != s {
				break
			}
		}
		return gotch.CudaBuilder(uint(i)), nil
	}
	return gotch.CPU, fmt.Errorf("device %q: want cpu, cuda or cuda:N", s)
}
