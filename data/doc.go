// Package data reads the datasets autodropout trains on and feeds them to
// models in batches.
//
// Every image dataset but a streamed folder loads into memory as an Images
// value: 8-bit pixels in N×C×H×W order, integer labels, and the
// per-channel mean and standard deviation that a Loader normalizes with. Readers check what they read and
// name the file and the problem when it is missing, truncated or malformed.
//
// Fashion-MNIST and MNIST come as IDX files (gzipped or not); Debian's
// dataset-fashion-mnist package installs them under
// /usr/share/datasets/fashion-mnist (LoadMNIST).
//
// CIFAR-10 and CIFAR-100 come in their "binary version"
// (https://www.cs.toronto.edu/~kriz/cifar.html), unpacked to
// cifar-10-batches-bin and cifar-100-binary: records of label bytes followed
// by the red, green and blue 32×32 planes (LoadCIFAR10, LoadCIFAR100, which
// gives the 100 fine or the 20 coarse classes).
//
// ImageNet, and any data set laid out like it, comes as folders of JPEG or
// PNG images, one folder per class. Two paths read it:
//
//   - Streaming (ScanImageFolder, NewFolderLoader; StreamConfig's Shard
//     and Shards split it among data-parallel ranks), for data sets of any
//     size: the index holds file names and labels only, and each epoch a
//     pool of decoding workers fills the next batches (at most Prefetch
//     ahead), so memory does not grow with the data set. Training applies
//     torchvision's RandomResizedCrop and RandomHorizontalFlip, evaluation
//     its Resize and CenterCrop (ImageTransform); crops and flips are drawn
//     per image from the seed, the epoch and the image's index, whatever
//     the scheduling. JPEGs decode with libjpeg-turbo (the build tag
//     noturbojpeg falls back to Go's image/jpeg), large ones at a reduced
//     DCT scale unless ExactDecode; resampling is Pillow's fixed-point
//     bilinear filter, so that at full-size decoding the pixels are
//     torchvision's on PIL, byte for byte. A file that cannot be read is
//     skipped, named and counted (Loader.Stats); an empty class folder is
//     an error. docs/images.md has the details and the measurements.
//   - In memory (LoadImageFolder), for the search's small proxies: every
//     image decoded once through the same evaluation transform and kept as
//     8-bit pixels. A seeded per-class limit selects reproducible subsets,
//     such as the paper's 80,000/5,000 ImageNet search split; corrupt
//     images are an error naming the file unless the caller chooses to
//     skip them.
//
// Language-model corpora are three token streams over one vocabulary
// (Corpus): Penn Treebank and WikiText from their token files
// (ReadTokenFiles), Debian's fortunes (ReadFortunes), and the King James
// Bible (ReadKJV), prepared once from Debian's bible-kjv packages into
// Penn Treebank's layout in a cache folder (PrepareKJV; docs/corpora.md
// gives the rules and the split).
//
// Split holds out a seeded validation subset; Loader shuffles, augments
// (random crop after padding, horizontal flip, optionally RandAugment),
// normalizes and batches, preparing the next batches while the model
// trains.
//
// For semi-supervised training, LabeledSplit draws a class-balanced
// labeled subset from a seed, and ViewStream streams the unlabeled rest
// (without labels) in a weak and a strong view, each batch a function of
// the seed and its number so a resumed run continues it exactly.
// FolderViewStream does the same from an image folder's files, for
// unlabeled sets too large for memory.
//
// RandAugment is torchvision's transforms.RandAugment on one decoded 8-bit
// image (Image8, C×H×W, grayscale or RGB), pixel for pixel: its 14
// operations reproduce torchvision 0.14's uint8 tensor arithmetic, and the
// tests compare them with torchvision's outputs on Fashion-MNIST images and
// a photograph (fixtures written by scripts/randaugment_fixtures.py). The
// in-memory loader applies it through Augment.RandAugment, the streaming
// loader through StreamConfig.RandAugment (after RandomResizedCrop and the
// flip, before the normalization, as torchvision's ImageNet recipes); any
// other pipeline calls RandAugment.Apply on each image with its own seeded
// generator.
package data
