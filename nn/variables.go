package nn

import (
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Variables returns vs's variables (parameters and buffers) by name: the
// store's own tensors. Use it instead of gotch's VarStore.Variables, whose
// values are copies that share a C tensor but not the finalizer that frees
// it: once vs and its model are unreachable, the garbage collector may
// free the tensor while a copy is still being read. That use after free
// crashed data-parallel ranks reading their weights after training, at
// random, depending on when a collection ran.
func Variables(vs *gnn.VarStore) map[string]*ts.Tensor {
	copies := vs.Variables()
	out := make(map[string]*ts.Tensor, len(copies))
	root := vs.Root()
	for name := range copies {
		if t, err := root.Get(name); err == nil { // the name is vs's own
			out[name] = t
		}
	}
	return out
}
