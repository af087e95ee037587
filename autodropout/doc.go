// Package autodropout holds the dropout patterns of AutoDropout (Pham & Le,
// "AutoDropout: Learning Dropout Patterns to Regularize Deep Networks",
// AAAI 2021) for ConvNets: the pattern specification, the search space it
// is drawn from (as editable data), batched mask generation on the
// tensor's device, the modules that apply a pattern or one of the
// baselines (Dropout, SpatialDropout, DropBlock), JSON files of patterns,
// and PNG pictures of masks.
//
// The paper describes its patterns in a paragraph and a figure and never
// published code, so the details below are our decisions. Each is
// deterministic and tested.
//
// # Patterns
//
// A Pattern has the paper's eight tokens in its order: size, stride,
// repeat, rotate, shear_x, shear_y, share_c, residual. Sizes count cells
// of the activation map (one cell = one activation of one channel).
//
// The tile is a rectangle of th×tw dropped cells: th = tw = Size, unless
// Height or Width (the paper's text speaks of a rectangle) override them.
// Tiles are anchored at their top-left cell and have no centre, so even
// and odd sizes behave alike.
//
// Stride is the number of kept cells between two neighbouring tiles: along
// the rows tiles start every th+Stride cells (the period), along the
// columns every tw+Stride. Stride 0 makes tiles touch.
//
// Repeat is the number of tiles along each axis, Repeat² tiles in all. The
// tiled picture spans Eh = (Repeat−1)·(th+Stride) + th rows and
// Ew = (Repeat−1)·(tw+Stride) + tw columns. Row d of the picture
// (0 ≤ d < Eh) is a tile row when d mod (th+Stride) < th, and likewise for
// columns; a picture cell is dropped when both its row and its column are
// tile rows and columns.
//
// Geometry. The tiled picture is centred on the H×W map: its top-left
// corner is at (⌊(H−Eh)/2⌋, ⌊(W−Ew)/2⌋), so a picture larger than the map
// (many repeats, or a tile larger than the map) shows its central part.
// It is then sheared and rotated about the map's centre
// (cy, cx) = ((H−1)/2, (W−1)/2). The forward map shears x (x' = x +
// ShearX·y), then shears y (y' = y + ShearY·x'), then turns by Rotate
// degrees counter-clockwise as the map is displayed (row 0 on top). Each
// output cell takes the value of the picture at the inverse image of its
// centre, rounded to the nearest cell (ties towards +∞): nearest-neighbour
// sampling, done for all cells at once with tensor ops. The picture is
// defined beyond the map, so a turned tiling still fills the corners;
// source cells outside the picture are kept. Shears have determinant 1
// and rotations preserve area, so the dropped fraction of a large tiling
// stays about the same. Angles are taken modulo 360; sines and cosines
// within 1e-12 of an integer are snapped, so multiples of 90° are exact
// (on a square map, after a 90° turn output cell (y, x) reads the
// unturned cell (x, W−1−y): an h×w tile becomes w×h). The cells the
// transformed picture covers are the pattern's base mask on that map
// (Pattern.BaseMask).
//
// Placement. Every mask is the base mask shifted cyclically: for a shift
// (dy, dx), cell (y, x) of the mask is cell ((y+dy) mod H, (x+dx) mod W)
// of the base, so tiles that leave one edge of the map re-enter at the
// opposite edge, as on a torus. The shift is drawn uniformly from the H·W
// possible ones per sample and per channel, or per sample only when
// ShareC is set; rows before columns, with libtorch's generator (its
// randint), so libtorch.ManualSeed makes masks reproducible. The reason
// for cyclic placement: a uniform shift on a torus gives every cell the
// same marginal probability of being dropped, and every draw keeps the
// same number of cells. Keeping the picture inside the map instead (the
// obvious alternative) drops the cells that every placement covers in
// every draw, a fixed crop rather than dropout, and drops the border less.
// The price is that a tile may be split across two edges.
//
// Masks that drop everything. A pattern may cover a whole map (a tile as
// large as the map, touching tiles, a small map deep in the network). Its
// base mask then keeps everything instead: a pattern that covers the map
// is the identity at that site rather than a cut of the signal, and the
// rescaling below never divides by zero. Since every mask is a shift of
// the base, this depends on the pattern and the map size only, never on
// the draw.
//
// Residual asks the model to apply the pattern to the block's shortcut
// path as well, just before the addition (the nn package's "….shortcut"
// sites, see nn.Sites.SetPatterns); masks ignore it.
//
// Off leaves the site unregularized: its masks keep every cell. It is
// not one of the paper's tokens; a SearchSpace offers it only when its
// Off list is given (see docs/search-space.md).
//
// # Modules
//
// All regularizers implement gotch's ts.ModuleT (and Regularizer) and are
// the identity at evaluation (train = false):
//
//   - PatternDropout applies a Pattern to N×C×H×W inputs. Kept units are
//     multiplied by H·W/kept; every draw keeps the same count, so this is
//     1/P(keep) for every unit: each unit's expected activation is
//     unchanged, and each rescaled plane averages exactly 1. (PerMask and
//     PerBatch scopes therefore coincide for patterns.)
//   - Dropout drops units independently with probability p and scales the
//     rest by 1/(1−p), on inputs of any rank.
//   - SpatialDropout drops whole channels with probability p and scales by
//     1/(1−p).
//   - DropBlock (Ghiasi et al., 2018) drops square blocks per channel with
//     the paper's seed rate γ, seeds only where a whole block fits, per-axis
//     block sizes min(block, H) and min(block, W), and rescaling over the
//     batch as torchvision's drop_block2d does. The seeds are drawn
//     sparsely (a Poisson number of uniform positions, the same
//     distribution as a uniform per position at a fraction of the cost).
//     Its doc gives the details (even block sizes, blocks as large as the
//     map).
//
// New builds any of them by name ("none", "dropout", "spatial",
// "dropblock", "pattern"). Every module's Mask returns the {0,1} mask it
// would apply, for inspection and for RenderMasks, which draws masks as a
// PNG grid of samples (rows) by channels (columns). DrawSiteMasks goes
// from a pattern file's site patterns and a seed to those pictures, with
// each site's dropped share: `autodropout show`, the report and the
// dashboard all draw their masks with it.
//
// ForwardT cannot return an error: it panics with an error value on an
// input of the wrong rank or an invalid module (the constructors reject
// those), which a trial runner can recover from, unlike the log.Fatal of
// gotch's Must* calls. Pattern.Mask and the other Mask methods return
// errors. Intermediate tensors are dropped as soon as they are used.
//
// # In your own gotch code
//
// A PatternDropout (like every regularizer here) is an ordinary gotch
// ts.ModuleT: build it with NewPatternDropout (a zero PatternDropout
// panics with a clear error on first use rather than running an invalid
// pattern) and call it after a batch norm; examples/gotchcnn is a complete
// module that does so. To build such a module against a checkout of this
// repository, run `make consumer DIR=/path/to/your/module` in the
// checkout: it writes your module's go.work, pointing at the checkout and
// at its gotch copy patched for your libtorch. (Without it the build stops
// in gotch with "torch/torch.h: No such file or directory".) That gotch
// copy keeps every tensor an op is given alive until its C call returns,
// so nested calls such as bn.ForwardT(conv.ForwardT(x, train), train) are
// safe (plain gotch v0.9.1's finalizers could free such an unnamed
// intermediate while libtorch read it). Two gotch pitfalls remain:
//
//   - gotch v0.9.1's default initializers are not PyTorch's: its
//     "KaimingUniform" draws from a normal with a far too large scale, so
//     the first loss of a small CNN is about 37 instead of 2.3. Take
//     PyTorch's defaults from package nn (nn.ConvConfig, nn.LinearConfig,
//     nn.BatchNormConfig).
//   - libtorch's gradient mode is per OS thread and Go moves goroutines
//     between threads: run the training loop on a pinned thread
//     (libtorch.TrainThread), or backward fails with "element 0 of tensors
//     does not require grad".
//
// # Search spaces and files
//
// A SearchSpace lists the values of each token; DefaultSearchSpace
// documents the defaults and why, and LoadSearchSpace reads a JSON file
// that overrides any of the lists. SearchSpace.Validate checks a pattern
// against the space, naming the first bad field and value;
// SearchSpace.Tokens, Pattern and Choices map between patterns and a
// controller's choices.
//
// ReadPatterns and WritePatterns store the patterns of a model's dropout
// sites as an ordered list:
//
//	{"patterns": [
//	  {"site": "block1.layer.0.bn1",
//	   "pattern": {"size": 3, "stride": 1, "repeat": 4, "rotate": 45,
//	               "shear_x": 0.3, "shear_y": 0, "share_c": true, "residual": false}}
//	]}
//
// Unknown fields, wrong types, malformed or truncated JSON, duplicate
// sites and invalid values are errors naming the file, the line or entry,
// and the field. Files are written to a temporary name and renamed, so a
// failed write never damages an existing file.
//
// # Cost
//
// A pattern's base mask on a map is computed once (a few tensor ops over
// the map, with cached source coordinates per map size, angle and shear)
// and cached with its tiling. For maps up to 45×45 (H·W·H·W ≤ 2²²) the
// cache also holds a table of every shift's mask, plain and rescaled
// (2·(H·W)² float32: 8 MB for a 32×32 map), so that a draw is one row copy
// per plane; larger maps gather each plane's shifted columns and then rows
// from the base (two gathers, no temporary larger than the mask). The kept
// count is a constant of the
// base, so rescaling needs no pass over the mask. The cache holds at most
// 256 MB of bases and 256 geometries.
package autodropout
