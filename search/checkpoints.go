package search

// Checkpoints keeps the controller checkpoint somewhere besides
// Out/controller.json, so that a search restarted on another machine (a
// new Out) resumes from it. Search.Run still reads and writes the file:
// it calls Restore before reading it (Restore may replace the file with
// the stored copy, or leave it when none is stored) and Saved after every
// save. Every save follows the controller_updated event it holds, so a
// stored copy may be one step behind the journal, never ahead; Run
// computes the missing step again. A nil Checkpoints keeps the file only.
type Checkpoints interface {
	Restore(path string) error
	Saved(path string) error
}
