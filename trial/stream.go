package trial

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/distributed"
	"github.com/autodropout/autodropout/nn"
)

// maxBadImages bounds the file names Result.BadImages lists.
const maxBadImages = 10

// streamed reports whether the trial streams its images from their files
// (data.NewFolderLoader) instead of decoding them into memory first: so
// it does for ImageNet read whole (PerClass 0), which would not fit in
// memory (about 190 GB at 224 pixels). ImageNet's search proxy, PerClass
// images per class (the paper's 80,000 images), is decoded once into
// memory at the evaluation crop and read from there by every epoch, as
// docs/images.md explains: it trains with the in-memory augmentation
// (flips; above 64 pixels no crop), the full dataset with
// RandomResizedCrop and flips.
func (s Spec) streamed() bool { return strings.EqualFold(s.Data, "imagenet") && s.PerClass == 0 }

// streamImages builds streaming loaders over an ImageNet-layout folder
// (data.ScanImageNet): training from train/ less the validation share
// held out by ValFrac (seeded, as the in-memory datasets hold it out),
// and val/ as the test split. Training images get torchvision's
// RandomResizedCrop(ImageSize) and flip (NoAugment: the evaluation
// transform), then RandAugment if asked; the others Resize and
// CenterCrop(ImageSize). Each of world ranks streams its shard of every
// split, as the in-memory loaders shard theirs.
func (s Spec) streamImages(rank, world int) (*splits, error) {
	dir, err := data.DatasetDir(s.Data, s.DataDir)
	if err != nil {
		return nil, err
	}
	trainF, testF, err := data.ScanImageNet(dir, data.FolderOptions{})
	if err != nil {
		return nil, fmt.Errorf("dataset imagenet: %w (--data-dir %s must hold train/ and val/, each of <class>/<image>.JPEG)", err, dir)
	}
	trIdx, valIdx, err := s.split(trainF.Len())
	if err != nil {
		return nil, err
	}
	trIdx, rest, err := s.carve(trainF.Labels(), trainF.Classes(), trIdx)
	if err != nil {
		return nil, err
	}
	log := s.Output
	if log == nil {
		log = io.Discard
	}
	train := data.StreamConfig{BatchSize: s.BatchSize, Shuffle: true, Seed: s.Seed, Log: log, RandAugment: s.randAugment(),
		Transform: s.streamTransform(true), Shard: rank, Shards: world, EvenShards: true}
	// Evaluation batches are training-sized: at 600 pixels a batch of 256
	// would be 1.1 GB, and the loader holds four.
	eval := data.StreamConfig{BatchSize: s.BatchSize, Log: log, Transform: s.streamTransform(false), Shard: rank, Shards: world}
	sp := &splits{input: nn.Input{C: 3, H: int64(s.ImageSize), W: int64(s.ImageSize)}, classes: trainF.Classes(),
		trainN: len(trIdx), valN: len(valIdx), augment: streamAugmentText(train), log: log, rank: rank, world: world}
	if rest != nil {
		sp.unlabeledFolder = trainF.Subset(rest)
	}
	trainSet := trainF.Subset(trIdx)
	if sp.train, err = data.NewFolderLoader(trainSet, train); err != nil {
		return nil, err
	}
	if len(valIdx) > 0 {
		if sp.val, err = data.NewFolderLoader(trainF.Subset(valIdx), eval); err != nil {
			return nil, err
		}
	}
	if s.Curve {
		if sp.curveTrain, err = data.NewFolderLoader(trainSet, eval); err != nil {
			return nil, err
		}
	}
	if !s.SkipTest {
		sp.testN = testF.Len()
		if sp.test, err = data.NewFolderLoader(testF, eval); err != nil {
			return nil, err
		}
	}
	if s.Output != nil {
		fmt.Fprintf(s.Output, "streaming %s: %d classes, %d training images (%d held out for validation), %d test images from val/\n",
			dir, trainF.Classes(), trainF.Len(), len(valIdx), testF.Len())
	}
	return sp, nil
}

// streamAugmentText describes a streaming training loader's transform.
func streamAugmentText(c data.StreamConfig) string {
	t := fmt.Sprintf("RandomResizedCrop(%d)+flip", cmp.Or(c.Transform.Size, DefaultImageSize))
	if !c.Transform.Train {
		t = fmt.Sprintf("Resize+CenterCrop(%d)", cmp.Or(c.Transform.Size, DefaultImageSize))
	}
	if c.RandAugment != nil {
		t += "+" + c.RandAugment.String()
	}
	return t
}

// recordSkipped puts the images the streaming loaders could not read
// into r (how many times, over every split and epoch and, with g, every
// rank; the first maxBadImages names, this rank's) and says so on out.
// With g, every rank must call it: the count is summed over the ranks.
func (sp *splits) recordSkipped(r *Result, g *distributed.Group, out io.Writer) error {
	var bad []string
	stats := []data.LoaderStats{}
	for _, l := range []*data.Loader{sp.train, sp.val, sp.test, sp.curveTrain} {
		if l != nil {
			stats = append(stats, l.Stats())
		}
	}
	if sp.folderViews != nil {
		stats = append(stats, sp.folderViews.Stats())
	}
	for _, st := range stats {
		r.SkippedImages += st.Skipped
		bad = append(bad, st.BadFiles...)
	}
	if g != nil {
		sum, err := g.SumFloat64([]float64{float64(r.SkippedImages)})
		if err != nil {
			return fmt.Errorf("sum the ranks' skipped images: %w", err)
		}
		r.SkippedImages = int64(sum[0])
	}
	slices.Sort(bad)
	bad = slices.Compact(bad)
	r.BadImages = bad[:min(len(bad), maxBadImages)]
	if r.SkippedImages > 0 && out != nil {
		fmt.Fprintf(out, "skipped unreadable images %d times (result.json's skipped_images; bad_images names up to %d)\n", r.SkippedImages, maxBadImages)
	}
	return nil
}

// streamTransform is the resize and crop of a streamed image: training's
// random crop and flip (unless NoAugment) or evaluation's center crop.
func (s Spec) streamTransform(training bool) data.ImageTransform {
	return data.ImageTransform{Size: s.ImageSize, Train: training && !s.NoAugment}
}
