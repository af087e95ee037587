// Package natsrun runs a search's trials on workers anywhere, through a
// NATS JetStream server, and keeps the search's journal and controller
// checkpoint there, so that neither a worker nor the controller is tied
// to one machine.
//
// # Why it is not the default
//
// A search on one machine needs no server: search.LocalExecutor starts
// every trial as a child process, and the journal and checkpoint are
// files in the output folder. That stays the default because it has no
// moving parts to install, secure or monitor, and a single machine gains
// nothing from a queue. This package is for when trials should run on
// several machines: one `nats-server -js` and `autodropout worker`
// processes wherever there are cores, and the controller
// (`autodropout search --nats URL`) anywhere that reaches the server.
//
// # Streams and buckets
//
// Every name carries the run (a search: one journal, one budget), so one
// server serves many runs. RUN is letters, digits, '-' and '_'.
//
//	AUTODROPOUT_TRIALS   work queue, subjects autodropout.trials.RUN.ID
//	                     (a multi-fidelity rung: RUN.ID.RUNG): one message
//	                     per trial or rung, the whole search.Trial as
//	                     JSON; consumed by the durable pull consumer
//	                     workers-RUN (explicit ack)
//	AUTODROPOUT_RESULTS  limits retention, subjects autodropout.results.RUN.ID
//	                     (a rung: RUN.ID.RUNG): every result any worker
//	                     published, duplicates included (they are the
//	                     record of what happened)
//	AUTODROPOUT_JOURNAL  limits retention, subjects autodropout.journal.RUN:
//	                     the search.Journal, one event per message
//	autodropout_checkpoints
//	                     object store; RUN/controller.json is the latest
//	                     controller checkpoint
//	autodropout_rung_states
//	                     object store; RUN/ID/rung-R.SEQ-DELIVERY.state is
//	                     the state a worker saved after rung R of trial ID
//	                     (SEQ, DELIVERY: the trial message's queue sequence
//	                     and delivery count)
//
// A stream or bucket that exists already is used as it is, so an operator
// can create them beforehand with other limits or replicas on a cluster.
//
// # Workers
//
// A Worker takes one message at a time per free slot (Fetch of one, so no
// worker holds trials it is not running), runs it with
// search.LocalExecutor (a child `autodropout train` process built from
// the trial's trial.Spec, as in a search on one machine), publishes
// the result and then acks. While the child runs, the worker sends
// InProgress every quarter of the consumer's ack wait (30 s by default),
// so a trial may take hours; a worker that dies stops the heartbeats and
// the server hands the trial to another worker one ack wait later. A
// worker asked to stop (SIGINT, SIGTERM) kills its children and naks
// their messages so they are redelivered at once. Before running a trial
// the worker looks for a result already stored for it (its previous
// holder died between publishing and acking) and then only acks; a trial
// delivered more than MaxDeliveries times without a result becomes a
// failed result rather than going round forever. A worker that cannot
// reach the server retries with exponential backoff and says so.
//
// Patterns, configuration and data paths travel in the message; data,
// libtorch and the binary must be on the worker's machine, and relative
// paths in the task (data_dir, lm_config) are taken from the worker's
// working directory. Trial folders are where the controller put them
// (shared storage), or under the worker's --trials folder.
//
// # Results and duplicates
//
// The invariant everything rests on: a trial message leaves the work
// queue only after its result is stored. The controller's Executor.Run
// therefore asks, in this order, whether the trial is queued (then it only
// waits) and whether a result is stored (then it returns it); only a trial
// that is neither is published. A controller that restarts thus neither
// loses a trial that finished while it was down nor runs it again.
//
// The first result stored for a trial wins. A later one (a worker presumed
// dead that finishes late, a redelivery after the first result) is logged
// as a duplicate, counted by Executor.Duplicates, and never returned, so
// the journal gets one trial_finished per trial. Results carry a message
// id (run, trial, queue sequence, delivery) so that a worker retrying a
// publish does not store it twice.
//
// # Multi-fidelity rungs
//
// With multi_fidelity, search.Search asks for every rung of a trial
// separately (search.Trial.Rung, StopEpoch, ResumeState, SaveState), and
// the Executor queues each as its own (trial, rung), with the rung in the
// message and in its result; a message without a rung is a whole trial,
// as before rungs existed. Rungs are answered and deduplicated per
// (trial, rung) by the rules above, so the rungs of a trial never answer
// each other.
//
// The state paths in the message are the controller's and mean nothing
// on a worker. A worker running rung R saves to rung-R.state in its trial
// folder and, once the training succeeded, stores that file in
// autodropout_rung_states under a name unique to this delivery, then
// publishes the result naming the object, then acks: the state is stored
// before anything can promote the trial. For rung R > 0 the worker first
// looks up the first result of rung R-1 (the one the journal has) and
// fetches the object it names into rung-(R-1).state, so the rung resumes
// from exactly the training that earned the promotion, even if a
// duplicate run of rung R-1 stored another state. It deletes both local
// files afterwards: states are large, and the server keeps them. States
// travel in the object store (chunked), not in messages, because they
// may be far larger than a message.
//
// A worker lost mid-rung stops its heartbeats; the rung is redelivered
// and trained again from the previous rung's state, which stays on the
// server until its batch ends. A worker that finds the rung answered
// already stores no state. A rung whose previous state is missing (no
// result, a failed one, or an object deleted) fails with that reason; it
// is never trained from scratch under a resumed rung's name. When every
// trial of a batch has ended, the search calls
// Executor.RemoveRungStates (search.StateStore), which deletes the
// batch's objects; a late duplicate storing a state after that leaves it
// in the bucket until the bucket is purged. Workers of a multi-fidelity
// run must be of this version or later: an older worker would run a rung
// as a whole trial and answer on the wrong subject.
//
// # One controller per run
//
// A run's controller claims it in the key-value bucket
//
//	autodropout_controllers
//	                     key RUN: the controller (host, process id,
//	                     command, since); TTL DefaultControllerTTL
//
// (LockRun; Journal.Lock, and the journal's first append, take it). The
// claim is refreshed every third of the bucket's TTL and deleted on
// Journal.Close. A second controller is refused with a *RunHeldError
// naming the holder and when its claim lapses; one killed with SIGKILL
// stops refreshing, and the server drops its claim one TTL later. A
// controller whose claim lapsed and was taken by another loses it: its
// journal refuses every later append.
//
// A worker locks each trial folder it takes (the file .worker.lock; the
// train it starts locks .lock, see internal/runlock) and waits while
// another process holds it: on shared storage, two workers never train in
// one folder at once, even when one of them was presumed dead.
//
// # Journal and checkpoint
//
// Journal appends with an expected last sequence for the run's subject:
// appends are ordered and a second controller writing the same run is
// refused instead of interleaving its events, even one that bypassed the
// claim. An append whose
// acknowledgement was lost is retried and recognised by its message id.
// Checkpoints copies controller.json to the object store after every
// save and back before the search reads it, so `autodropout search` can
// be restarted with an empty --out on another machine and resume.
package natsrun
