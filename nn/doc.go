// Package nn holds the models autodropout trains, built on gotch's layers,
// and the loading of PyTorch weights into them.
//
// Every model is a gotch ts.ModuleT (ForwardT(x, train) returns logits;
// train selects batch statistics and regularization) and a SiteModel: it
// declares named dropout sites, the outputs of its batch-norm layers and,
// for residual networks, each block's shortcut path just before the
// addition ("<block>.shortcut", where a pattern's residual token applies
// it too), to which a dropout pattern or a baseline regularizer is
// assigned by name (Sites.Set, Sites.SetAll, Sites.SetPatterns). An
// unassigned site is the identity.
//
// A model of your own becomes a SiteModel the same way: keep a Sites,
// Declare a site after each batch norm, call Sites.Apply there in the
// forward pass, and SetPatterns maps a pattern file onto it by name
// (examples/gotchcnn is such a model, in its own module).
//
// This package's name is gotch's nn too; code that uses both imports this
// one under another name and keeps nn for gotch's layers:
//
//	import (
//		adnn "github.com/autodropout/autodropout/nn"
//		"github.com/sugarme/gotch/nn"
//	)
//
// The models:
//
//   - ConvNet: two conv blocks and two linear layers, for quick runs.
//   - WRN-d-k (NewWRN): the wide ResNet of the AutoDropout paper's CIFAR-10
//     experiments (WRN-28-10 final, WRN-28-2 search proxy).
//   - ResNet-18/34/50/101/152 (NewResNet) and EfficientNet-B0…B7
//     (NewEfficientNet) with torchvision 0.14's structure and parameter
//     names, so torchvision's weights load by name.
//
// New builds any of them from a name such as "wrn-28-10", "resnet50" or
// "efficientnet-b0".
//
// LoadStateDict reads a state dict written by torch.save (torchvision's .pth
// files, zip or legacy format). It is strict by default and reports
// missing, unexpected and shape-mismatched keys; LoadOptions.Partial loads
// what matches, for fine-tuning with a new classifier head, and
// LoadOptions.Skippable (FineTuneSkips) limits what it may leave out.
// Before gotch's unpickler runs, the file is scanned so that a forged
// length cannot make it allocate more than the file could hold.
// SaveCheckpoint and LoadCheckpoint handle our own checkpoints; libtorch
// serializes in memory and Go does the file I/O, so a full disk is an
// ordinary error and never a half-written checkpoint.
//
// Parameters are initialized as PyTorch does (ConvConfig, LinearConfig,
// BatchNormConfig): gotch v0.9.1's Kaiming initializers compute bounds far
// too large. When building a model, create each gotch sub-path right before
// the layer that uses it: Path.Sub appends to a shared slice, so sibling
// paths created early can overwrite each other's last name. Read a store's
// tensors with Variables, not VarStore.Variables: gotch's returns copies
// that the garbage collector may free while they are still read.
package nn
