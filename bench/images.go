package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/autodropout/autodropout/data"
)

// ImagesSettings configure the image-loader section ("images").
type ImagesSettings struct {
	// Dir is a folder-per-class dataset to read (ImageNet's train/, say);
	// "" generates Gen JPEGs of about 500×375 pixels in a temporary folder.
	Dir string
	// Gen is how many JPEGs to generate; at most 10,000 are distinct, the
	// rest are hard links to them (no disk, the same decoding work), so
	// that 100,000 images show whether memory grows with the dataset.
	Gen int
	// Timed is how many images each speed measurement reads (0: all, at
	// most 2,000).
	Timed int
	// Batch is the loaders' batch size.
	Batch int
	// Script is the torchvision reference, run with --pytorch.
	Script string
}

// DefaultImagesSettings are the command's defaults: 300 generated images.
func DefaultImagesSettings() ImagesSettings {
	return ImagesSettings{Gen: 300, Batch: 64, Script: "scripts/bench_imagefolder.py"}
}

// ImagesResult is the streaming image loader measured per core against
// torchvision's ImageFolder + DataLoader on the same files, and the
// process's resident memory while a training loader streams every image.
type ImagesResult struct {
	Dir    string       `json:"dir"`
	Images int          `json:"images"`
	Rows   []ImagesRow  `json:"rows"`
	Memory []ImagesRSS  `json:"memory"`
	Ratio  *float64     `json:"train_vs_torchvision_per_cpu_s,omitempty"` // default decoder, training transform
	All    ImagesAllRow `json:"all_workers"`
}

// ImagesRow is one transform and decoder on one worker.
type ImagesRow struct {
	Transform string  `json:"transform"` // train (RandomResizedCrop+flip) or eval (Resize+CenterCrop)
	Decoder   string  `json:"decoder"`
	PerS      float64 `json:"images_per_s"`      // wall clock, one decoding worker
	PerCPUS   float64 `json:"images_per_cpu_s"`  // per second of the process's CPU time (GC included)
	TorchPerS float64 `json:"torchvision_per_s"` // DataLoader(num_workers=0), one thread; 0 if not measured
	TorchCPU  float64 `json:"torchvision_per_cpu_s"`
}

// ImagesAllRow is the training loader on every core.
type ImagesAllRow struct {
	Workers int     `json:"workers"`
	PerS    float64 `json:"images_per_s"`
}

// ImagesRSS is the resident memory after so many images.
type ImagesRSS struct {
	Images int     `json:"images"`
	RSSMB  float64 `json:"rss_mb"`
}

// benchImages measures the streaming image loader.
func benchImages(f *Settings, rep *Report) error {
	s := f.Images
	dir := s.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "autodropout-images-")
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		defer os.RemoveAll(tmp)
		t0 := time.Now()
		if err := GenerateImages(tmp, s.Gen, 100); err != nil {
			return fmt.Errorf("images: %w", err)
		}
		fmt.Fprintf(f.Out, "\nimages: generated %d JPEGs of 500×375 (%d distinct) in %s in %.0fs\n", s.Gen, min(s.Gen, maxDistinct), tmp, time.Since(t0).Seconds())
		dir = tmp
	}
	folder, err := data.ScanImageFolder(dir, data.FolderOptions{})
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	timed := s.Timed
	if timed <= 0 {
		timed = min(folder.Len(), 2000)
	}
	sub, err := data.ScanImageFolder(dir, data.FolderOptions{PerClass: max(1, timed/folder.Classes()), Seed: 1})
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	res := &ImagesResult{Dir: dir, Images: folder.Len()}
	rep.Images = res
	if err := imagesSpeed(f, sub, res); err != nil {
		return err
	}
	if err := imagesMemory(f, folder, res); err != nil {
		return err
	}
	printImages(f, sub.Len(), res)
	return nil
}

// imagesSpeed times each transform and decoder on one worker, and the
// training loader on every core; with --pytorch, torchvision on the same
// files (a folder of links to the timed subset).
func imagesSpeed(f *Settings, sub *data.ImageFolder, res *ImagesResult) error {
	var torchDir string
	if f.PyTorch {
		d, err := linkSubset(sub)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		defer os.RemoveAll(d)
		torchDir = d
	}
	decoders := []string{"libjpeg-turbo, DCT scaling", "libjpeg-turbo, full size", "Go image/jpeg"}
	for _, train := range []bool{true, false} {
		name := map[bool]string{true: "train", false: "eval"}[train]
		// Rounds alternate the variants; each figure is the median of its
		// rounds, so that a busy moment of the machine hits all alike.
		per := make([][2][]float64, len(decoders)+1) // [variant][wall, cpu][round]
		for round := 0; round < imagesRounds; round++ {
			if torchDir != "" {
				ps, cpu, err := torchvisionSpeed(f, torchDir, train)
				if err != nil {
					fmt.Fprintf(f.Out, "images: torchvision skipped: %v\n", err)
					torchDir = ""
				} else {
					per[len(decoders)][0] = append(per[len(decoders)][0], ps)
					per[len(decoders)][1] = append(per[len(decoders)][1], cpu)
				}
			}
			for d := range decoders {
				cfg := data.StreamConfig{BatchSize: f.Images.Batch, Shuffle: train, Seed: 1, Workers: 1,
					Transform: data.ImageTransform{Train: train, ExactDecode: d > 0}, GoDecoder: d == 2}
				ps, cpu, err := streamSpeed(sub, cfg)
				if err != nil {
					return err
				}
				per[d][0] = append(per[d][0], ps)
				per[d][1] = append(per[d][1], cpu)
			}
		}
		for d, dec := range decoders {
			row := ImagesRow{Transform: name, Decoder: dec, PerS: median(per[d][0]), PerCPUS: median(per[d][1])}
			if t := per[len(decoders)]; d == 0 && len(t[1]) > 0 {
				row.TorchPerS, row.TorchCPU = median(t[0]), median(t[1])
				if train {
					r := row.PerCPUS / row.TorchCPU
					res.Ratio = &r
				}
			}
			res.Rows = append(res.Rows, row)
		}
	}
	w := runtime.GOMAXPROCS(0)
	ps, _, err := streamSpeed(sub, data.StreamConfig{BatchSize: f.Images.Batch, Shuffle: true, Seed: 1, Workers: w,
		Transform: data.ImageTransform{Train: true}})
	if err != nil {
		return err
	}
	res.All = ImagesAllRow{Workers: w, PerS: ps}
	return nil
}

// streamSpeed runs one epoch and returns images per second of wall clock
// and of the process's CPU time.
func streamSpeed(folder *data.ImageFolder, cfg data.StreamConfig) (perS, perCPU float64, err error) {
	l, err := data.NewFolderLoader(folder, cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("images: %w", err)
	}
	runtime.GC()
	c0, t0 := cpuSeconds(), time.Now()
	n := 0
	for b := range l.Epoch(context.Background(), 0) {
		n += b.N
	}
	wall, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
	return float64(n) / wall, float64(n) / cpu, nil
}

// cpuSeconds is the process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// torchvisionSpeed runs scripts/bench_imagefolder.py on dir.
func torchvisionSpeed(f *Settings, dir string, train bool) (perS, perCPU float64, err error) {
	py, err := findPython(f.Python)
	if err != nil {
		return 0, 0, err
	}
	script, err := findScript(f.Images.Script)
	if err != nil {
		return 0, 0, err
	}
	args := []string{script, "--dir", dir, "--batch", fmt.Sprint(f.Images.Batch)}
	if train {
		args = append(args, "--train")
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %v: %s", script, err, stderr.String())
	}
	var r struct {
		Images  int     `json:"images"`
		Seconds float64 `json:"seconds"`
		PerS    float64 `json:"images_per_s"`
		PerCPU  float64 `json:"images_per_cpu_s"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return 0, 0, fmt.Errorf("%s printed %q: %v", script, out, err)
	}
	return r.PerS, r.PerCPU, nil
}

// linkSubset makes a folder of links to the subset's files in the same
// class layout, for torchvision's ImageFolder.
func linkSubset(sub *data.ImageFolder) (string, error) {
	d, err := os.MkdirTemp("", "autodropout-images-subset-")
	if err != nil {
		return "", err
	}
	for i := 0; i < sub.Len(); i++ {
		dst := filepath.Join(d, sub.ClassNames[sub.Label(i)], fmt.Sprintf("%07d%s", i, filepath.Ext(sub.Path(i))))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		src, err := filepath.Abs(sub.Path(i))
		if err != nil {
			return "", err
		}
		if err := os.Symlink(src, dst); err != nil {
			return "", err
		}
	}
	return d, nil
}

// imagesMemory streams every image once with the training transform on
// every core and samples the resident memory at ten points.
func imagesMemory(f *Settings, folder *data.ImageFolder, res *ImagesResult) error {
	l, err := data.NewFolderLoader(folder, data.StreamConfig{BatchSize: f.Images.Batch, Shuffle: true, Seed: 1,
		Transform: data.ImageTransform{Train: true}})
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	step := max(folder.Len()/10, 1)
	if folder.Len() >= 20000 {
		step = 10000
	}
	n, next := 0, step
	for b := range l.Epoch(context.Background(), 0) {
		n += b.N
		if n >= next {
			res.Memory = append(res.Memory, ImagesRSS{Images: n, RSSMB: rssMB()})
			next += step
		}
	}
	return nil
}

func printImages(f *Settings, timed int, res *ImagesResult) {
	fmt.Fprintf(f.Out, "\nimages: streaming loader, %d images of %s per measurement, batch %d, 224×224, one decoding worker; medians of %d rounds\n", timed, res.Dir, f.Images.Batch, imagesRounds)
	fmt.Fprintf(f.Out, "  %-9s %-28s %12s %16s %16s %18s\n", "transform", "decoder", "images/s", "images/CPU-s", "torchvision/s", "torchvision/CPU-s")
	for _, r := range res.Rows {
		tv, tc := "", ""
		if r.TorchPerS > 0 {
			tv, tc = fmt.Sprintf("%.0f", r.TorchPerS), fmt.Sprintf("%.0f", r.TorchCPU)
		}
		fmt.Fprintf(f.Out, "  %-9s %-28s %12.0f %16.0f %16s %18s\n", r.Transform, r.Decoder, r.PerS, r.PerCPUS, tv, tc)
	}
	if res.Ratio != nil {
		fmt.Fprintf(f.Out, "  training transform per CPU-second: %.2f× torchvision's ImageFolder+DataLoader (goal: 1.5×)\n", *res.Ratio)
	} else {
		fmt.Fprintln(f.Out, "  (--pytorch adds torchvision's ImageFolder+DataLoader on the same files)")
	}
	fmt.Fprintf(f.Out, "  training transform on %d workers: %.0f images/s\n", res.All.Workers, res.All.PerS)
	fmt.Fprintf(f.Out, "  resident memory while streaming all %d images (training transform, every core):", res.Images)
	for _, m := range res.Memory {
		fmt.Fprintf(f.Out, " %d: %.0f MB;", m.Images, m.RSSMB)
	}
	fmt.Fprintln(f.Out)
}

// imagesRounds is how many times each speed is measured.
const imagesRounds = 3

// maxDistinct bounds the distinct images GenerateImages encodes.
const maxDistinct = 10000

// GenerateImages writes n JPEGs of 500×375 pixels (ImageNet's most common
// size; smooth colour fields, edges and noise, about 40 KB at quality 90)
// into root/<class>/ over the given number of classes. At most 10,000 are
// distinct: the rest are hard links to them.
func GenerateImages(root string, n, classes int) error {
	if n < classes {
		classes = max(n, 1)
	}
	distinct := min(n, maxDistinct)
	paths := make([]string, n)
	for i := range paths {
		c := fmt.Sprintf("c%03d", i%classes)
		paths[i] = filepath.Join(root, c, fmt.Sprintf("img%07d.JPEG", i))
		if i < classes {
			if err := os.MkdirAll(filepath.Dir(paths[i]), 0o755); err != nil {
				return err
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	for w := 0; w < cap(errs); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < distinct; i += cap(errs) {
				if err := os.WriteFile(paths[i], syntheticJPEG(uint64(i)), 0o644); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for i := distinct; i < n; i++ {
		if err := os.Link(paths[i%distinct], paths[i]); err != nil {
			return err
		}
	}
	return nil
}

// syntheticJPEG encodes a 500×375 photo-like image drawn from seed.
func syntheticJPEG(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	const w, h = 500, 375
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var c [3][3]float64 // per channel: base, x slope, y slope
	for k := range c {
		c[k] = [3]float64{rng.Float64() * 255, rng.Float64()*2 - 1, rng.Float64()*2 - 1}
	}
	cx, cy, r := rng.IntN(w), rng.IntN(h), 30+rng.IntN(120)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in := (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r
			for k := 0; k < 3; k++ {
				v := c[k][0] + c[k][1]*float64(x)/4 + c[k][2]*float64(y)/4 + rng.NormFloat64()*6
				if in {
					v = 255 - v
				}
				img.Pix[(y*w+x)*4+k] = uint8(max(0, min(255, v)))
			}
			img.Pix[(y*w+x)*4+3] = 255
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}
