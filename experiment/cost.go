package experiment

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/autodropout/autodropout/data"
	"github.com/autodropout/autodropout/nn"
	"github.com/autodropout/autodropout/search"
	"github.com/autodropout/autodropout/train"
	"github.com/autodropout/autodropout/trial"
	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
)

// datasetSize is what a cost estimate needs to know of a dataset without
// reading it: examples (classification) or tokens (language models) of
// the training file, and of the evaluation split.
type datasetSize struct {
	train, test int64
}

// datasetSizes are the published sizes of the datasets train reads.
var datasetSizes = map[string]datasetSize{
	"fashion-mnist": {60000, 10000},
	"mnist":         {60000, 10000},
	"cifar10":       {50000, 10000},
	"cifar100":      {50000, 10000},
	"imagenet":      {1281167, 50000},
	// Tokens (with end-of-sentence markers), as Transformer-XL counts them.
	"ptb":         {929589, 82430},
	"wikitext2":   {2088628, 245569},
	"wikitext103": {103227021, 245569},
	"fortunes":    {457611, 57000}, // Debian's fortunes, 80/10/10 by fortune (data.ReadFortunes)
	"kjv":         {844180, 54954}, // the King James Bible, split by books (data.ReadKJV)
}

// DefaultTFLOPS is the sustained rate (10^12 FLOP/s) an accelerator is
// assumed to train at when a plan turns FLOPs into hours: about a third
// of an A100's TF32 peak, what convolutional nets and small Transformers
// usually sustain in eager libtorch. It is an assumption, not a
// measurement; the plan prints it.
const DefaultTFLOPS = 40

// TaskCost is the compute of one training run of a task.
type TaskCost struct {
	TrainFLOPs, EvalFLOPs float64
	What                  string // how they were counted
}

// Total is training plus evaluation.
func (c TaskCost) Total() float64 { return c.TrainFLOPs + c.EvalFLOPs }

// EstimateTask counts the FLOPs of one run of t: training costs three
// forward passes (forward, backward for activations and for weights),
// evaluation one; a multiply-accumulate is two FLOPs. test adds the test
// split's evaluation (final runs; search trials skip it).
func EstimateTask(t search.Task, test bool) (TaskCost, error) {
	if t.Kind == "lm" {
		return estimateLMTask(t, test)
	}
	size, ok := datasetSizes[t.Data]
	if !ok {
		return TaskCost{}, fmt.Errorf("no size known for dataset %q", t.Data)
	}
	in, classes, ok := search.DatasetInput(t.Data)
	if !ok {
		return TaskCost{}, fmt.Errorf("no input shape known for dataset %q", t.Data)
	}
	if t.Data == "imagenet" && t.ImageSize > 0 {
		in.H, in.W = int64(t.ImageSize), int64(t.ImageSize)
	}
	macs, err := nn.ForwardMACs(t.Model, in, classes)
	if err != nil {
		return TaskCost{}, err
	}
	perEx := 2 * float64(macs)
	n := size.train
	if t.Data == "imagenet" && t.PerClass > 0 {
		n = min(n, int64(t.PerClass)*classes)
	}
	vf := t.ValFrac
	if vf == 0 {
		vf = 0.1 // train's default
	}
	val := int64(float64(n)*vf + 0.5) // as data.Split rounds
	tr := n - val
	if t.TrainSubset > 0 {
		tr = min(tr, int64(t.TrainSubset))
	}
	eval := val
	if test {
		eval += size.test
	}
	if t.LabeledPerClass > 0 {
		return semiCost(t, tr, classes, perEx, eval, in.C, in.H, in.W), nil
	}
	return TaskCost{TrainFLOPs: 3 * perEx * float64(tr) * float64(t.Epochs), EvalFLOPs: perEx * float64(eval),
		What: fmt.Sprintf("%d epochs × %d examples at %.3g FLOPs/example (%dx%dx%d)", t.Epochs, tr, perEx, in.C, in.H, in.W)}, nil
}

// estimateLMTask is EstimateTask for a language model: its recipe's steps
// of batch × tgt_len tokens, and the evaluation of the test split's
// tokens (validation and test with test).
func estimateLMTask(t search.Task, test bool) (TaskCost, error) {
	size, vocab, err := lmSize(t)
	if err != nil {
		return TaskCost{}, err
	}
	rec, err := train.ReadLMRecipe(t.LMConfig)
	if err != nil {
		return TaskCost{}, err
	}
	rec.Model.NToken = vocab
	perTok := 2 * float64(nn.TransformerXLMACsPerToken(rec.Model))
	steps := rec.MaxStep
	if t.Steps > 0 {
		steps = t.Steps
	}
	trainTok := float64(steps) * float64(rec.BatchSize) * float64(rec.Model.TgtLen)
	evalTok := float64(size.test) // validation and test splits are about the same size
	if t.EvalTokens > 0 {
		evalTok = float64(min(int64(t.EvalTokens), size.test))
	}
	if test {
		evalTok *= 2
	}
	text := size.train
	if t.TrainSubset > 0 {
		text = min(text, int64(t.TrainSubset))
	}
	return TaskCost{TrainFLOPs: 3 * perTok * trainTok, EvalFLOPs: perTok * evalTok,
		What: fmt.Sprintf("%d steps × %d×%d tokens at %.3g FLOPs/token (vocab %d), %.1f passes over %d training tokens",
			steps, rec.BatchSize, rec.Model.TgtLen, perTok, rec.Model.NToken, trainTok/float64(text), text)}, nil
}

// semiCost is the cost of a run on a labeled subset of the tr training
// examples: an epoch is a pass over the labeled ones, and under UDA every
// step adds μ × batch_size unlabeled images, each costing a forward pass
// without gradient (the weak view's target) and a forward and backward
// pass (the strong view): 4 forward passes where a labeled example costs 3.
func semiCost(t search.Task, tr, classes int64, perEx float64, eval int64, c, h, w int64) TaskCost {
	labeled := min(tr, int64(t.LabeledPerClass)*classes)
	train := 3 * perEx * float64(labeled) * float64(t.Epochs)
	what := fmt.Sprintf("%d epochs × %d labeled examples", t.Epochs, labeled)
	if t.Semi == trial.SemiUDA {
		mu := int64(cmp.Or(t.UDARatio, trial.DefaultUDARatio))
		steps := int64(t.Epochs) * ((labeled + int64(t.BatchSize) - 1) / int64(t.BatchSize))
		unlabeled := steps * mu * int64(t.BatchSize)
		train += 4 * perEx * float64(unlabeled)
		what += fmt.Sprintf(" + %d UDA steps × %d unlabeled images (μ %d; a weak forward and a strong forward and backward each: %.1f× the labeled cost)",
			steps, mu*int64(t.BatchSize), mu, 1+4*float64(unlabeled)/(3*float64(labeled)*float64(t.Epochs)))
	}
	return TaskCost{TrainFLOPs: train, EvalFLOPs: perEx * float64(eval),
		What: fmt.Sprintf("%s at %.3g FLOPs/example (%dx%dx%d)", what, perEx, c, h, w)}
}

// lmSize is the size of a language-model task's corpus and its
// vocabulary (for the softmax's cost): the published corpora's, or those
// of one's own "text" corpus, read (at the default min-count, as a
// search's trials read it).
func lmSize(t search.Task) (datasetSize, int64, error) {
	if t.Data == "text" {
		return textSize(t.DataDir)
	}
	size, ok := datasetSizes[t.Data]
	if !ok {
		return size, 0, fmt.Errorf("no size known for dataset %q", t.Data)
	}
	switch t.Data {
	case "ptb", "kjv":
		return size, 10000, nil
	case "wikitext2":
		return size, 33278, nil
	case "wikitext103":
		return size, 267735, nil
	}
	return size, 14922, nil // fortunes with min-count 2
}

// textSizes remembers, by folder, the size and vocabulary of the "text"
// corpora textSize has read: a plan estimates the same task several times
// (cost, memory, progress), and reading a large corpus once is enough.
var textSizes sync.Map // folder → textSizeEntry

type textSizeEntry struct {
	size  datasetSize
	vocab int64
}

// textSize reads the "text" corpus in dir (at the default min-count, as a
// search's trials read it) for its size and vocabulary, once per folder.
func textSize(dir string) (datasetSize, int64, error) {
	if e, ok := textSizes.Load(dir); ok {
		e := e.(textSizeEntry)
		return e.size, e.vocab, nil
	}
	c, err := data.ReadText(dir, trial.DefaultMinCount)
	if err != nil {
		return datasetSize{}, 0, err
	}
	e := textSizeEntry{datasetSize{int64(len(c.Train)), int64(len(c.Test))}, int64(c.Vocab.Len())}
	textSizes.Store(dir, e)
	return e.size, e.vocab, nil
}

// flopsText formats FLOPs with an SI prefix.
func flopsText(f float64) string {
	for _, u := range []struct {
		s string
		v float64
	}{{"E", 1e18}, {"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}} {
		if f >= u.v {
			return fmt.Sprintf("%.3g %sFLOPs", f/u.v, u.s)
		}
	}
	return fmt.Sprintf("%.3g FLOPs", f)
}

// timeText is the time f FLOPs take at tflops on n accelerators.
func timeText(f, tflops float64, n int) string {
	sec := f / (tflops * 1e12) / float64(max(n, 1))
	switch {
	case sec < 1:
		return "under a second"
	case sec < 120:
		return fmt.Sprintf("%.0f s", sec)
	case sec < 2*3600:
		return fmt.Sprintf("%.1f min", sec/60)
	case sec < 2*86400:
		return fmt.Sprintf("%.1f h", sec/3600)
	}
	return fmt.Sprintf("%.1f days", sec/86400)
}

// SearchPlan prints what a search will run and what it costs, and returns
// its FLOPs.
func SearchPlan(w io.Writer, cfg search.Config, sites []string, tflops float64) (float64, error) {
	t := cfg.Task
	c, err := EstimateTask(t, false)
	if err != nil {
		return 0, fmt.Errorf("cost estimate: %w", err)
	}
	total := c.Total() * float64(cfg.Budget)
	mfText := ""
	if n, unit := t.Length(); cfg.MultiFidelity != nil && n > 0 {
		mf := cfg.MultiFidelity
		// Successive halving in each batch: the trials at each rung, the
		// epochs each trains there and a validation per rung.
		total = 0
		for lo := 0; lo < cfg.Budget; lo += cfg.SamplesPerUpdate {
			k, prev := min(cfg.SamplesPerUpdate, cfg.Budget-lo), 0
			for i, r := range mf.Rungs {
				if i > 0 {
					k = max(1, k/mf.Reduction)
				}
				total += float64(k) * (c.TrainFLOPs*float64(r-prev)/float64(n) + c.EvalFLOPs)
				prev = r
			}
		}
		mfText = fmt.Sprintf("  multi-fidelity: rungs at %v %s, the best 1/%d of each batch's trials go on: %.0f%% of the full-fidelity search's FLOPs\n",
			mf.Rungs, unit, mf.Reduction, 100*total/(c.Total()*float64(cfg.Budget)))
	}
	how := "patterns drawn uniformly"
	if cfg.Method == "rl" {
		how = fmt.Sprintf("%d controller updates of %d samples", (cfg.Budget+cfg.SamplesPerUpdate-1)/cfg.SamplesPerUpdate, cfg.SamplesPerUpdate)
	}
	fmt.Fprintf(w, "search (%s): %d trials of %s on %s, %d at a time, %s; %d sites: %s\n",
		cfg.Method, cfg.Budget, t.Model, t.Data, cfg.Parallel, how, len(sites), sitesText(sites))
	fmt.Fprintf(w, "  one trial: %s train + %s validation (%s)\n", flopsText(c.TrainFLOPs), flopsText(c.EvalFLOPs), c.What)
	mem, err := memoryText(t)
	if err != nil {
		return 0, err
	}
	fmt.Fprint(w, mem)
	fmt.Fprint(w, mfText)
	on := fmt.Sprintf("%d in parallel", cfg.Parallel)
	if t.Nproc > 1 { // each trial trains on Nproc accelerators
		on = fmt.Sprintf("%d accelerators (%d trials at a time of %d processes each)", cfg.Parallel*t.Nproc, cfg.Parallel, t.Nproc)
	}
	fmt.Fprintf(w, "  whole search: %s: %s of one accelerator at %g TFLOP/s sustained, %s on %s\n",
		flopsText(total), timeText(total, tflops, 1), tflops, timeText(total, tflops, cfg.Parallel*max(t.Nproc, 1)), on)
	return total, nil
}

// sitesText lists sites, eliding the middle of long lists.
func sitesText(sites []string) string {
	if len(sites) <= 8 {
		return strings.Join(sites, " ")
	}
	return strings.Join(sites[:4], " ") + " … " + strings.Join(sites[len(sites)-2:], " ")
}

// WritePlan prints an experiment's searches, baseline grids and final
// runs with what each costs, without running anything. scfg is the search
// configuration cfg.Search names, sites its resolved sites.
func WritePlan(w io.Writer, cfg Config, scfg search.Config, sites []string, tflops float64) error {
	searches, err := cfg.allSearches(scfg)
	if err != nil {
		return err
	}
	c, err := EstimateTask(cfg.Final.Task, true)
	if err != nil {
		return fmt.Errorf("cost estimate of the final runs: %w", err)
	}
	var sum float64
	for _, part := range []func() (float64, error){
		func() (float64, error) { return planSearches(w, searches, sites, tflops) },
		func() (float64, error) { return cfg.planGrid(w, c, tflops) },
		func() (float64, error) { return cfg.planNoise(w, searches, scfg, c, tflops) },
	} {
		f, err := part()
		if err != nil {
			return err
		}
		sum += f
	}
	finals, err := cfg.planFinals(w, c, tflops)
	if err != nil {
		return err
	}
	sum += finals
	fmt.Fprintf(w, "experiment: %s: %s of one accelerator at %g TFLOP/s; everything before the final runs costs %.1f× one of them\n",
		flopsText(sum), timeText(sum, tflops, 1), tflops, (sum-finals)/c.Total())
	return nil
}

// planSearches prints each search's plan and returns their FLOPs.
func planSearches(w io.Writer, searches []searchRun, sites []string, tflops float64) (float64, error) {
	var sum float64
	for _, sr := range searches {
		fmt.Fprintf(w, "%s (seed %d", sr.Label, sr.Config.Seed)
		if !strings.HasSuffix(sr.Label, "-best") {
			fmt.Fprintf(w, ", not retrained")
		}
		if sr.Space != "" {
			fmt.Fprintf(w, ", space %s", sr.Space)
		}
		fmt.Fprintln(w, "):")
		f, err := SearchPlan(w, sr.Config, sites, tflops)
		if err != nil {
			return 0, err
		}
		sum += f
	}
	return sum, nil
}

// planGrid prints the baseline grids and returns their FLOPs; final is
// the cost of one final run.
func (cfg Config) planGrid(w io.Writer, final TaskCost, tflops float64) (float64, error) {
	grid := cfg.gridRuns()
	if len(grid) == 0 {
		return 0, nil
	}
	f := cfg.Final
	v, err := EstimateTask(f.Task, false)
	if err != nil {
		return 0, err
	}
	n := float64(len(grid))
	picks := "validation accuracy"
	if f.Kind == "lm" {
		picks = "the lowest validation perplexity"
	}
	fmt.Fprintf(w, "baseline grids: %d trainings without the test set (%s); %s picks each baseline's setting\n", len(grid), gridText(grid), picks)
	fmt.Fprintf(w, "  all: %s: %s of one accelerator, %.1f× one final run\n", flopsText(n*v.Total()), timeText(n*v.Total(), tflops, 1), n*v.Total()/final.Total())
	return n * v.Total(), nil
}

// planNoise prints the reward-noise trainings and returns their FLOPs.
func (cfg Config) planNoise(w io.Writer, searches []searchRun, scfg search.Config, final TaskCost, tflops float64) (float64, error) {
	if _, err := cfg.noiseAfter(searches, scfg); err != nil {
		return 0, err
	}
	nz := cfg.RewardNoise
	if nz == nil {
		return 0, nil
	}
	v, err := EstimateTask(scfg.Task, false)
	if err != nil {
		return 0, err
	}
	refs := len(cfg.baselines(nil)) * (1 + len(others(scfg.Task.Seed, nz.Seeds)))
	pats := len(cfg.noiseRuns("", scfg, searches, nil)) - refs
	k := float64(refs + pats)
	fmt.Fprintf(w, "reward noise: %d trainings at the trial's settings without the test set: %d of the baselines (seeds %d and %v), %d of the best patterns of the searches of seeds %v\n",
		refs+pats, refs, scfg.Task.Seed, others(scfg.Task.Seed, nz.Seeds), pats, cfg.noiseSeeds(scfg))
	fmt.Fprintf(w, "  all: %s: %s of one accelerator, %.1f× one final run\n", flopsText(k*v.Total()), timeText(k*v.Total(), tflops, 1), k*v.Total()/final.Total())
	return k * v.Total(), nil
}

// planFinals prints the final runs, one of which costs c, with their
// memory, and returns their FLOPs.
func (cfg Config) planFinals(w io.Writer, c TaskCost, tflops float64) (float64, error) {
	f := cfg.Final
	regs := cfg.finalLabels()
	n := float64(len(regs) * len(f.Seeds))
	procs := ""
	if f.Nproc > 1 {
		procs = fmt.Sprintf(" of %d processes each (data-parallel)", f.Nproc)
	}
	fmt.Fprintf(w, "final: %s on %s with %s, seeds %v, %d at a time%s\n", f.Model, f.Data, strings.Join(regs, ", "), f.Seeds, cfg.Parallel, procs)
	if f.LabeledPerClass > 0 {
		fmt.Fprintf(w, "  training: %s\n", f.Spec().SemiSupervised.Description())
	}
	fmt.Fprintf(w, "  one run: %s train + %s evaluation (%s)\n", flopsText(c.TrainFLOPs), flopsText(c.EvalFLOPs), c.What)
	mem, err := memoryText(f.Task)
	if err != nil {
		return 0, err
	}
	fmt.Fprint(w, mem)
	finals := n * c.Total()
	if cfg.Supervised { // one row trains the labeled subset alone
		sup := f.Task
		sup.SemiSupervised = trial.SemiSupervised{LabeledPerClass: f.LabeledPerClass}
		cs, err := EstimateTask(sup, true)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(w, "  one supervised run: %s train + %s evaluation (%s)\n", flopsText(cs.TrainFLOPs), flopsText(cs.EvalFLOPs), cs.What)
		finals += float64(len(f.Seeds)) * (cs.Total() - c.Total())
	}
	fmt.Fprintf(w, "  all %d runs: %s: %s of one accelerator\n", int(n), flopsText(finals), timeText(finals, tflops, 1))
	return finals, nil
}

// gridText summarises grid runs, e.g. "dropout ×4, dropblock ×6".
func gridText(runs []gridRun) string {
	families := make([]string, len(runs))
	for i, r := range runs {
		families[i] = r.family
	}
	return tally(families)
}

// tally counts repeated names in first-seen order: "a ×2, b ×1".
func tally(names []string) string {
	count := map[string]int{}
	var order []string
	for _, n := range names {
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	parts := make([]string, len(order))
	for i, n := range order {
		parts[i] = fmt.Sprintf("%s ×%d", n, count[n])
	}
	return strings.Join(parts, ", ")
}

// Memory is an estimate of what one training step of a classification
// task holds on its device.
type Memory struct {
	Params int64 // trainable scalars (the model built on the CPU)
	// Weights is the weights and their gradients, Optimizer the
	// optimizer's buffers (SGD's momentum; RMSProp's mean square,
	// momentum and two scratch tensors), both float32.
	Weights, Optimizer int64
	// Activations is what autograd keeps for the backward pass at the
	// batch: three tensors per convolution output (its own, the batch
	// norm's and the nonlinearity's; nn.ForwardOutputs) at ActBytes each,
	// plus the batch itself. A rough estimate (the real figure depends on
	// which outputs autograd keeps, on the precision each layer computes
	// in under autocast and on the allocator): expect up to about 2× it.
	Activations int64
	ActBytes    int
}

// Total is the sum of the parts.
func (m Memory) Total() int64 { return m.Weights + m.Optimizer + m.Activations }

// EstimateMemory estimates one training step's memory.
func EstimateMemory(t search.Task) (Memory, error) {
	if t.Kind == "lm" {
		return estimateLMMemory(t)
	}
	in, classes, ok := search.DatasetInput(t.Data)
	if !ok {
		return Memory{}, fmt.Errorf("no input shape known for dataset %q", t.Data)
	}
	if t.Data == "imagenet" && t.ImageSize > 0 {
		in.H, in.W = int64(t.ImageSize), int64(t.ImageSize)
	}
	outs, err := nn.ForwardOutputs(t.Model, in, classes)
	if err != nil {
		return Memory{}, err
	}
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	if _, err := nn.New(t.Model, vs.Root(), in, classes); err != nil {
		return Memory{}, err
	}
	m := Memory{Params: train.CountParams(vs), ActBytes: actBytes(t)}
	m.Weights = 2 * 4 * m.Params
	m.Optimizer = 4 * m.Params // SGD's momentum
	if t.Optimizer == "rmsprop" {
		m.Optimizer *= 4
	}
	batch := int64(max(t.BatchSize, 1))
	if t.Semi == trial.SemiUDA { // the student's pass keeps the labeled batch and μ times it of the strong view
		batch *= int64(1 + cmp.Or(t.UDARatio, trial.DefaultUDARatio))
	}
	m.Activations = batch * (3*outs*int64(m.ActBytes) + 4*in.C*in.H*in.W)
	return m, nil
}

// estimateLMMemory estimates a language model's training step: the
// recipe's model built on the CPU, Adam's two moments and scratch (or
// SGD's nothing), and per sequence and layer the tensors a Transformer-XL
// layer keeps: q, k and v over the K = tgt_len + mem_len positions, three
// score-sized tensors (scores, probabilities, their dropout), the
// feed-forward's hidden twice and six model-wide tensors per token; plus
// the logits and their softmax.
func estimateLMMemory(t search.Task) (Memory, error) {
	rec, err := train.ReadLMRecipe(t.LMConfig)
	if err != nil {
		return Memory{}, err
	}
	_, vocab, err := lmSize(t)
	if err != nil {
		return Memory{}, err
	}
	c := rec.Model
	c.NToken = vocab
	vs := gnn.NewVarStore(gotch.CPU)
	defer vs.Destroy()
	if _, err := nn.NewTransformerXL(vs.Root(), c); err != nil {
		return Memory{}, err
	}
	m := Memory{Params: train.CountParams(vs), ActBytes: actBytes(t)}
	m.Weights = 2 * 4 * m.Params
	if rec.Optimizer == "" || rec.Optimizer == "adam" {
		m.Optimizer = 3 * 4 * m.Params
	}
	tl, k, hd := c.TgtLen, c.TgtLen+max(0, c.MemLen), c.NHead*c.DHead
	perSeq := c.NLayer*(3*k*hd+3*c.NHead*tl*k+tl*(2*c.DInner+6*c.DModel)) + 2*tl*c.NToken
	m.Activations = rec.BatchSize * perSeq * int64(m.ActBytes)
	return m, nil
}

// actBytes is the bytes of an activation under the task's precision: 2
// under autocast (bf16, fp16, or auto on a GPU), else 4.
func actBytes(t search.Task) int {
	if p := t.Precision; p == "bf16" || p == "fp16" || ((p == "" || p == "auto") && strings.HasPrefix(t.Device, "cuda")) {
		return 2
	}
	return 4
}

// memoryText describes a task's memory estimate in one line.
func memoryText(t search.Task) (string, error) {
	m, err := EstimateMemory(t)
	if err != nil {
		return "", fmt.Errorf("memory estimate: %w", err)
	}
	opt, batch, acts := "SGD's momentum", fmt.Sprint(t.BatchSize), "3 kept tensors per convolution output"
	if t.Semi == trial.SemiUDA {
		batch = fmt.Sprintf("%d (+ %d unlabeled, UDA's student pass)", t.BatchSize, t.BatchSize*cmp.Or(t.UDARatio, trial.DefaultUDARatio))
	}
	switch {
	case t.Kind == "lm":
		opt, acts = "Adam's moments and scratch", "attention, feed-forward and logits per layer and token"
		if rec, err := train.ReadLMRecipe(t.LMConfig); err == nil {
			batch = fmt.Sprintf("%d sequences", rec.BatchSize)
		}
	case t.Optimizer == "rmsprop":
		opt = "RMSProp's buffers"
	}
	if t.Nproc > 1 {
		batch += fmt.Sprintf(" on each of %d processes (data-parallel: this much on each one's device)", t.Nproc)
	}
	return fmt.Sprintf("  memory of a training step at batch %s: about %s: %.1fM parameters (weights and gradients %s, %s %s), activations about %s (%s, %d bytes each: a rough estimate, expect up to 2× it)\n",
		batch, bytesText(m.Total()), float64(m.Params)/1e6, bytesText(m.Weights), opt, bytesText(m.Optimizer), bytesText(m.Activations), acts, m.ActBytes), nil
}

// bytesText formats a byte count in GB or MB.
func bytesText(b int64) string {
	if b >= 1e9 {
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}
