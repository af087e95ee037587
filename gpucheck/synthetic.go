package gpucheck

import (
	"math/rand"

	"github.com/autodropout/autodropout/data"
)

// Synthetic draws labelled images shaped like a dataset's (Fashion-MNIST:
// 1×28×28, 10 classes): each class has a fixed random template, and an
// image is its class's template plus Gaussian noise of Noise's standard
// deviation, so a network learns it within a few hundred steps and its
// loss falls. The same seed gives the same templates and images.
type Synthetic struct {
	C, H, W   int
	Classes   int
	Noise     float64
	templates [][]float32
	rng       *rand.Rand
}

// NewSynthetic returns a Fashion-MNIST-shaped source for seed.
func NewSynthetic(seed int64) *Synthetic {
	s := &Synthetic{C: 1, H: 28, W: 28, Classes: 10, Noise: 1, rng: rand.New(rand.NewSource(seed))}
	n := s.C * s.H * s.W
	for k := 0; k < s.Classes; k++ {
		t := make([]float32, n)
		for i := range t {
			t[i] = float32(s.rng.NormFloat64())
		}
		s.templates = append(s.templates, t)
	}
	return s
}

// Batch draws n images with uniformly random labels.
func (s *Synthetic) Batch(n int) *data.Batch {
	size := s.C * s.H * s.W
	b := &data.Batch{X: make([]float32, n*size), Y: make([]int64, n), N: n, C: s.C, H: s.H, W: s.W}
	for i := 0; i < n; i++ {
		y := s.rng.Intn(s.Classes)
		b.Y[i] = int64(y)
		x := b.X[i*size : (i+1)*size]
		for j, v := range s.templates[y] {
			x[j] = v + float32(s.Noise*s.rng.NormFloat64())
		}
	}
	return b
}
