package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// photo returns a w×h image with smooth gradients, edges and noise, so
// that resampling and chroma upsampling are exercised.
func photo(w, h int, seed int64) *image.RGBA {
	rng := rand.New(rand.NewSource(seed))
	return paint(w, h, func(x, y int) color.RGBA {
		n := uint8(rng.Intn(24))
		edge := uint8(0)
		if (x/17+y/13)%2 == 0 {
			edge = 60
		}
		return color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + edge, uint8((x+y)%256) ^ n, 255}
	})
}

// refJob is one job for scripts/image_transform_ref.py.
type refJob struct {
	Path   string `json:"path"`
	Size   int    `json:"size"`
	Resize int    `json:"resize,omitempty"`
	Box    []int  `json:"box,omitempty"`
	Flip   bool   `json:"flip,omitempty"`
}

// torchvisionRef runs the jobs through torchvision (skipping the test when
// python3-torchvision is missing) and returns each result's bytes.
func torchvisionRef(t *testing.T, jobs []refJob) [][]byte {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torchvision, PIL").Run(); err != nil {
		t.Skipf("python3-torchvision is not installed: %v", err)
	}
	in, _ := json.Marshal(jobs)
	cmd := exec.Command(py, "../scripts/image_transform_ref.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("image_transform_ref.py: %v\n%s", err, stderr.String())
	}
	res := make([][]byte, len(jobs))
	for i, j := range jobs {
		n := j.Size * j.Size * 3
		if len(out) < n {
			t.Fatalf("reference gave %d bytes for job %d, want %d", len(out), i, n)
		}
		res[i], out = out[:n], out[n:]
	}
	return res
}

// testImages writes the images the torchvision comparison uses.
func testImages(t *testing.T) []string {
	dir := t.TempDir()
	gray := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i*7 + i/300)
	}
	alpha := image.NewNRGBA(image.Rect(0, 0, 120, 90))
	for i := range alpha.Pix {
		alpha.Pix[i] = uint8(i * 13)
	}
	files := []struct {
		name string
		img  image.Image
	}{
		{"landscape.jpg", photo(500, 375, 1)},
		{"portrait.jpg", photo(375, 500, 2)},
		{"large.jpg", photo(1400, 1000, 3)},
		{"small.jpg", photo(60, 45, 4)},
		{"gray.jpg", gray},
		{"alpha.png", alpha},
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		writeImage(t, p, f.img)
		paths = append(paths, p)
	}
	return append(paths, filepath.Join("testdata", "cmyk.jpg"))
}

// TestTransformsMatchTorchvision compares the evaluation transform and
// training crops (drawn by our RandomResizedCrop, with and without flip)
// with torchvision's on PIL: decoded at full size, the bytes are the same,
// except for CMYK JPEGs, which Go's decoder reads (within 2 levels of
// libjpeg). With DCT-domain scaling they differ by a level on average.
func TestTransformsMatchTorchvision(t *testing.T) {
	paths := testImages(t)
	type run struct {
		path string
		job  refJob
	}
	var runs []run
	for _, p := range paths {
		for _, size := range []int{224, 64} {
			for k := 0; k < 3; k++ {
				tr, _ := (&ImageTransform{Size: size, Train: k > 0}).withDefaults()
				w, h := imageSize(t, p)
				pl := tr.planFor(w, h, newSampleRNG(int64(k), 0, len(runs)))
				job := refJob{Path: p, Size: size, Resize: tr.Resize}
				if tr.Train {
					job = refJob{Path: p, Size: size, Box: []int{pl.box.x, pl.box.y, pl.box.w, pl.box.h}, Flip: pl.flip}
				}
				runs = append(runs, run{p, job})
			}
		}
	}
	jobs := make([]refJob, len(runs))
	for i, r := range runs {
		jobs[i] = r.job
	}
	want := torchvisionRef(t, jobs)
	for _, exact := range []bool{true, false} {
		var sumDiff, n float64
		for i, r := range runs {
			got := applyJob(t, r.job, exact)
			maxd, sum := diff(got, want[i])
			sumDiff += sum
			n += float64(len(got))
			tol := 0
			if strings.HasSuffix(r.path, "cmyk.jpg") {
				tol = 2
			}
			if exact && maxd > tol {
				t.Errorf("%s %+v: differs from torchvision by up to %d levels (mean %.3f)", filepath.Base(r.path), r.job, maxd, sum/float64(len(got)))
			}
		}
		if mean := sumDiff / n; !exact && mean > 1.5 {
			t.Errorf("with DCT scaling the mean difference from torchvision is %.3f levels, want at most 1.5", mean)
		} else {
			t.Logf("exact decode %v: mean difference from torchvision %.4f levels", exact, mean)
		}
	}
}

// applyJob applies the job's transform (its crop given) with our decoder.
func applyJob(t *testing.T, j refJob, exact bool) []byte {
	d := newImageDecoder(0)
	defer d.close()
	tr, _ := (&ImageTransform{Size: j.Size, Resize: j.Resize, ExactDecode: exact}).withDefaults()
	planFor := func(w, h int) plan { return tr.planFor(w, h, nil) }
	if j.Box != nil {
		fixed := plan{box: cropBox{j.Box[0], j.Box[1], j.Box[2], j.Box[3]}, outW: j.Size, outH: j.Size, flip: j.Flip}
		planFor = func(int, int) plan { return fixed }
	}
	flip, err := d.loadWith(j.Path, &tr, planFor)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(d.out))
	for y := 0; y < j.Size; y++ {
		for x := 0; x < j.Size; x++ {
			sx := x
			if flip {
				sx = j.Size - 1 - x
			}
			copy(out[(y*j.Size+x)*3:(y*j.Size+x+1)*3], d.out[(y*j.Size+sx)*3:])
		}
	}
	return out
}

func imageSize(t *testing.T, path string) (int, int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Width, cfg.Height
}

func diff(a, b []byte) (maxd int, sum float64) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		maxd = max(maxd, d)
		sum += float64(d)
	}
	return maxd, sum
}

func TestRandomResizedCrop(t *testing.T) {
	scale, ratio := [2]float64{0.08, 1}, [2]float64{3.0 / 4, 4.0 / 3}
	rng := newSampleRNG(1, 0, 0)
	var areas []float64
	for i := 0; i < 2000; i++ {
		b := randomResizedCrop(500, 375, scale, ratio, rng)
		if b.x < 0 || b.y < 0 || b.x+b.w > 500 || b.y+b.h > 375 || b.w < 1 || b.h < 1 {
			t.Fatalf("crop %+v outside 500×375", b)
		}
		ar := float64(b.w) / float64(b.h)
		if ar < 0.7 || ar > 1.43 {
			t.Fatalf("crop %+v has aspect ratio %.3f outside [3/4, 4/3] (with rounding)", b, ar)
		}
		areas = append(areas, float64(b.w*b.h)/(500*375))
	}
	var mean float64
	for _, a := range areas {
		mean += a / float64(len(areas))
	}
	// The area fraction is uniform on [0.08, 1] when the crop fits (most
	// draws here), so its mean is near 0.54; rejections pull it down.
	if mean < 0.4 || mean > 0.6 {
		t.Errorf("mean crop area fraction %.3f, want about 0.5", mean)
	}
	// Fallbacks: no draw can fit, so the centre crop of the largest region
	// with a ratio in range (rounded half to even, offsets floored).
	for _, tc := range []struct {
		w, h  int
		scale [2]float64
		want  cropBox
	}{
		{1000, 100, [2]float64{0.9, 1}, cropBox{433, 0, 133, 100}}, // too wide: w = round(100·4/3)
		{100, 1000, [2]float64{0.9, 1}, cropBox{0, 433, 100, 133}}, // too tall: h = round(100/(3/4))
		{300, 200, [2]float64{2, 3}, cropBox{16, 0, 267, 200}},     // 1.5 > 4/3: w = round(266.67)
		{250, 200, [2]float64{2, 3}, cropBox{0, 0, 250, 200}},      // ratio within range: everything
		{3, 2, [2]float64{1.5, 1.5}, cropBox{0, 0, 3, 2}},          // tiny image
		{1000, 3, [2]float64{1, 1}, cropBox{498, 0, 4, 3}},         // round(4.0) = 4
		{1000, 9, [2]float64{1, 1}, cropBox{494, 0, 12, 9}},        // 12
		{1000, 15, [2]float64{1, 1}, cropBox{490, 0, 20, 15}},      // 20
		{1000, 7, [2]float64{1, 1}, cropBox{495, 0, 9, 7}},         // round(9.33) = 9
		{8, 1000, [2]float64{1, 1}, cropBox{0, 494, 8, 11}},        // round(10.67) = 11
		{6, 1000, [2]float64{1, 1}, cropBox{0, 496, 6, 8}},         // 8
		{3, 1000, [2]float64{1, 1}, cropBox{0, 498, 3, 4}},         // 4
		{9, 1000, [2]float64{1, 1}, cropBox{0, 494, 9, 12}},        // 12
		{1000, 3, [2]float64{1, 1}, cropBox{498, 0, 4, 3}},         // again: deterministic
	} {
		if got := randomResizedCrop(tc.w, tc.h, tc.scale, ratio, newSampleRNG(0, 0, 0)); got != tc.want {
			t.Errorf("%d×%d, scale %v: crop %+v, want %+v", tc.w, tc.h, tc.scale, got, tc.want)
		}
	}
}

// writeFolder writes n JPEGs of w×h into root/<class>/ over the classes.
func writeFolder(t testing.TB, root string, classes []string, n, w, h int) {
	rng := rand.New(rand.NewSource(1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < n; i++ {
		rng.Read(img.Pix[:len(img.Pix)/4]) // some noise, the rest flat
		for k := 3; k < len(img.Pix); k += 4 {
			img.Pix[k] = 255
		}
		dir := filepath.Join(root, classes[i%len(classes)])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.JPEG", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// epochBytes runs one epoch and returns every batch's pixels and labels.
func epochBytes(t *testing.T, l *Loader, e int) ([]float32, []int64) {
	var x []float32
	var y []int64
	for b := range l.Epoch(context.Background(), e) {
		x = append(x, b.X...)
		y = append(y, b.Y...)
	}
	return x, y
}

// TestFolderLoaderDeterministic: the same seed gives the same batches,
// whatever the number of workers; another epoch gives other crops; the
// evaluation loader gives the same batches every epoch.
func TestFolderLoaderDeterministic(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b", "c"}, 30, 80, 60)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 30 || f.Classes() != 3 || f.Label(29) != 2 || !strings.HasSuffix(f.Path(0), filepath.Join("a", "000000.JPEG")) {
		t.Fatalf("scan: %d images, %d classes, label %d, path %s", f.Len(), f.Classes(), f.Label(29), f.Path(0))
	}
	mk := func(workers int, train bool) *Loader {
		l, err := NewFolderLoader(f, StreamConfig{BatchSize: 7, Shuffle: train, Seed: 5, Workers: workers,
			Transform: ImageTransform{Size: 32, Train: train}})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	x1, y1 := epochBytes(t, mk(1, true), 3)
	x4, y4 := epochBytes(t, mk(4, true), 3)
	if len(y1) != 30 || fmt.Sprint(y1) != fmt.Sprint(y4) || !equalF(x1, x4) {
		t.Errorf("epoch 3 with 1 and 4 workers differs (%d and %d images)", len(y1), len(y4))
	}
	x5, _ := epochBytes(t, mk(2, true), 4)
	if equalF(x1, x5) {
		t.Error("epochs 3 and 4 gave the same crops")
	}
	e0, ey := epochBytes(t, mk(3, false), 0)
	e1, _ := epochBytes(t, mk(1, false), 1)
	if !equalF(e0, e1) || fmt.Sprint(ey[8:12]) != "[0 0 1 1]" {
		t.Errorf("evaluation batches differ between epochs, or are not in file order: labels %v", ey)
	}
}

// TestFolderLoaderRandAugment: with RandAugment, each training image is
// the crop and flip without it (un-normalized to its 8-bit values), then
// RandAugment drawn from the image's generator after its crop and flip,
// then normalized; and the batches do not depend on the workers.
func TestFolderLoaderRandAugment(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b"}, 12, 70, 50)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ra := &RandAugment{Ops: 3, Magnitude: 15}
	tr := ImageTransform{Size: 24, Train: true}
	mk := func(ra *RandAugment, workers int) *Loader {
		l, err := NewFolderLoader(f, StreamConfig{BatchSize: 5, Seed: 3, Workers: workers, Transform: tr, RandAugment: ra})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	plain, _ := epochBytes(t, mk(nil, 2), 1)
	aug, _ := epochBytes(t, mk(ra, 1), 1)
	aug3, _ := epochBytes(t, mk(ra, 3), 1)
	if !equalF(aug, aug3) {
		t.Error("RandAugment's batches differ between 1 and 3 workers")
	}
	trd, _ := tr.withDefaults()
	norm := newNormalizer(trd.Mean, trd.Std)
	sz, changed := 3*24*24, 0
	d := newImageDecoder(0)
	defer d.close()
	for i := 0; i < f.Len(); i++ { // no shuffle: image i is slot i
		rng := newSampleRNG(3, 1, i)
		if _, err := d.load(f.Path(i), &trd, rng); err != nil { // the crop's and flip's draws
			t.Fatal(err)
		}
		img := Image8{C: 3, H: 24, W: 24, Pix: make([]uint8, sz)}
		for k, x := range plain[i*sz : (i+1)*sz] { // back to 8 bits
			c := k / (24 * 24)
			img.Pix[k] = uint8(math.Round(float64((x*trd.Std[c] + trd.Mean[c]) * 255)))
		}
		if err := ra.Apply(img, rand.New(rng)); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, sz)
		norm.writePlanes(img.Pix, 24, want)
		if !equalF(want, aug[i*sz:(i+1)*sz]) {
			t.Errorf("image %d: the streamed RandAugment differs from crop, flip, then RandAugment", i)
		}
		if !equalF(want, plain[i*sz:(i+1)*sz]) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("RandAugment changed no image; the test checks nothing")
	}
	if _, err := NewFolderLoader(f, StreamConfig{BatchSize: 1, RandAugment: &RandAugment{Magnitude: 31}}); err == nil || !strings.Contains(err.Error(), "magnitude 31") {
		t.Errorf("magnitude 31: %v", err)
	}
	sub := f.Subset([]int{11, 0})
	if sub.Len() != 2 || sub.Path(0) != f.Path(11) || sub.Label(0) != f.Label(11) || sub.Path(1) != f.Path(0) || sub.Classes() != 2 {
		t.Errorf("Subset: %s (%d), %s", sub.Path(0), sub.Label(0), sub.Path(1))
	}
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFolderLoaderBadInput: grayscale, CMYK and PNG-with-alpha images
// load; a truncated JPEG, a file of garbage and a JPEG whose header claims
// 20,000×20,000 pixels are skipped, named once and counted, every epoch;
// the epoch goes on.
func TestFolderLoaderBadInput(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"good"}, 5, 50, 40)
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	writeImage(t, filepath.Join(root, "odd", "gray.jpg"), gray)
	writeImage(t, filepath.Join(root, "odd", "alpha.png"), image.NewNRGBA(image.Rect(0, 0, 30, 30)))
	cmyk, _ := os.ReadFile(filepath.Join("testdata", "cmyk.jpg"))
	os.WriteFile(filepath.Join(root, "odd", "cmyk.jpg"), cmyk, 0o644)
	var good bytes.Buffer
	jpeg.Encode(&good, photo(64, 48, 1), nil)
	b := good.Bytes()
	os.WriteFile(filepath.Join(root, "odd", "truncated.jpg"), b[:len(b)*2/3], 0o644)
	os.WriteFile(filepath.Join(root, "odd", "garbage.jpg"), []byte("\xff\xd8\xffnot a jpeg at all"), 0o644)
	huge := append([]byte{}, b...)
	sof := bytes.Index(huge, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(huge[sof+5:], 20000)
	binary.BigEndian.PutUint16(huge[sof+7:], 20000)
	os.WriteFile(filepath.Join(root, "odd", "huge.jpg"), huge, 0o644)

	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	l, err := NewFolderLoader(f, StreamConfig{BatchSize: 4, Workers: 2, Log: &log, Transform: ImageTransform{Size: 16, Train: true}})
	if err != nil {
		t.Fatal(err)
	}
	for e := 0; e < 2; e++ {
		_, y := epochBytes(t, l, e)
		if len(y) != 8 {
			t.Errorf("epoch %d: %d images, want the 8 readable of 11", e, len(y))
		}
	}
	st := l.Stats()
	want := []string{"garbage.jpg", "huge.jpg", "truncated.jpg"}
	if st.Decoded != 16 || st.Skipped != 6 || len(st.BadFiles) != 3 {
		t.Fatalf("stats %+v, want 16 decoded, 6 skipped, 3 bad files; log:\n%s", st, log.String())
	}
	for i, name := range want {
		if filepath.Base(st.BadFiles[i]) != name || strings.Count(log.String(), name) != 1 {
			t.Errorf("bad file %d is %s, want %s named once in the log:\n%s", i, st.BadFiles[i], name, log.String())
		}
	}
	if !strings.Contains(log.String(), "20000×20000") {
		t.Errorf("the log does not give the claimed size:\n%s", log.String())
	}
}

func TestScanImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a"}, 2, 8, 8)
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	_, err := ScanImageFolder(root, FolderOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "empty")) {
		t.Errorf("empty class folder: %v, want an error naming it", err)
	}
	f, err := ScanImageFolder(root, FolderOptions{Classes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []StreamConfig{
		{BatchSize: 0},
		{BatchSize: 1, Transform: ImageTransform{Size: 224, Resize: 200}},
		{BatchSize: 1, Transform: ImageTransform{Scale: [2]float64{0.5, 0.1}}},
	} {
		if _, err := NewFolderLoader(f, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

// TestFolderLoaderMemoryFlat streams 2,000 images and checks that the
// heap in use after the last batches is no larger than after the first:
// memory depends on the batch and the prefetch depth, not on the
// dataset. (autodropout bench --images-gen 100000 reports resident memory
// over 100,000 images.)
func TestFolderLoaderMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2,000 images")
	}
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b", "c", "d"}, 2000, 64, 48)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewFolderLoader(f, StreamConfig{BatchSize: 50, Shuffle: true, Workers: 2,
		Transform: ImageTransform{Size: 32, Train: true}})
	if err != nil {
		t.Fatal(err)
	}
	heap := func() float64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse) / (1 << 20)
	}
	var early, late float64
	i := 0
	for range l.Epoch(context.Background(), 0) {
		switch i {
		case 4:
			early = heap()
		case l.Batches() - 2:
			late = heap()
		}
		i++
	}
	t.Logf("heap in use after batch 5: %.1f MB, after batch %d of %d: %.1f MB", early, l.Batches()-1, l.Batches(), late)
	if late > early+4 || math.IsNaN(late) {
		t.Errorf("heap grew from %.1f MB to %.1f MB over the epoch", early, late)
	}
	if st := l.Stats(); st.Decoded != 2000 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestScanImageNet(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, filepath.Join(root, "train"), []string{"n01", "n02"}, 6, 8, 8)
	writeFolder(t, filepath.Join(root, "val"), []string{"n02", "n01"}, 4, 8, 8)
	tr, val, err := ScanImageNet(root, FolderOptions{PerClass: 2})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 4 || val.Len() != 4 || fmt.Sprint(val.ClassNames) != "[n01 n02]" {
		t.Errorf("train %d images, val %d of classes %v", tr.Len(), val.Len(), val.ClassNames)
	}
	os.RemoveAll(filepath.Join(root, "val", "n02"))
	if _, _, err := ScanImageNet(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "n02") {
		t.Errorf("val without a class: %v", err)
	}
}

// TestFolderLoaderShards: a stream's shards pick the positions Shard,
// Shard+Shards, … of the unsharded epoch's order, as the in-memory
// loader's do; without EvenShards they are the epoch once, with it each
// has the same number of batches. A training shard never leaves a batch
// out: an all-unreadable batch is replaced by the next batch with images,
// or the last at the epoch's end, so that every rank takes the same steps.
func TestFolderLoaderShards(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, []string{"a", "b", "c"}, 11, 40, 30)
	f, err := ScanImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(f *ImageFolder, shard, shards int, even bool) *Loader {
		l, err := NewFolderLoader(f, StreamConfig{BatchSize: 1, Shuffle: true, Seed: 4, Workers: 2,
			Transform: ImageTransform{Size: 16}, Log: io.Discard, Shard: shard, Shards: shards, EvenShards: even})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	const size = 3 * 16 * 16
	whole, _ := epochBytes(t, mk(f, 0, 1, false), 2)
	image := func(x []float32, i int) []float32 { return x[i*size : (i+1)*size] }
	for _, even := range []bool{false, true} {
		seen := 0
		for shard := range 3 {
			l := mk(f, shard, 3, even)
			x, _ := epochBytes(t, l, 2)
			n := len(x) / size
			if n != l.N() || n != l.Batches() {
				t.Errorf("even %v, shard %d: %d images, N %d, %d batches", even, shard, n, l.N(), l.Batches())
			}
			for k := range n {
				pos := (shard + 3*k) % f.Len() // EvenShards pads with the order's first
				if !equalF(image(x, k), image(whole, pos)) {
					t.Errorf("even %v, shard %d: image %d is not position %d of the epoch", even, shard, k, pos)
				}
			}
			seen += n
		}
		if want := map[bool]int{false: 11, true: 12}[even]; seen != want {
			t.Errorf("even %v: the shards hold %d images, want %d", even, seen, want)
		}
	}
	if _, err := NewFolderLoader(f, StreamConfig{BatchSize: 1, Shard: 3, Shards: 3}); err == nil || !strings.Contains(err.Error(), "shard 3 of 3") {
		t.Errorf("shard 3 of 3: %v", err)
	}

	// Unreadable images in file order (no shuffle): a: 0–3, b (garbage):
	// 4–5, c: 6–8, z (garbage): 9–10.
	bad := t.TempDir()
	writeFolder(t, bad, []string{"a"}, 4, 20, 20)
	writeFolder(t, bad, []string{"c"}, 3, 20, 20)
	for _, class := range []string{"b", "z"} {
		os.MkdirAll(filepath.Join(bad, class), 0o755)
		for i := range 2 {
			os.WriteFile(filepath.Join(bad, class, fmt.Sprintf("%d.jpg", i)), []byte("\xff\xd8\xffgarbage"), 0o644)
		}
	}
	fb, err := ScanImageFolder(bad, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		shard  int
		even   bool
		labels string
	}{
		{0, true, "[0 0 2 2 2 2]"}, // 0 2 4✗ 6 8 10✗: 6 stands in for 4, 8 for 10
		{1, true, "[0 0 2 2 0 0]"}, // 1 3 5✗ 7 9✗ 0 (padding): 7 for 5, 0 for 9
		{0, false, "[0 0 2 2]"},    // without EvenShards the empty batches are left out
		{1, false, "[0 0 2]"},      // 1 3 5✗ 7 9✗
	} {
		l, err := NewFolderLoader(fb, StreamConfig{BatchSize: 1, Workers: 2, Transform: ImageTransform{Size: 16}, Log: io.Discard,
			Shard: tc.shard, Shards: 2, EvenShards: tc.even})
		if err != nil {
			t.Fatal(err)
		}
		if _, y := epochBytes(t, l, 0); fmt.Sprint(y) != tc.labels {
			t.Errorf("shard %d, even %v: labels %v, want %s", tc.shard, tc.even, y, tc.labels)
		}
	}
}
