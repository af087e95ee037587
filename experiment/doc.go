// Package experiment runs the comparisons autodropout exists for: searches
// for dropout patterns (the controller and random search, optionally over
// several search seeds and in restricted subspaces), a grid that tunes the
// hand-designed baselines on validation accuracy, an optional reward-noise
// stage (the searches' best patterns and the baselines retrained at the
// trials' own settings with other seeds), the final training of a model
// with every regularizer over several seeds, and the report.
//
// An experiment without a search configuration compares the baselines
// and given pattern files (Config.Patterns) only; one whose final is
// semi-supervised (UDA) may add the supervised row on its labeled images
// alone (Config.Supervised).
//
// An experiment is a JSON file (Config; configs/demo.json,
// configs/paper/*, configs/study/*). Its file paths (the search
// configuration, subspaces' spaces, variants' searches) are relative to
// the working directory, as the shipped files name configs/… from the
// repository root; CheckFiles names the field whose file is missing.
// ReadConfig checks the rest, WritePlan
// prints what it will run and what that costs in FLOPs (EstimateTask
// counts a training's multiply-accumulates from the model's own layer
// tables), and Run runs it. Every training is a child process of the
// autodropout binary, so one that crashes is a recorded failure; a
// training whose folder has a result.json is not repeated and searches
// resume from their journals, so Run resumes an interrupted experiment.
// A training's folder records its trial.Spec (SpecFile); a finished
// training whose Spec differs from the configuration's now is refused,
// naming the options that differ, rather than counted as done.
// Run locks its folder while it runs (a second experiment on it is refused,
// naming the process that holds it; the lock dies with its process) and
// refuses a binary that does not answer as autodropout (search.CheckBinary)
// before anything runs.
// Its progress lines say how much of the plan's FLOPs the output folder
// holds (finished trainings, and each search's share of its budget) and
// how long the rest should take at the pace of the running process.
//
// The command `autodropout experiment` is a thin shell over this package.
package experiment
