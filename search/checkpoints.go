package search

// Checkpoints keeps the controller checkpoint somewhere besides
// Out/controller.json, so that a search restarted on another machine (a
// new Out) resumes from it. Search.Run still reads and writes the file:
// it calls Restore before reading it (Restore may replace the file with
// the stored copy, or leave it when none is stored) and Saved after every
// save, before the controller_updated event is journaled, as with the
// file alone. A nil Checkpoints keeps the file only.
type Checkpoints interface {
	Restore(path string) error
	Saved(path string) error
}
