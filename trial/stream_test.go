package trial

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autodropout/autodropout/distributed"
)

// writeImageNet writes an ImageNet-layout folder: train/ with perClass
// images of each class, val/ with 3 of each, noisy 48×40 JPEGs whose
// brightness depends on the class (a learnable task), and one corrupt
// file in train/n01.
func writeImageNet(t *testing.T, perClass int) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	img := image.NewRGBA(image.Rect(0, 0, 48, 40))
	for _, split := range []struct {
		name string
		n    int
	}{{"train", perClass}, {"val", 3}} {
		for c, class := range []string{"n01", "n02"} {
			dir := filepath.Join(root, split.name, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < split.n; i++ {
				for k := range img.Pix {
					img.Pix[k] = uint8(c*120 + rng.Intn(100))
				}
				var b bytes.Buffer
				if err := jpeg.Encode(&b, img, nil); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s_%d.JPEG", class, i)), b.Bytes(), 0o644)
			}
		}
	}
	os.WriteFile(filepath.Join(root, "train", "n01", "bad.JPEG"), []byte("\xff\xd8 not a JPEG"), 0o644)
	return root
}

// imageNetArgs are the tests' flags for a training on the folder root.
func imageNetArgs(root string) []string {
	return []string{"--data", "imagenet", "--data-dir", root, "--image-size", "32", "--epochs", "2", "--batch-size", "4",
		"--val-frac", "0.25", "--seed", "3", "--threads", "1"}
}

// trainImageNet trains on root with imageNetArgs and extra in this
// process and returns the result.
func trainImageNet(t *testing.T, root string, extra ...string) Result {
	t.Helper()
	out := t.TempDir()
	if err := runTrain(append(append(imageNetArgs(root), "--out", out), extra...)); err != nil {
		t.Fatal(err)
	}
	r, err := ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ImageNet read whole streams: validation is held out of train/ by
// --val-frac, val/ is the test split, the crop is --image-size, the
// corrupt file is skipped and recorded; the same seed gives the same
// result. With --per-class the images are decoded into memory at the
// evaluation crop and augmented there (crop with padding at 32 pixels; a
// file that cannot be read is an error there).
func TestTrainStreamsImageNet(t *testing.T) {
	root := writeImageNet(t, 10)
	train := func(extra ...string) Result {
		return trainImageNet(t, root, append([]string{"--randaugment"}, extra...)...)
	}
	r := train()
	if r.TrainN != 16 || r.ValN != 5 || r.TestN != 6 {
		t.Errorf("train/val/test %d/%d/%d, want 16/5/6 (21 files, 25%% held out, 6 in val/)", r.TrainN, r.ValN, r.TestN)
	}
	if !strings.HasPrefix(r.Augment, "RandomResizedCrop(32)+flip+randaugment(ops=2 magnitude=9") {
		t.Errorf("augment %q", r.Augment)
	}
	if r.SkippedImages < 1 || len(r.BadImages) != 1 || !strings.HasSuffix(r.BadImages[0], "bad.JPEG") {
		t.Errorf("skipped %d, bad %q: want the corrupt file", r.SkippedImages, r.BadImages)
	}
	if r.ValAcc == nil || r.TestAcc == nil {
		t.Fatalf("no scores: %+v", r)
	}
	if again := train(); again.TrainLoss != r.TrainLoss || *again.ValAcc != *r.ValAcc {
		t.Errorf("same seed: loss %v then %v", r.TrainLoss, again.TrainLoss)
	}
	os.Remove(filepath.Join(root, "train", "n01", "bad.JPEG")) // the in-memory loader refuses it
	mem := train("--per-class", "8")
	if mem.Augment != "crop(pad 4)+flip+randaugment(ops=2 magnitude=9 bins=31 fill=[])" || mem.SkippedImages != 0 || mem.TestN != 6 {
		t.Errorf("--per-class 8: augment %q, skipped %d, test %d", mem.Augment, mem.SkippedImages, mem.TestN)
	}
}

// Streamed ImageNet on two processes: each rank streams its shard of
// every split, and the run sees what one process sees: the same splits,
// as many training examples and the corrupt file skipped as many times
// (summed over the ranks).
func TestTrainStreamsImageNetOnTwoProcesses(t *testing.T) {
	if !distributed.Available() {
		t.Skip(distributed.ErrUnavailable)
	}
	root := writeImageNet(t, 10)
	spec := func(nproc int) Spec {
		s, err := ParseArgs(append(imageNetArgs(root), "--nproc", fmt.Sprint(nproc), "--out", t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	one, err := Run(context.Background(), spec(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asTrainEnv, "1")
	var stderr, stdout bytes.Buffer
	s2 := spec(2)
	s2.Output = &stdout
	two, err := Launch(context.Background(), os.Args[0], s2, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stderr.String(), stdout.String())
	}
	if two.Nproc != 2 || two.ValAcc == nil || two.TestAcc == nil {
		t.Fatalf("two processes: nproc %d, scores %v %v", two.Nproc, two.ValAcc, two.TestAcc)
	}
	if two.TrainN != one.TrainN || two.ValN != one.ValN || two.TestN != one.TestN || two.Examples != one.Examples {
		t.Errorf("two processes: train/val/test %d/%d/%d, %d examples; one: %d/%d/%d, %d",
			two.TrainN, two.ValN, two.TestN, two.Examples, one.TrainN, one.ValN, one.TestN, one.Examples)
	}
	if one.SkippedImages < 1 || two.SkippedImages != one.SkippedImages || len(two.BadImages) > 1 {
		t.Errorf("skipped images: %d on two processes (%q), %d on one", two.SkippedImages, two.BadImages, one.SkippedImages)
	}
}

// Streamed ImageNet with K labels per class: the labeled subset streams
// as the training split, and with UDA the rest of train/ is the unlabeled
// stream, decoded from its files in two views; the same seed gives the
// same result.
func TestTrainStreamsImageNetSemiSupervised(t *testing.T) {
	root := writeImageNet(t, 10)
	train := func(extra ...string) Result {
		return trainImageNet(t, root, append([]string{"--labeled-per-class", "3"}, extra...)...)
	}
	sup := train()
	if sup.TrainN != 6 || sup.ValN != 5 || sup.UnlabeledN != 0 || sup.UDA != nil {
		t.Errorf("supervised on 3 labels per class: train %d, val %d, unlabeled %d, want 6, 5, 0", sup.TrainN, sup.ValN, sup.UnlabeledN)
	}
	uda := train("--semi", "uda", "--uda-ratio", "2")
	if uda.TrainN != 6 || uda.UnlabeledN != 10 || uda.UDA == nil || !strings.Contains(uda.Semi, "uda") || uda.ValAcc == nil {
		t.Fatalf("uda: train %d, unlabeled %d (want 6 and the other 10 of train/'s 16), semi %q, terms %+v", uda.TrainN, uda.UnlabeledN, uda.Semi, uda.UDA)
	}
	if uda.SkippedImages < 1 || len(uda.BadImages) != 1 {
		t.Errorf("uda: skipped %d, bad %q: want the corrupt file, wherever it fell", uda.SkippedImages, uda.BadImages)
	}
	if again := train("--semi", "uda", "--uda-ratio", "2"); again.TrainLoss != uda.TrainLoss || *again.ValAcc != *uda.ValAcc {
		t.Errorf("same seed: loss %v then %v", uda.TrainLoss, again.TrainLoss)
	}
	if !distributed.Available() {
		return
	}
	// On two processes each rank streams its shard of the unlabeled
	// images (5 each: a batch of μ × 4 = 8 no longer fits, 4 does).
	s, err := ParseArgs(append(imageNetArgs(root), "--labeled-per-class", "3", "--semi", "uda", "--uda-ratio", "2", "--nproc", "2", "--out", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asTrainEnv, "1")
	var stderr bytes.Buffer
	if _, err := Launch(context.Background(), os.Args[0], s, &stderr); err == nil || !strings.Contains(stderr.String(), "5 a shard of 2") {
		t.Errorf("μ 8 over shards of 5: %v\n%s", err, stderr.String())
	}
	s.UDARatio = 1
	two, err := Launch(context.Background(), os.Args[0], s, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if two.Nproc != 2 || two.UnlabeledN != 10 || two.UDA == nil || two.TrainN != 6 {
		t.Errorf("two processes: nproc %d, unlabeled %d, train %d, terms %+v", two.Nproc, two.UnlabeledN, two.TrainN, two.UDA)
	}
}
