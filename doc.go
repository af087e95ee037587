// Package autodropout, at the module's root, holds no code: it is the map
// of the module, so that `go doc github.com/autodropout/autodropout`
// answers.
//
// The module learns structured dropout patterns for deep networks, after
// "AutoDropout: Learning Dropout Patterns to Regularize Deep Networks"
// (Pham & Le, AAAI 2021), on libtorch through gotch
// (github.com/sugarme/gotch). It is a library first; the command
// cmd/autodropout maps flags onto its calls. The packages:
//
//   - autodropout: patterns (the paper's 8 tokens) and Transformer
//     patterns, search spaces as data, mask generation, the regularizer
//     modules (PatternDropout, Dropout, SpatialDropout, DropBlock, …) as
//     gotch ts.ModuleT values, pattern files, PNG pictures of masks.
//     Its import path ends in autodropout/autodropout: the package name is
//     the module's, one folder down.
//   - nn: models with named dropout sites (ConvNet, WRN, torchvision's
//     ResNet and EfficientNet, Transformer-XL), the Sites registry that a
//     model of your own can use too, PyTorch state-dict loading.
//   - data: Fashion-MNIST/MNIST, CIFAR-10/100, ImageNet folders and token
//     corpora; splits, augmentation, a prefetching loader.
//   - train: the training and evaluation loops of classifiers and
//     language models, resumable from a State.
//   - search: the controller, REINFORCE, random search, trial executors,
//     the journal and resume; search/natsrun runs it across machines.
//   - experiment: searches over seeds and variants, baselines, final
//     trainings and the report, from one configuration.
//   - report, dashboard, bench: reports and figures of run folders, a
//     live web page, and benchmarks against PyTorch.
//   - libtorch: seed, threads, gradient mode and precision, which gotch
//     does not export.
//
// Using it from a module of your own: autodropout is on no module proxy,
// and gotch must be built for your libtorch. In a checkout, `make consumer
// DIR=/path/to/your/module` writes that module's go.work; no require line
// is needed, and go mod tidy, which ignores go.work, cannot resolve it.
// Our nn and gotch's nn share a name, so import ours under another:
//
//	import (
//		"github.com/autodropout/autodropout/autodropout"
//		adnn "github.com/autodropout/autodropout/nn"
//		"github.com/sugarme/gotch/nn"
//	)
//
// examples/gotchcnn is such a module. docs/architecture.md describes the
// packages and how a search flows through them.
package autodropout
