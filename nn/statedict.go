package nn

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/autodropout/autodropout/internal/atomicfile"
	"github.com/autodropout/autodropout/libtorch"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"
)

// LoadOptions control LoadStateDict and LoadTensors.
type LoadOptions struct {
	// Partial loads every tensor whose name and shape match the model and
	// skips the rest (reported), for fine-tuning: a torchvision model with
	// another classifier size loads everything but the head. The default,
	// strict, refuses a state dict that does not match the model exactly
	// and then changes nothing.
	Partial bool
	// Rename maps a key of the file to the model's name. Keys it maps to
	// "" are dropped silently. nil keeps keys as they are.
	Rename func(key string) string
	// StripPrefix, when every key of the file starts with it, is removed
	// from the keys (before Rename), and LoadReport.Stripped says so.
	// DataParallelPrefix is the usual value. Files whose keys do not all
	// carry it are read as they are.
	StripPrefix string
	// Skippable, for a Partial load, decides which tensors may be skipped
	// (missing, unexpected or of another shape; model or file is nil for a
	// tensor only one side has). A Partial load that would skip a tensor
	// Skippable refuses fails like a strict one and changes nothing. nil
	// allows every skip. FineTuneSkips is the usual rule.
	Skippable func(name string, model, file []int64) bool
}

// DataParallelPrefix is the prefix torch.nn.DataParallel and
// DistributedDataParallel put on every key of a model's state dict.
const DataParallelPrefix = "module."

// FineTuneSkips allows what fine-tuning from another task needs and
// nothing more: the classifier, whose output size is classes, and the stem
// convolution, whose input channels are inChannels. A tensor may be
// skipped when its shapes in model and file differ only in the first
// dimension and the model's first dimension is classes (a classifier's
// weight [classes, features] and bias [classes]), or when both are 4-D
// convolution weights that differ only in the second dimension and the
// model's is inChannels (a stem [out, inChannels, k, k]). Any tensor only
// one side has, and any other difference, is another architecture and may
// not be skipped.
func FineTuneSkips(classes, inChannels int64) func(name string, model, file []int64) bool {
	return func(name string, model, file []int64) bool {
		if model == nil || file == nil || len(model) != len(file) || len(model) == 0 {
			return false
		}
		differ := -1
		for i := range model {
			if model[i] != file[i] {
				if differ >= 0 {
					return false
				}
				differ = i
			}
		}
		switch {
		case differ == 0 && len(model) <= 2:
			return model[0] == classes
		case differ == 1 && len(model) == 4:
			return model[1] == inChannels
		}
		return false
	}
}

// ShapeMismatch is a tensor whose shape differs between model and file.
type ShapeMismatch struct {
	Name        string
	Model, File []int64
}

func (m ShapeMismatch) String() string {
	return fmt.Sprintf("%s (model %v, file %v)", m.Name, m.Model, m.File)
}

// LoadReport says what a load did. Names are sorted.
type LoadReport struct {
	File       string          // the file loaded, "" for in-memory tensors
	Loaded     []string        // copied into the model
	Missing    []string        // in the model but not in the file
	Unexpected []string        // in the file but not in the model
	Mismatched []ShapeMismatch // in both, with different shapes
	// Ignored lists batch-norm num_batches_tracked counters: PyTorch keeps
	// them, gotch's batch norm has none, and they only matter for a
	// momentum of None.
	Ignored []string
	// Stripped is the prefix (LoadOptions.StripPrefix) removed from every
	// key of the file, or "".
	Stripped string
	// Refused lists the tensors a Partial load would have skipped but
	// LoadOptions.Skippable does not allow (the load then failed).
	Refused []string
}

// Skipped lists the tensors a load left out (missing, unexpected and
// mismatched), sorted.
func (r *LoadReport) Skipped() []string {
	out := append(append([]string(nil), r.Missing...), r.Unexpected...)
	for _, m := range r.Mismatched {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

// Complete reports whether file and model matched exactly.
func (r *LoadReport) Complete() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// String summarizes the report in one line.
func (r *LoadReport) String() string {
	parts := []string{fmt.Sprintf("%d loaded", len(r.Loaded))}
	parts = append(parts, r.problems()...)
	if len(r.Ignored) > 0 {
		parts = append(parts, fmt.Sprintf("%d num_batches_tracked ignored", len(r.Ignored)))
	}
	return strings.Join(parts, "; ")
}

func (r *LoadReport) problems() []string {
	var parts []string
	if n := len(r.Missing); n > 0 {
		parts = append(parts, fmt.Sprintf("%d missing (%s)", n, listNames(r.Missing)))
	}
	if n := len(r.Unexpected); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected (%s)", n, listNames(r.Unexpected)))
	}
	if n := len(r.Mismatched); n > 0 {
		s := make([]string, n)
		for i, m := range r.Mismatched {
			s[i] = m.String()
		}
		parts = append(parts, fmt.Sprintf("%d with another shape (%s)", n, listNames(s)))
	}
	return parts
}

// listNames joins up to 8 names and says how many more there are.
func listNames(names []string) string {
	const show = 8
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// ErrStateDictMismatch is wrapped by the error of a strict load whose state
// dict does not match the model.
var ErrStateDictMismatch = errors.New("state dict does not match the model")

// LoadStateDict loads a PyTorch state dict saved with
// torch.save(model.state_dict(), path) — torchvision's .pth files, zip or
// legacy format — or a safetensors file (timm's and Hugging Face's format,
// timm's ResNet names mapped to torchvision's) into vs by name. BN running statistics load into gotch's
// running_mean and running_var buffers; num_batches_tracked is ignored.
// Values are converted to the dtype and device of the model's tensors.
//
// Strict (opts nil or not Partial): any missing key, unexpected key or
// shape mismatch is an error that lists them, and nothing is loaded.
// Partial: what matches loads; the rest is reported; it is an error only
// when nothing matches. The report is returned in both cases.
func LoadStateDict(vs *gnn.VarStore, path string, opts *LoadOptions) (*LoadReport, error) {
	tensors, err := ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	defer dropAll(tensors)
	r, err := loadTensors(vs, tensors, opts, path)
	if err != nil {
		return r, fmt.Errorf("load state dict %s: %w", path, err)
	}
	return r, nil
}

// LoadTensors is LoadStateDict for tensors already in memory. It does not
// drop them.
func LoadTensors(vs *gnn.VarStore, tensors map[string]*ts.Tensor, opts *LoadOptions) (*LoadReport, error) {
	r, err := loadTensors(vs, tensors, opts, "")
	if err != nil {
		return r, fmt.Errorf("load state dict: %w", err)
	}
	return r, nil
}

func loadTensors(vs *gnn.VarStore, tensors map[string]*ts.Tensor, opts *LoadOptions, file string) (*LoadReport, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	r := &LoadReport{File: file}
	src, err := r.modelNames(tensors, opts)
	if err != nil {
		return nil, err
	}
	dst := Variables(vs)
	copies, err := r.match(src, dst)
	if err != nil {
		return nil, err
	}
	if err := r.allowed(opts, src, dst); err != nil {
		r.Loaded = nil
		return r, err
	}
	if len(copies) == 0 && len(dst) > 0 {
		return r, fmt.Errorf("%w: no tensor matches (%s)", ErrStateDictMismatch, strings.Join(r.problems(), "; "))
	}
	err = libtorch.NoGrad(func() {
		for _, c := range copies {
			c[0].Copy_(c[1]) // shapes agree; copy_ converts dtype and device
		}
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// modelNames maps the file's keys to the model's names: StripPrefix when
// every key carries it, then Rename (dropping keys it maps to "").
func (r *LoadReport) modelNames(tensors map[string]*ts.Tensor, opts *LoadOptions) (map[string]*ts.Tensor, error) {
	strip := opts.StripPrefix != "" && len(tensors) > 0
	for k := range tensors {
		if !strings.HasPrefix(k, opts.StripPrefix) {
			strip = false
			break
		}
	}
	if strip {
		r.Stripped = opts.StripPrefix
	}
	src := make(map[string]*ts.Tensor, len(tensors))
	for k, t := range tensors {
		name := k
		if strip {
			name = strings.TrimPrefix(name, opts.StripPrefix)
		}
		if opts.Rename != nil {
			name = opts.Rename(name)
		}
		if name == "" {
			continue
		}
		if _, dup := src[name]; dup {
			return nil, fmt.Errorf("two keys become %q after renaming", name)
		}
		src[name] = t
	}
	return src, nil
}

// match compares the file's tensors src with the model's dst by name and
// shape, filling r's lists (sorted), and returns the (model, file) pairs to
// copy. A float tensor where the model has an integer one, or the
// reverse, is an error.
func (r *LoadReport) match(src, dst map[string]*ts.Tensor) ([][2]*ts.Tensor, error) {
	var copies [][2]*ts.Tensor
	for name, t := range src {
		v, ok := dst[name]
		if !ok {
			if bn, isCounter := strings.CutSuffix(name, ".num_batches_tracked"); isCounter {
				if _, hasBN := dst[bn+".running_mean"]; hasBN {
					r.Ignored = append(r.Ignored, name)
					continue
				}
			}
			r.Unexpected = append(r.Unexpected, name)
			continue
		}
		want, err := v.Size()
		if err != nil {
			return nil, fmt.Errorf("model tensor %s: %w", name, err)
		}
		got, err := t.Size()
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", name, err)
		}
		if !reflect.DeepEqual(want, got) {
			r.Mismatched = append(r.Mismatched, ShapeMismatch{Name: name, Model: want, File: got})
			continue
		}
		if isFloat(v.DType()) != isFloat(t.DType()) {
			return nil, fmt.Errorf("tensor %s: the file holds %v values, the model's tensor is %v", name, t.DType(), v.DType())
		}
		copies = append(copies, [2]*ts.Tensor{v, t})
		r.Loaded = append(r.Loaded, name)
	}
	for name := range dst {
		if _, ok := src[name]; !ok {
			r.Missing = append(r.Missing, name)
		}
	}
	sort.Strings(r.Loaded)
	sort.Strings(r.Missing)
	sort.Strings(r.Unexpected)
	sort.Strings(r.Ignored)
	sort.Slice(r.Mismatched, func(i, j int) bool { return r.Mismatched[i].Name < r.Mismatched[j].Name })
	return copies, nil
}

// allowed says whether opts allow what r would skip: nothing for a strict
// load; for a Partial one, what Skippable accepts (the rest goes to
// r.Refused).
func (r *LoadReport) allowed(opts *LoadOptions, src, dst map[string]*ts.Tensor) error {
	if !opts.Partial {
		if r.Complete() {
			return nil
		}
		return fmt.Errorf("%w: %s (nothing loaded; LoadOptions.Partial loads what matches)",
			ErrStateDictMismatch, strings.Join(r.problems(), "; "))
	}
	if opts.Skippable == nil {
		return nil
	}
	for _, name := range r.Missing {
		if !opts.Skippable(name, sizeOf(dst[name]), nil) {
			r.Refused = append(r.Refused, name)
		}
	}
	for _, name := range r.Unexpected {
		if !opts.Skippable(name, nil, sizeOf(src[name])) {
			r.Refused = append(r.Refused, name)
		}
	}
	for _, m := range r.Mismatched {
		if !opts.Skippable(m.Name, m.Model, m.File) {
			r.Refused = append(r.Refused, m.Name)
		}
	}
	if len(r.Refused) == 0 {
		return nil
	}
	sort.Strings(r.Refused)
	return fmt.Errorf("%w: it would skip %d tensors that fine-tuning may not skip (%s): %s (nothing loaded)",
		ErrStateDictMismatch, len(r.Refused), listNames(r.Refused), strings.Join(r.problems(), "; "))
}

// ReadStateDict reads the tensors of a file written by torch.save of a
// state dict (an OrderedDict of tensors; a dict with a "state_dict" or
// "model" entry holding one is accepted too), or of a safetensors file
// (named .safetensors or recognized by its header; see ReadSafetensors).
// Tensors are on the CPU with the file's dtypes; the caller owns them.
func ReadStateDict(path string) (map[string]*ts.Tensor, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("read state dict: %w", err)
	}
	if isSafetensors(path) {
		return ReadSafetensors(path)
	}
	obj, err := unpickle(path)
	if err != nil {
		return nil, fmt.Errorf("read state dict %s: %w", path, err)
	}
	entries, err := stateDictEntries(obj)
	if err != nil {
		return nil, fmt.Errorf("read state dict %s: %w", path, err)
	}
	out := make(map[string]*ts.Tensor, len(entries))
	for _, e := range entries {
		if _, dup := out[e.name]; dup {
			dropAll(out)
			return nil, fmt.Errorf("read state dict %s: key %q appears twice", path, e.name)
		}
		t, err := storageTensor(e.value)
		if err != nil {
			dropAll(out)
			return nil, fmt.Errorf("read state dict %s: %s: %w", path, e.name, err)
		}
		out[e.name] = t
	}
	return out, nil
}

// legacyMagic starts a file of torch.save's legacy (pre-1.6) format: the
// pickled magic number 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// unpickle runs gotch's unpickler on a zip or legacy torch.save file,
// turning its panics on malformed input into errors. Other files are
// refused first: gotch loops forever on an empty one.
func unpickle(path string) (obj any, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(legacyMagic))
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		// gotch takes a zip it cannot open for a legacy file.
		z, err := zip.OpenReader(path)
		if err != nil {
			return nil, fmt.Errorf("truncated or corrupt zip archive: %w", err)
		}
		err = checkZipLayout(&z.Reader)
		z.Close()
		if err != nil {
			return nil, err
		}
	case !bytes.Equal(head, legacyMagic):
		return nil, errors.New("not a file written by torch.save (neither zip nor legacy format)")
	default:
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := checkLegacyLayout(data); err != nil {
			return nil, fmt.Errorf("malformed legacy file: %w", err)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed file: %v", p)
		}
	}()
	obj, err = pickle.LoadWithUnpickler(path, func(r io.Reader) pickle.Unpickler { return pickle.NewUnpickler(r) })
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("truncated file: %w", err)
	}
	if m := classNotFound.FindStringSubmatch(fmt.Sprint(err)); m != nil {
		err = fmt.Errorf("holds a pickled Python object of class %s.%s, not a state dict of tensors "+
			"(a whole model saved with torch.save(model)?): save model.state_dict() instead, "+
			"torch.save(model.state_dict(), path)", m[1], m[2])
	}
	return obj, err
}

// classNotFound matches gotch's error for a class its unpickler does not
// know: a file that holds a Python object other than tensors.
var classNotFound = regexp.MustCompile(`class not found: (\S+) (\S+)`)

// checkZipLayout scans the archive's data.pkl (scanPickle) before gotch
// unpickles it, and checks that every storage it announces fits in its
// record.
func checkZipLayout(z *zip.Reader) error {
	records := map[string]*zip.File{}
	for _, f := range z.File {
		_, name := filepath.Split(f.Name)
		records[name] = f
	}
	pkl, ok := records["data.pkl"]
	if !ok {
		return errors.New("data.pkl not found in the zip archive (not written by torch.save?)")
	}
	if pkl.UncompressedSize64 > 1<<30 {
		return fmt.Errorf("data.pkl of %d bytes is implausibly large", pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, int64(pkl.UncompressedSize64)+1))
	rc.Close()
	if err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	// An element takes at least a byte of some record.
	var total int64
	for _, f := range z.File {
		total += int64(min(f.UncompressedSize64, 1<<62))
	}
	scan, err := scanPickle(data, 0, total)
	if err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	for _, st := range scan.storages {
		f, ok := records[st.key]
		if !ok {
			return fmt.Errorf("storage %q has no record in the zip archive", st.key)
		}
		if elem := storageElemSize(st.class); elem > 0 && uint64(st.numel) > f.UncompressedSize64/uint64(elem) {
			return fmt.Errorf("storage %q claims %d elements of %d bytes, its record holds %d bytes", st.key, st.numel, elem, f.UncompressedSize64)
		}
		if f.Method != zip.Store && f.UncompressedSize64 > 1100*f.CompressedSize64+1<<10 {
			return fmt.Errorf("storage %q: a compressed record that claims to expand %d-fold", st.key, f.UncompressedSize64/max(f.CompressedSize64, 1))
		}
	}
	return nil
}

type dictEntry struct {
	name  string
	value any
}

func stateDictEntries(obj any) ([]dictEntry, error) {
	var entries []dictEntry
	add := func(k, v any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("key %v is a %T, not a string", k, k)
		}
		entries = append(entries, dictEntry{name, v})
		return nil
	}
	switch d := obj.(type) {
	case *pickle.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*pickle.OrderedDictEntry)
			if err := add(oe.Key, oe.Value); err != nil {
				return nil, err
			}
		}
	case *pickle.Dict:
		for _, de := range *d {
			if err := add(de.Key, de.Value); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("holds a %T, not a state dict", obj)
	}
	// A training checkpoint: {"state_dict": {...}, "epoch": …}.
	for _, key := range []string{"state_dict", "model"} {
		for _, e := range entries {
			if e.name != key {
				continue
			}
			switch e.value.(type) {
			case *pickle.OrderedDict, *pickle.Dict:
				return stateDictEntries(e.value)
			}
		}
	}
	for _, e := range entries {
		if _, ok := e.value.(*pickle.StorageTensor); !ok {
			return nil, fmt.Errorf("entry %q is a %T, not a tensor (is this a state dict?)", e.name, e.value)
		}
	}
	return entries, nil
}

// storageTensor rebuilds a tensor from its pickled storage, size, stride
// and offset, as torch._utils._rebuild_tensor does.
func storageTensor(v any) (*ts.Tensor, error) {
	st := v.(*pickle.StorageTensor)
	if st.Source == nil {
		return nil, errors.New("tensor without storage")
	}
	data := st.Source.GetData()
	dtype := st.Source.DType()
	n := int64(reflect.ValueOf(data).Len())
	if len(st.Size) != len(st.Stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", st.Size, st.Stride)
	}
	numel, end := int64(1), st.StorageOffset
	for i, s := range st.Size {
		if s < 0 || st.Stride[i] < 0 {
			return nil, fmt.Errorf("bad size %v or stride %v", st.Size, st.Stride)
		}
		numel *= s
		if s > 0 {
			end += (s - 1) * st.Stride[i]
		}
	}
	if numel == 0 {
		return ts.Zeros(st.Size, dtype, gotch.CPU)
	}
	if st.StorageOffset < 0 || end >= n {
		return nil, fmt.Errorf("size %v, stride %v and offset %d reach past the storage of %d elements", st.Size, st.Stride, st.StorageOffset, n)
	}
	flat, err := ts.OfSlice(data, ts.WithDType(dtype))
	if err != nil {
		return nil, err
	}
	if len(st.Size) == 0 { // a 0-dim tensor such as num_batches_tracked
		return flat.Select(0, st.StorageOffset, true)
	}
	view, err := flat.AsStrided(st.Size, st.Stride, []int64{st.StorageOffset}, true)
	if err != nil {
		return nil, err
	}
	// Own the elements: the storage may be shared with other tensors.
	return view.Contiguous(true)
}

// isFloat reports whether values of d are floating point; a load refuses
// to cross that line (copy_ would silently round or widen).
func isFloat(d gotch.DType) bool {
	switch d {
	case gotch.Half, gotch.BFloat16, gotch.Float, gotch.Double:
		return true
	}
	return false
}

// sizeOf is t's shape, or nil if libtorch cannot say.
func sizeOf(t *ts.Tensor) []int64 {
	sz, err := t.Size()
	if err != nil {
		return nil
	}
	return sz
}

func dropAll(tensors map[string]*ts.Tensor) {
	for _, t := range tensors {
		t.MustDrop()
	}
}

// writeFile writes a checkpoint's bytes; tests replace it to inject a
// write error.
var writeFile = atomicfile.Write

// EncodeCheckpoint returns the bytes SaveCheckpoint writes: every variable
// of vs (parameters and buffers, sorted by name) in libtorch's archive
// format, the format of gotch's VarStore.Save.
func EncodeCheckpoint(vs *gnn.VarStore) ([]byte, error) {
	vars := Variables(vs)
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	tensors := make([]*ts.Tensor, len(names))
	for i, name := range names {
		tensors[i] = vars[name]
	}
	return libtorch.EncodeTensors(names, tensors)
}

// SaveCheckpoint saves every variable of vs (parameters and batch-norm
// buffers) to path in libtorch's archive format. libtorch serializes into
// memory and Go writes the file: a temporary file next to path, synced and
// renamed over it. So a full disk or any other write error is an ordinary
// error (libtorch's own file writer aborts the process instead), and an
// existing checkpoint is never left half written.
func SaveCheckpoint(vs *gnn.VarStore, path string) error {
	if !libtorch.HaveBufferIO() {
		return saveCheckpointFile(vs, path)
	}
	b, err := EncodeCheckpoint(vs)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	if err := writeFile(path, b); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// saveCheckpointFile is SaveCheckpoint through gotch's file writer, for a
// gotch built without autodropout's extra C++ (see libtorch.ErrNoBufferIO):
// a full disk aborts the process there.
func saveCheckpointFile(vs *gnn.VarStore, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	if err := vs.Save(name); err != nil {
		os.Remove(name)
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	return nil
}

// LoadCheckpoint loads a checkpoint written by SaveCheckpoint (or gotch's
// VarStore.Save) into vs, strictly unless opts say Partial. Go reads the
// file; libtorch parses the bytes, so a read error or a truncated file is
// an error that names the file.
func LoadCheckpoint(vs *gnn.VarStore, path string, opts *LoadOptions) (*LoadReport, error) {
	var named []ts.NamedTensor
	if libtorch.HaveBufferIO() {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load checkpoint: %w", err)
		}
		if named, err = libtorch.DecodeTensors(b, vs.Device()); err != nil {
			return nil, fmt.Errorf("load checkpoint %s: %w", path, err)
		}
	} else {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("load checkpoint: %w", err)
		}
		var err error
		if named, err = ts.LoadMultiWithDevice(path, vs.Device()); err != nil {
			return nil, fmt.Errorf("load checkpoint %s: %w", path, err)
		}
	}
	tensors := make(map[string]*ts.Tensor, len(named))
	for _, nt := range named {
		if _, dup := tensors[nt.Name]; dup {
			nt.Tensor.MustDrop()
			continue
		}
		tensors[nt.Name] = nt.Tensor
	}
	defer dropAll(tensors)
	r, err := loadTensors(vs, tensors, opts, path)
	if err != nil {
		return r, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return r, nil
}
