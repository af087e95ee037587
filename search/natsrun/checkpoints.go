package natsrun

import (
	"context"
	"errors"
	"fmt"
	"github.com/autodropout/autodropout/internal/atomicfile"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Checkpoints is a search.Checkpoints in the object store: the run's
// controller checkpoint lives at RUN/controller.json of the bucket
// autodropout_checkpoints.
type Checkpoints struct {
	obs  jetstream.ObjectStore
	name string
}

// checkpointTimeout bounds one copy to or from the server.
var checkpointTimeout = time.Minute

// OpenCheckpoints opens the checkpoint store of run, creating the bucket
// if needed.
func OpenCheckpoints(ctx context.Context, js jetstream.JetStream, run string) (*Checkpoints, error) {
	if err := CheckRun(run); err != nil {
		return nil, err
	}
	obs, err := openBucket(ctx, js, CheckpointBucket, "autodropout controller checkpoints, RUN/controller.json")
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return &Checkpoints{obs: obs, name: run + "/controller.json"}, nil
}

// Restore writes the stored checkpoint to path. With none stored it
// leaves path as it is. The store wins over a file at path: the run's
// journal and checkpoint live on the server, and a stored checkpoint is
// never ahead of the journal (search.Run journals an update before it
// saves it) and at most one step behind, which Run computes again.
func (c *Checkpoints) Restore(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	b, err := c.obs.GetBytes(ctx, c.name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore checkpoint %s: %w", c.name, err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("restore checkpoint %s: %w", c.name, err)
	}
	return nil
}

// Saved stores the checkpoint just written at path.
func (c *Checkpoints) Saved(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	if _, err := c.obs.PutBytes(ctx, c.name, b); err != nil {
		return fmt.Errorf("store checkpoint %s: %w", c.name, err)
	}
	return nil
}
