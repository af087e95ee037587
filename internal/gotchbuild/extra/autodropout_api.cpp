// Extra C functions that autodropout adds to gotch's C layer.
//
// gotchbuild copies every file of internal/gotchbuild/extra into the patched
// libtch folder, where cgo compiles it with gotch's own C++. The functions are
// extern "C" and declared weak on the Go side (package libtorch), so a program
// built against an official gotch still links and reports them as absent.
// Give each topic its own file (autocast.cpp, save.cpp, ...).
#include <torch/torch.h>
