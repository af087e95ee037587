// Package nn holds the models autodropout trains, built on gotch's layers.
//
// Every model is a gotch ts.ModuleT: ForwardT(x, train) returns logits, and
// train selects batch statistics and dropout. Parameter names follow
// PyTorch's state-dict keys so that weights load by name.
package nn
