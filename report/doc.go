// Package report turns the files of search and training runs into a
// Markdown report with PNG figures (`autodropout report DIR`). Every number
// in it is computed from the run's own files, so a reader can check it
// against them.
//
// # What it reads
//
// Load walks DIR at most MaxDepth (4) folders deep and skips everything
// under a trials/ folder (a search's children, whose result.json files are
// trials, not trainings). A folder with journal.jsonl is a search run: the
// journal (read with search.ReadJournal, which ignores a torn last line,
// and applied to a search.History, which the search resumes by too; event
// types this version does not know are skipped) gives every trial's
// proposal entropy, outcome, reward, cost and failure
// reason and every controller update; summary.json, when present, fills
// the method and budget if run_started lacks them and is checked against
// the journal (a disagreement becomes a note); top/NN-REWARD.json are the
// best pattern files. A ConvNet pattern file (autodropout.ReadPatterns) gets
// a mask picture; a Transformer search's list of {"sites", "pattern"} a
// table of each entry's share of a segment's tokens and noise variance, at
// the tgt_len of the task's lm_config (read as the search named it: from
// the working folder, or built in for the repository's recipes); any
// other valid JSON, or a list whose recipe cannot be read, is printed as
// text. A proposal's pattern field in the journal is read for its dropped
// share: for a ConvNet pattern file (autodropout.ParsePatterns), the mean
// over its sites of the share of the site's map it drops, at the maps
// search.SiteMaps measures for the search's model and data; for a
// Transformer list, the mean over its entries of the share of a segment's
// tokens they drop; anything else there is ignored.
//
// A folder with result.json is a training run (`autodropout train --out`).
// Runs are grouped by label: the folder above a seed-N folder (so
// final/dropout/seed-3 is label dropout, seed 3), the result's regularizer
// for a lone run in DIR itself, and the path below DIR otherwise. A run's
// CPU time is result.json's cpu_s; without it, wall_s × threads, an upper
// bound that the report marks with *. Classification runs report
// accuracies, language models (val_ppl/test_ppl) perplexities. Runs under a
// grid/ folder (an experiment's baseline grid) and under a noise/ folder
// (its reward-noise stage) are grouped apart from the final comparison,
// each area on its own, so "none" at the trials' settings is not merged
// with "none" in the final runs.
//
// # What it computes
//
// Trials are ordered by journal id; a trial's running best is the best
// reward of the finished trials with an id up to its own (failures and
// unfinished trials leave it unchanged). The first outcome journaled for a
// trial stands (search.History's rule). A controller update with step k learned
// from the trials proposed at step k-1; figures place it at the last of
// them. Group statistics are the mean, the sample standard deviation
// (divisor n-1) and the range over seeds (Stat).
//
// Costs: a search's CPU time is the sum of its trials' journaled cpu_s
// (user + system time of each child); its elapsed wall time runs from the
// journal's first event to its last (controller work and any pause before
// a resume included). The baseline training is the "none" group, else the
// first group in LabelOrder; CostRatios divides a search's CPU time by the
// baseline's mean CPU time and its elapsed time by the baseline's mean wall
// time: how many baseline trainings the search cost.
//
// # What it writes
//
// Write puts report.md (or Options.Out) and, next to it, figures that
// draw search families rather than single searches: a family is one
// search over its seeds (search-rl-seed1, search-rl-seed2 … make
// search-rl), drawn as the median over its seeds (a line) with the range
// from the lowest to the highest seed (a band), in one colour that is the
// family's in every figure (blue and orange go to the first RL family
// with a random twin and its twin); RL searches are solid, random ones
// dashed, on the same axes. Ticks are round numbers with thousands
// separators and no needless decimals.
//
//   - rewards.png: the best reward so far by trial id, one panel for the
//     full-fidelity families and one for the multi-fidelity ones (shared
//     axes), failed trials as crosses on the bottom edge;
//   - cost.png: the same against the CPU-seconds of the trials (a seed
//     that has ended keeps its final best);
//   - controller.png: the entropy of every proposal by trial (a random
//     search's uniform proposals, the maximum, dashed) above the batch
//     mean reward at each controller update;
//   - dropped.png: every finished trial's reward against its dropped
//     share, one colour per family (open rings for random searches);
//   - comparison.png: the final comparison, each label's mean test score
//     with its 95% t-interval, and beside it each label minus the best
//     tuned baseline (by validation score) paired by seed, with the
//     interval of the difference (green above zero, red below);
//   - curves.png: learning curves of runs trained with train --curve
//     (accuracy per epoch) or train --task lm --curve-every N (perplexity
//     every N steps, on a log scale);
//   - masks-SEARCH.png: the masks of each search's best ConvNet pattern
//     file, one row per site labelled with its name and dropped share, one
//     tile per channel of a 1×8×32×32 activation by default (pattern files
//     hold no map sizes; Options changes the shape and libtorch's seed).
//
// report.md has a section per subject: the searches (a table, RL against
// random — best and mean reward, best after equal numbers of trials, the
// trial at which RL first matched random's best; then each RL family
// against its random twin paired by search seed, over the seeds where both
// spent their budget, with a 95% t-interval of the difference in best and
// in mean reward — the search families' best score against CPU-seconds,
// and every trial's reward and running best), the controller (entropy at the first and last batch
// against the uniform maximum, baseline and batch mean reward, and a rule
// of thumb reading: collapsing when the last batch's entropy is under a
// tenth of the first's, learning when the later half of the updates has a
// higher batch mean reward than the earlier half), what the reward follows
// (Spearman's rank correlation of dropped share and reward per search, the
// median share and the best trial's), the best patterns, the
// final trainings (mean ± std, range, n, difference from the baseline),
// the reward noise (a noise/ group "<search>-top<k>" is the k-th best
// finished trial of that search retrained with other seeds: its journal
// reward against its mean at those seeds, and the standard deviation
// within groups pooled over the retrained seeds, against the spread of
// the search's rewards; and each baseline's mean minus none's at the
// trials' settings beside the same difference in the final runs) and the
// cost (per search and per trial, the ratios to one baseline training,
// and every failure with its reason). Files are written atomically.
package report
