// Package gotchbuild makes gotch v0.9.1 run on whatever libtorch a machine
// has, with one Go binary for every libtorch.
//
// gotch is a Go layer over a C layer (libtch: torch_api.cpp and ~2500
// generated bindings) that it compiles with cgo, so every binary carries
// C++ compiled against one libtorch. gotchbuild splits the two:
//
//   - BuildLibrary compiles the C layer, and autodropout's own C functions
//     (the files of extra/, such as autocast and error-checked saving), into
//     one shared library, libautodropout_torch.so, linked against one
//     libtorch (its rpath points there). gotch's bindings were generated for
//     libtorch 2.1; about a hundred name ops that other versions lack
//     (Debian 12's 1.13) or have changed. The generated file is split into
//     chunks compiled in parallel; BuildLibrary reads the compiler's errors
//     and replaces exactly the bindings it rejects with ones of the same C
//     signature that report "<op> is not available in libtorch <version>"
//     through gotch's normal error path, recompiles the chunks concerned,
//     then links to catch bindings whose symbols the libtorch lacks. No
//     list of broken bindings is kept: the compiler decides, so the same
//     step serves a CUDA libtorch 2.x. The library records its identity
//     (ad_library_info: libtorch version, CPU or CUDA, replaced bindings,
//     and the C ABI hash) and a JSON copy next to it. Compiled objects are
//     cached by content, so editing one extra file recompiles that file.
//   - Build copies gotch from the module cache into a git-ignored folder
//     whose Go layer builds without libtorch: the C++ files go; adtramp.S
//     defines every function of the C ABI (ReadABI: what gotch's C headers
//     declare plus the extra functions) as a jump through a table, and
//     adload.c fills the table when the program starts, by opening the
//     library: $AUTODROPOUT_TORCH_LIB, else <binary>/../lib, else the
//     binary's folder, else the library setup built. A missing library, one
//     built for another libtorch that is gone, or one of another C ABI
//     leaves the table pointing at a function that prints why in one line,
//     with how to build one, and exits. So binaries link neither libtorch
//     nor the library, and one binary runs with a library built for any
//     libtorch.
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
// Both are cached by stamps (the library's: the libtorch's files, the
// compiler, the sources and this step's version). WriteWorkFile points the
// module at the copy through a generated go.work, so our go.mod stays usable
// by people who installed gotch the official way.
package gotchbuild
