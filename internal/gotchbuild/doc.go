// Package gotchbuild makes gotch v0.9.1 build against whatever libtorch a
// machine has.
//
// gotch's C++ layer was generated for libtorch 2.1; about a hundred of its
// bindings name ops that older libtorch versions (Debian 12's 1.13) lack, so
// it does not compile there. Build copies gotch from the module cache into a
// git-ignored folder, writes libtch/lib.go with the cgo flags of the libtorch
// found (include and library folders, C++ ABI, CUDA libraries), compiles the
// C++ layer, reads the compiler's errors, and replaces exactly the bindings it
// rejects with ones that report "<op> is not available in libtorch <version>"
// through gotch's normal error path; it repeats until the layer compiles, then
// links it to catch bindings whose symbols the library lacks. No list of
// broken bindings is kept: the compiler decides, so the same step serves a
// CUDA libtorch 2.x unchanged.
//
// Build also patches gotch's Go layer. Its wrappers read a tensor's C handle
// and then call C, while a Go finalizer frees the tensor once its Go value
// is unreachable: an unnamed temporary, as in
// bn.ForwardT(conv.ForwardT(x, train), train), could be freed while C was
// still using it. Build adds runtime.KeepAlive after every such call for
// each value whose handle the call uses (fixKeepAlive: the handle fields,
// the finalized types and the C calls are read from gotch's source, not
// listed), so nested calls are safe. It also frees the output buffers that
// the wrappers leak (fixOutBuffers).
//
// Build also adds autodropout's own C functions (the files of extra/, such as
// autocast and error-checked saving) to the C layer: gotch's Go layer lacks
// them, and package libtorch binds them through weak symbols.
//
// The result is cached by a stamp of the libtorch's files, the compiler and
// this step's version. WriteWorkFile points the module at the copy through a
// generated go.work, so our go.mod stays usable by people who installed gotch
// the official way.
package gotchbuild
