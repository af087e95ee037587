package autodropout

import (
	"github.com/autodropout/autodropout/libtorch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// scope runs a chain of fallible gotch ops. It keeps the first error, skips
// every op after it, and remembers each intermediate tensor so that release
// can drop them all (except the one the caller returns). gotch's Must* ops
// call log.Fatal, which no caller can recover from; code that returns errors
// goes through a scope instead.
type scope struct {
	err error
	tmp []*ts.Tensor
}

// do runs f unless an earlier op failed, and records its result.
func (s *scope) do(f func() (*ts.Tensor, error)) *ts.Tensor {
	if s.err != nil {
		return nil
	}
	t, err := f()
	if err != nil {
		s.err = err
		return nil
	}
	s.tmp = append(s.tmp, t)
	return t
}

// fail records err unless an earlier op failed.
func (s *scope) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// release drops every recorded tensor except keep (which may be nil).
func (s *scope) release(keep ...*ts.Tensor) {
	for _, t := range s.tmp {
		kept := false
		for _, k := range keep {
			if t == k {
				kept = true
				break
			}
		}
		if !kept {
			t.MustDrop()
		}
	}
	s.tmp = nil
}

// result releases the intermediates and returns out, or the first error
// (in which case out, if recorded, is dropped too).
func (s *scope) result(out *ts.Tensor) (*ts.Tensor, error) {
	if s.err != nil {
		s.release()
		return nil, s.err
	}
	s.release(out)
	return out, nil
}

// inPlace runs an in-place libtorch op on t through libtorch.InPlace
// (gotch's own in-place methods leave behind a handle that keeps t's
// storage alive: a DropBlock step leaked its masks) and records a libtorch
// error in s.
func inPlace(s *scope, t *ts.Tensor, op func(out *lib.Ctensor, self lib.Ctensor)) {
	if s.err != nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			err, ok := r.(error)
			if !ok {
				panic(r)
			}
			s.fail(err)
		}
	}()
	libtorch.InPlace(t, op)
}
