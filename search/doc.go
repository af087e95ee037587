// Package search learns dropout patterns: a controller proposes a pattern
// for every dropout site of a model, each proposal is trained as a child
// model on a small proxy task, and the child's validation score is the
// reward that trains the controller (Pham & Le, AutoDropout, AAAI 2021).
// Random search over the same space runs through the same machinery and
// is the baseline that says whether the controller is worth its cost.
//
// # Spaces
//
// What is searched is a Space: the decisions (tokens) of one site's pattern
// and how choices for every site become the pattern file a trial trains
// with. ConvNetSpace searches one ConvNet pattern per site, the model's
// batch-norm outputs (tokens size, stride, repeat, rotate, shear_x,
// shear_y, share_c, residual). TransformerSpace searches one Transformer
// pattern per sublayer kind, shared by all layers (tokens size, stride,
// repeat, noise, sigma, per_feature); its sites are regular expressions
// such as `\.ff\.hidden$`, and its trials run `autodropout train --task lm`
// (Task.Kind "lm"). Everything below works the same for both: the search
// never looks inside a pattern.
//
// # Controller
//
// The search drives a Policy: Sample, Update, Save and Steps. The config's
// controller.kind picks it (NewPolicy, LoadPolicy):
//
//   - "lstm" or empty (the default): Controller, a one-layer LSTM of
//     width controller.hidden (default 32).
//   - "transformer": TransformerController, a causal pre-layer-norm
//     Transformer with controller.layers blocks (default 2),
//     controller.heads attention heads (default 2, a divisor of the width)
//     and width controller.width (default 32), with a learned positional
//     embedding per decision. hidden is the LSTM's setting and layers,
//     heads and width the Transformer's; setting one for the other kind
//     is an error.
//
// Both make, for every site in the model's order, one decision per token
// of the space, in Space.Tokens() order. Each token type has its own
// embedding (the input after a decision is the embedding of the value
// chosen) and its own softmax head; a learned start vector is the first
// input. Logits are divided by the temperature and squashed to
// C·tanh(logits/C) as in NAS and ENAS. Sample returns the pattern file,
// the choices, and the summed log-probability and entropy. The two kinds
// share everything below (sampling, REINFORCE, the checkpoint); the
// checkpoint records the kind, and resuming a search under another kind is
// refused.
//
// Sampling draws its uniforms from a Go math/rand generator seeded by the
// search's seed and inverts the softmax's CDF read back from libtorch, so
// the same seed on the same machine proposes the same patterns whatever
// libtorch's thread count.
//
// Parameters and Adam's moments live in Go slices. Each pass builds leaf
// tensors from them, libtorch computes the forward pass and the gradients,
// and Adam (with bias correction and global-norm clipping) runs in Go.
// That is what makes checkpoints exact: controller.json holds the weights,
// both Adam moments, the step count, the baseline and the generator's seed
// and number of draws (replayed on load); it is written to a temporary
// file and renamed. gotch's own optimizer keeps Adam's state in C++ where
// it cannot be saved, which is why we do not use it.
//
// # REINFORCE
//
// Proposals are made in batches of samples_per_update. After every trial
// of a batch ends, Update recomputes each sample's log-probability from
// its stored choices (teacher forcing) and minimizes the batch mean of
//
//	-(reward - baseline)·logprob - entropy_weight·entropy
//
// where baseline is an exponential moving average of rewards (decay
// baseline_decay, started at the first batch's mean) taken before the
// batch. Every sample is credited with its own reward; a failed trial
// counts as failure_reward (default 0), so the controller learns to avoid
// patterns that crash or diverge.
//
// # Trials
//
// A Trial is a pattern file (with the choices behind it), a seed and a
// Task; Trial.Spec turns it into the trial.Spec it trains (package trial
// holds the training, its options and result.json). An Executor runs it:
// LocalExecutor starts an autodropout binary the caller names (the
// command names itself) as a child process built from that Spec
// (`autodropout train --pattern FILE --out DIR ...`, trial.Command), so a
// crashing or leaking child cannot hurt the search and memory returns
// after every trial; InProcess calls trial.Run in the search's own
// process, for a library user without the binary. Parallel trials share
// the cores (--threads = cores/parallel). No trial evaluates a test
// split. A non-zero exit, a timeout, a diverged loss or a missing
// result.json is a failure recorded with its reason and the last 2 KB of
// output. Every trial trains with the same seed (task.seed), so
// rewards compare patterns rather than initializations.
//
// LocalExecutor.Binary must be the autodropout command: a Go program that
// runs a search and names its own executable is not, and started as
// `PROGRAM train …` it would run its search again. Before anything is
// journaled, Run checks the binary (CheckBinary: `BINARY version` must
// answer "autodropout …") and refuses another one, saying to set Binary
// to a built autodropout command (or to run trials with InProcess).
//
// Reward is the validation accuracy for classification. For language
// models, which report a validation perplexity, it is 80/perplexity:
// around 1 for the paper's Penn Treebank models (perplexity 55–60), and a
// relative drop in perplexity gives about the same relative rise in reward.
//
// # Journal and resume
//
// All state is an append-only Journal of Events (run_started,
// trial_proposed, trial_started, trial_finished, trial_failed,
// controller_updated) plus the controller checkpoint. FileJournal writes
// one JSON object per line and syncs after each; a write that fails (a
// full disk) is cut off again, and a torn last line (a process killed
// mid-write) is ignored on reading and cut off on opening.
//
// History is the one reading of a journal: Apply folds events in one at a
// time by its rules (the first proposal, outcome and rung result of a
// trial stand, as does the first update of a controller step), and
// refuses an event that breaks the journal's shape, naming it. The
// search resumes from a History that also checks every proposal against
// its sites and space (the shape and range of the choices, a pattern
// file); the report and the dashboard read journals through a History
// too, so a rule changes in one place. While it runs, a search applies
// each event to its History only after the journal has it.
//
// The journal is the record: each controller update is journaled before
// the checkpoint is saved. Running a Search again on the same folder
// resumes it: temporary files a killed atomic write left are deleted,
// batches the checkpointed controller has already learned from are
// skipped, the current batch is re-sampled from the checkpoint (giving the
// same proposals; journaled proposals win if they differ), finished and
// failed trials are never run again, and proposed but unfinished ones run
// again with their patterns. An update the journal holds but the
// checkpoint lacks is computed again and not journaled twice; a
// checkpoint ahead of the journal (older versions saved first) has its
// missing event journaled, marked recovered; without a checkpoint the
// controller is rebuilt from the journal, which is left as it is. The
// configuration's hash is in run_started; a different configuration is
// refused unless ForceConfig is set (cores, parallel and the timeout are
// left out of the hash), and the method and the controller's kind are
// kept even then.
//
// One Run writes a folder at a time: Run locks Out (flock on Out/.lock)
// before it reads the journal, and a second Run on the folder, in another
// process or this one, returns an error wrapping ErrInUse that names the
// process holding it. The kernel drops the lock when that process dies, so
// a killed search never leaves a stale lock. Each trial's `train` locks
// its own trials/NNNN, which the search's lock does not cover.
//
// Config.Check names the first bad field of a configuration, and
// Task.CheckFiles the first missing file of a task's dataset; the command
// runs both before the first trial. Run prints its plan and a line per
// trial start to Progress. A cancelled context ends Run with an
// *InterruptedError saying what the journal kept; a search whose every
// trial failed returns its summary and an error wrapping ErrAllFailed
// with the most common failure.
//
// At the end, top/NN-REWARD.json holds the best top_k pattern files and
// summary.json the best and mean reward, trial and failure counts, the
// most common failure, the controller updates journaled and the total CPU
// time of the trials (of trials 0 to budget-1).
//
// # Multi-fidelity
//
// With Config.MultiFidelity (`"multi_fidelity": {"rungs": [1, 3, 9],
// "reduction": 3}`, rungs in epochs, the last = task.epochs; for a
// language model in steps, the last = task.steps) every batch of
// samples_per_update trials runs successive halving: all trials train to
// rung 0 (`autodropout train --stop-epoch 1 --save-state ...`; lm:
// `--stop-step`), the
// best max(1, ⌊n/reduction⌋) of the n trials that entered the rung (ties
// to the lower id; failed trials never) continue from their state
// (`--resume-state`) to the next rung, and so on to the last rung. The
// learning rate follows the full schedule at every rung, and
// a continued training equals an unbroken one bit for bit (see
// train.State), so a trial that reaches the last rung has exactly the
// result it would have had without stops. Synchronous halving inside a
// batch keeps the search deterministic for any parallel and across kills;
// the price is that workers idle at rung boundaries (CPU seconds, what
// the cost comparison counts, are not spent while idle).
//
// The journal records rung_finished for every rung result (rung, epochs,
// metrics, that rung's cost), trial_promoted for every promotion, and one
// final event per trial: trial_finished at the last rung, trial_failed,
// or trial_stopped (at the end of the batch) carrying the controller's
// reward for the stopped trial, StoppedReward: its rung score plus the
// mean gain from that rung to the last of the trials (this batch and
// earlier) that reached the end. Final events carry the trial's total
// cost over its rungs. A resume never reruns a journaled rung, reruns an
// interrupted one from the previous rung's state, and recomputes the same
// promotions from the journaled scores. Rung states live in the trial
// folders (rung-R.state) and are deleted when the batch has ended; an
// executor that keeps them elsewhere (a StateStore, such as natsrun's,
// whose workers pass states through the server's object store) is asked
// to delete them then too. A LocalExecutor that finds a rung's previous
// state gone (a search resumed on another machine from its journal alone)
// trains that rung from the start instead: resuming is exact, so the
// result is the same, at the cost of the epochs trained again.
//
// Only trials trained to the last rung count for best_reward, mean_reward
// and top/; summary.json adds full_fidelity, stopped and stopped_per_rung,
// and its CPU total includes every rung. Language-model tasks do not run
// rungs yet (the config check says so).
package search
