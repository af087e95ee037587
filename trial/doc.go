// Package trial runs one training of a model with a regularizer: a
// trial of a search, a final training of an experiment, or a run of
// `autodropout train`.
//
// A Spec says everything the training needs: the task (image
// classification or language modelling), the model and data, the
// regularizer or the patterns, the recipe and budget, the precision and
// seed, and where its files go. Every field's zero value stands for a
// documented default, as in gonum's optimize.Settings, so one option has
// one type, one default and one parser. A Spec's flags (RegisterFlags,
// ParseArgs, Args) and its JSON form are defined here only.
//
// Run(ctx, spec) trains in the calling process and returns a Result, the
// content of result.json, which it writes in Spec.Out; ReadResult reads
// it back (the search's executors, the experiments, the report and the
// dashboard read results through it).
//
// Images are decoded into memory, except ImageNet read whole (no
// PerClass), which streams from its files through data.NewFolderLoader
// (RandomResizedCrop and flip for training, Resize and CenterCrop for
// the rest; see Spec.streamed); the images it cannot read are counted in
// the Result.
//
// A classifier's Spec may train on a class-balanced labeled subset and,
// with UDA, take the rest of the training split as an unlabeled stream
// (SemiSupervised; train.UDA does the training).
//
// A search runs each trial in a child process, so that a crash or leak
// in libtorch cannot take the search down and memory is returned after
// every trial. Command builds that child from the same Spec: `BINARY
// train ARGS`, where ARGS are Spec.Args and BINARY is an autodropout
// binary the caller names (the command names itself). A library user can
// instead call Run in-process (search.InProcess).
package trial
